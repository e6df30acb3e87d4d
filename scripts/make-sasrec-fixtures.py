#!/usr/bin/env python3
"""Writes small SASRec checkpoints and expected outputs for RecKit's tests, with numpy only.

For each block layout (original, preLN, postLN) it draws random weights, runs a reference SASRec
forward pass in float64 on a fixed batch (right padding, left padding, a length-1 sequence, an
all-padding row), and writes Tests/RecNNTests/Fixtures/sasrec_<layout>.safetensors holding the
weights under RecKit's tensor names plus `input.sequences` (ids as F32) and `expected.states`.

Tensor names (PyTorch state-dict style; vectors may be [n] or [1, n]):
  item_embedding.weight [items+1, d] (row 0 = padding), position_embedding.weight [L, d],
  blocks.{i}.ln1.{weight,bias}, blocks.{i}.attn.{q,k,v,out}.{weight [d, d], bias} (no `out` for
  the original layout: the authors' attention has no output projection),
  blocks.{i}.ln2.{weight,bias}, blocks.{i}.ffn.{w1,w2}.{weight [d, d], bias},
  final_norm.{weight,bias} (absent for postLN).
Linear weights are [out, in] and compute x @ W.T + b, as torch.nn.Linear.
"""
import json, os, struct, sys
import numpy as np

ITEMS, L, D, H, BLOCKS = 7, 5, 8, 2, 2
SEQS = [[3, 1, 4, 0, 0], [0, 0, 2, 5, 7], [6, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 2, 3, 4, 5]]


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes()); off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)


def layer_norm(x, g, b):
    m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-5) * g + b


def linear(p, name, x):
    return x @ p[name + ".weight"].T + p[name + ".bias"]


def attention(p, name, q_in, k_in, pad):
    B = len(SEQS); dh = D // H
    q, k, v = (linear(p, name + s, t).reshape(B, L, H, dh) for s, t in ((".q", q_in), (".k", k_in), (".v", k_in)))
    out = np.zeros((B, L, H, dh))
    for b in range(B):
        for h in range(H):
            s = q[b, :, h] @ k[b, :, h].T / np.sqrt(dh)
            for i in range(L):
                for j in range(L):
                    if j > i or pad[b, j]: s[i, j] = -np.inf
            for i in range(L):
                if np.all(np.isinf(s[i])): continue
                e = np.exp(s[i] - s[i].max()); out[b, i, h] = (e / e.sum()) @ v[b, :, h]
    out = out.reshape(B, L, D)
    return linear(p, name + ".out", out) if name + ".out.weight" in p else out


def ffn(p, name, x):
    return linear(p, name + ".w2", np.maximum(linear(p, name + ".w1", x), 0))


def forward(p, layout):
    ids = np.array(SEQS); pad = ids == 0
    scale = np.sqrt(D) if layout == "original" else 1.0
    x = p["item_embedding.weight"][ids] * scale + p["position_embedding.weight"][None]
    x[pad] = 0
    for i in range(BLOCKS):
        n = f"blocks.{i}"
        if layout == "original":
            q = layer_norm(x, p[n + ".ln1.weight"], p[n + ".ln1.bias"])
            h = q + attention(p, n + ".attn", q, x, pad)
            u = layer_norm(h, p[n + ".ln2.weight"], p[n + ".ln2.bias"])
            x = u + ffn(p, n + ".ffn", u)
        elif layout == "preLN":
            xn = layer_norm(x, p[n + ".ln1.weight"], p[n + ".ln1.bias"])
            h = x + attention(p, n + ".attn", xn, xn, pad)
            x = h + ffn(p, n + ".ffn", layer_norm(h, p[n + ".ln2.weight"], p[n + ".ln2.bias"]))
        else:
            h = layer_norm(x + attention(p, n + ".attn", x, x, pad), p[n + ".ln1.weight"], p[n + ".ln1.bias"])
            x = layer_norm(h + ffn(p, n + ".ffn", h), p[n + ".ln2.weight"], p[n + ".ln2.bias"])
        x[pad] = 0
    if layout != "postLN":
        x = layer_norm(x, p["final_norm.weight"], p["final_norm.bias"])
    last = [max([j for j in range(L) if s[j] != 0], default=L - 1) for s in SEQS]
    return np.stack([x[b, last[b]] for b in range(len(SEQS))])


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "RecNNTests", "Fixtures")
    rng = np.random.default_rng(2026)
    for layout in ("original", "preLN", "postLN"):
        p = {"item_embedding.weight": rng.normal(0, 0.5, (ITEMS + 1, D)), "position_embedding.weight": rng.normal(0, 0.5, (L, D))}
        p["item_embedding.weight"][0] = 0
        for i in range(BLOCKS):
            n = f"blocks.{i}"
            for ln in ("ln1", "ln2"):
                p[f"{n}.{ln}.weight"] = 1 + 0.1 * rng.normal(size=D); p[f"{n}.{ln}.bias"] = 0.1 * rng.normal(size=D)
            for lin in ("attn.q", "attn.k", "attn.v", "attn.out", "ffn.w1", "ffn.w2"):
                p[f"{n}.{lin}.weight"] = rng.uniform(-0.35, 0.35, (D, D)); p[f"{n}.{lin}.bias"] = rng.uniform(-0.35, 0.35, D)
        if layout == "original":
            # The authors' attention has no output projection (drawn anyway, to keep the
            # random stream and so the other layouts' fixtures unchanged).
            for i in range(BLOCKS):
                del p[f"blocks.{i}.attn.out.weight"], p[f"blocks.{i}.attn.out.bias"]
        if layout != "postLN":
            p["final_norm.weight"] = 1 + 0.1 * rng.normal(size=D); p["final_norm.bias"] = 0.1 * rng.normal(size=D)
        # Round to float32 first so that both sides start from the same weights.
        p = {k: v.astype(np.float32).astype(np.float64) for k, v in p.items()}
        states = forward(p, layout)
        tensors = dict(p)
        tensors["input.sequences"] = np.array(SEQS, dtype=np.float64)
        tensors["expected.states"] = states
        write_safetensors(os.path.join(out_dir, f"sasrec_{layout}.safetensors"), tensors)
        print(f"wrote sasrec_{layout}.safetensors", file=sys.stderr)


if __name__ == "__main__":
    main()
