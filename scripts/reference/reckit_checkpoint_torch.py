#!/usr/bin/env python3
"""Loads a RecKit checkpoint (`reckit train`'s best.safetensors or last.safetensors) into the
independent PyTorch reference model of sasrec_rl_torch.py and scores histories with it.

The checkpoint's tensors are PyTorch's shapes (weights out × in, biases and LayerNorm gains 1-D),
so the state dict is loaded with strict=True after renaming RecKit's tensor names to the
reference model's. Histories are CSV rows of item ids as the model numbers them (1...N, 0 for
padding, RecKit's `SequentialRecommender.scores` input).

With --scores (a CSV of B × N scores that RecKit computed for the same histories), prints the
largest absolute difference and exits 1 when it exceeds --tolerance (default 1e-5); without it,
writes the reference's scores to --out.

Usage: python3 scripts/reference/reckit_checkpoint_torch.py --checkpoint OUT/best.safetensors \
           --histories H.csv [--head supervised|q] (--scores S.csv | --out S.csv)
Supports RecKit's SASRec with the authors' layout (`--layout original`, the default); other
layouts and GRU4Rec are refused (exit 2).
"""
import argparse, json, os, struct, sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sasrec_rl_torch import Net  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, e in header.items():
        if e["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {name} is {e['dtype']}, expected F32")
        a, b = e["data_offsets"]
        tensors[name] = np.frombuffer(blob[base + a:base + b], dtype="<f4").reshape(e["shape"]).copy()
    return tensors, meta


def reference_state_dict(tensors, blocks, net="net0"):
    """RecKit's tensor names -> the reference Net's (shapes unchanged)."""
    rename = {"item_embedding.weight": "emb.weight", "position_embedding.weight": "pos",
              "final_norm.weight": "ln.weight", "final_norm.bias": "ln.bias",
              "ce_head.weight": "ce.weight", "ce_head.bias": "ce.bias",
              "q_head.weight": "q.weight", "q_head.bias": "q.bias"}
    layer = {"attn.q": "wq", "attn.k": "wk", "attn.v": "wv", "attn.out": "wo",
             "ffn.w1": "f1", "ffn.w2": "f2", "ln1": "ln1", "ln2": "ln2"}
    for i in range(blocks):
        for ours, theirs in layer.items():
            for p in ("weight", "bias"):
                rename[f"blocks.{i}.{ours}.{p}"] = f"blocks.{i}.{theirs}.{p}"
    state = {}
    prefix = net + "."
    for name, value in tensors.items():
        if not name.startswith(prefix):
            continue
        key = name[len(prefix):]
        if key not in rename:
            raise SystemExit(f"tensor {name} has no counterpart in the reference model")
        state[rename[key]] = torch.from_numpy(value)
    return state


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--histories", required=True)
    ap.add_argument("--head", choices=["supervised", "q"], default="supervised")
    ap.add_argument("--scores")
    ap.add_argument("--out")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    a = ap.parse_args()
    tensors, meta = read_safetensors(a.checkpoint)
    c = json.loads(meta["config"])
    if c.get("encoder", "sasrec") != "sasrec" or c["layout"] != "original":
        print(f"{a.checkpoint}: the reference model is SASRec with the original layout; this checkpoint is "
              f"{c.get('encoder', 'sasrec')} / {c['layout']}", file=sys.stderr)
        sys.exit(2)
    has_q = c["algorithm"] != "ce"
    model = Net(c["items"], c["length"], c["dim"], c["heads"], c["blocks"], c["dropout"], has_q,
                out_proj=bool(c.get("attentionOutputProjection", True)),
                ffn_out_dropout=bool(c.get("ffnOutputDropout", False)))
    model.load_state_dict(reference_state_dict(tensors, c["blocks"]), strict=True)
    model.eval()
    histories = np.loadtxt(a.histories, delimiter=",", dtype=np.int64, ndmin=2)
    if histories.shape[1] != c["length"]:
        raise SystemExit(f"{a.histories}: rows of {histories.shape[1]} items, the model's state length is {c['length']}")
    with torch.no_grad():
        s = model.state(torch.from_numpy(histories))
        head = model.q if a.head == "q" else model.ce
        if head is None:
            raise SystemExit(f"{a.checkpoint}: the model ({c['algorithm']}) has no Q head")
        scores = head(s).numpy()
    if a.scores:
        ours = np.loadtxt(a.scores, delimiter=",", dtype=np.float64, ndmin=2)
        if ours.shape != scores.shape:
            raise SystemExit(f"{a.scores}: shape {ours.shape}, the reference gives {scores.shape}")
        diff = float(np.max(np.abs(ours - scores.astype(np.float64))))
        scale = float(np.max(np.abs(scores)))
        print(json.dumps({"histories": int(histories.shape[0]), "items": int(scores.shape[1]),
                          "max_abs_diff": diff, "max_abs_score": scale, "tolerance": a.tolerance}))
        sys.exit(0 if diff <= a.tolerance else 1)
    np.savetxt(a.out or sys.stdout, scores, delimiter=",", fmt="%.9g")


if __name__ == "__main__":
    main()
