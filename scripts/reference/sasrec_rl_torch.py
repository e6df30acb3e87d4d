#!/usr/bin/env python3
"""An independent PyTorch implementation of the README's MovieLens-100K protocol (CE, SQN, SNQN,
SA2C on a SASRec encoder), written from the papers (Xin et al. 2020, 2022) and the description of
the authors' TensorFlow code, with autograd instead of hand-written backward passes.

It exists to check RecKit's trainer against a second implementation on exactly the same users:
it reads the split that `reckit train` wrote (OUT/split.csv) and prints the test metrics of the
epoch with the best validation purchase NDCG@10, plus the popularity baseline as a pipeline check.
It is not part of the tests (it needs torch, which RecKit does not depend on).

Usage: python3 scripts/reference/sasrec_rl_torch.py --inter data/ml-100k/ml-100k.inter \
           --split data/runs/ml-100k/ce-seed1/split.csv --algo sa2c --seed 1 [--json OUT.json]
"""
import argparse, csv, json, math, random, sys, time
from collections import Counter, defaultdict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load(inter, split_path, min_item=5, min_session=3):
    rows = []
    with open(inter) as f:
        next(f)
        for line in f:
            u, i, r, t = line.rstrip("\n").split("\t")
            ev = 1 if float(r) == 5 else 0          # 5 -> purchase, 1-4 -> click
            rows.append((int(u), int(i), float(t), ev))
    ic = Counter(i for _, i, _, _ in rows)
    rows = [r for r in rows if ic[r[1]] >= min_item]
    uc = Counter(u for u, _, _, _ in rows)
    rows = [r for r in rows if uc[r[0]] >= min_session]
    items = sorted({i for _, i, _, _ in rows})
    dense = {i: k + 1 for k, i in enumerate(items)}
    sessions = defaultdict(list)
    for u, i, t, ev in rows:
        sessions[u].append((t, dense[i], ev))
    for u in sessions:
        sessions[u].sort()
    split = {}
    with open(split_path) as f:
        rd = csv.reader(f)
        next(rd)
        for sid, name in rd:
            split[int(sid)] = name
    assert set(split) == set(sessions), "split file and data disagree on the users"
    parts = {"train": [], "valid": [], "test": []}
    for u in sorted(sessions):
        parts[split[u]].append([(i, ev) for _, i, ev in sessions[u]])
    return len(items), parts


def transitions(sessions, L, rewards=(0.2, 1.0)):
    S, A, R, S2, D = [], [], [], [], []
    for s in sessions:
        for e in range(len(s)):
            prev = [i for i, _ in s[max(0, e - L):e]]
            nxt = [i for i, _ in s[max(0, e + 1 - L):e + 1]]
            S.append(prev + [0] * (L - len(prev)))
            S2.append(nxt + [0] * (L - len(nxt)))
            A.append(s[e][0]); R.append(rewards[s[e][1]]); D.append(e == len(s) - 1)
    return (torch.tensor(S), torch.tensor(A), torch.tensor(R), torch.tensor(S2), torch.tensor(D, dtype=torch.float32))


class Block(nn.Module):
    """The authors' layout: q = LN(x); h = q + MHA(q, x); u = LN(h); y = u + FFN(u)."""
    def __init__(self, d, heads, p, out_proj=False, ffn_out_dropout=True):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.wq, self.wk, self.wv = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.wo = nn.Linear(d, d) if out_proj else None
        self.f1, self.f2 = nn.Linear(d, d), nn.Linear(d, d)
        self.heads, self.p, self.p_out = heads, p, (p if ffn_out_dropout else 0.0)

    def forward(self, x, pad):
        B, L, d = x.shape
        h = self.heads
        q = self.ln1(x)
        Q = self.wq(q).view(B, L, h, d // h).transpose(1, 2)
        K = self.wk(x).view(B, L, h, d // h).transpose(1, 2)
        V = self.wv(x).view(B, L, h, d // h).transpose(1, 2)
        s = Q @ K.transpose(-1, -2) / math.sqrt(d // h)
        causal = torch.ones(L, L, dtype=torch.bool).triu(1)
        s = s.masked_fill(causal | pad[:, None, None, :], -1e9)
        a = F.dropout(torch.softmax(s, -1), self.p, self.training)
        o = (a @ V).transpose(1, 2).reshape(B, L, d)
        if self.wo is not None:
            o = self.wo(o)
        u = self.ln2(q + o)
        y = u + F.dropout(self.f2(F.dropout(F.relu(self.f1(u)), self.p, self.training)), self.p_out, self.training)
        return y.masked_fill(pad[:, :, None], 0)


class Net(nn.Module):
    def __init__(self, n, L, d, heads, blocks, p, q_head, out_proj=False, ffn_out_dropout=True):
        super().__init__()
        self.emb = nn.Embedding(n + 1, d, padding_idx=0)
        self.pos = nn.Parameter(torch.empty(L, d))
        self.blocks = nn.ModuleList(Block(d, heads, p, out_proj, ffn_out_dropout) for _ in range(blocks))
        self.ln = nn.LayerNorm(d)
        self.ce = nn.Linear(d, n)
        self.q = nn.Linear(d, n) if q_head else None
        self.p, self.d = p, d
        nn.init.normal_(self.emb.weight, 0, 0.01); nn.init.normal_(self.pos, 0, 0.01)
        with torch.no_grad():
            self.emb.weight[0].zero_()
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight); nn.init.zeros_(m.bias)

    def state(self, s):
        pad = s == 0
        x = self.emb(s) * math.sqrt(self.d) + self.pos
        x = F.dropout(x, self.p, self.training).masked_fill(pad[:, :, None], 0)
        for b in self.blocks:
            x = b(x, pad)
        x = self.ln(x)
        last = ((~pad).long().cumsum(1).argmax(1))            # last real position (0 if empty)
        last = torch.where(pad.all(1), torch.full_like(last, s.shape[1] - 1), last)
        return x[torch.arange(s.shape[0]), last]


def metrics(score_fn, data, cut=10):
    S, A, _, _, _ = data["T"]
    ev = data["events"]
    out = {}
    ranks = []
    with torch.no_grad():
        for b in range(0, len(A), 1024):
            sc = score_fn(S[b:b + 1024])
            tgt = sc.gather(1, (A[b:b + 1024] - 1)[:, None])
            ranks.append((sc > tgt).sum(1))
    ranks = torch.cat(ranks).numpy()
    for name, e in (("purchase", 1), ("click", 0)):
        r = ranks[ev == e]
        hit = r < cut
        out[f"{name}_hr@{cut}"] = float(hit.mean())
        out[f"{name}_ndcg@{cut}"] = float((hit / np.log2(r + 2)).mean())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inter", required=True); ap.add_argument("--split", required=True)
    ap.add_argument("--algo", choices=["ce", "sqn", "snqn", "sa2c"], default="ce")
    ap.add_argument("--seed", type=int, default=1); ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.005); ap.add_argument("--lr2", type=float, default=0.001)
    ap.add_argument("--batch", type=int, default=256); ap.add_argument("--neg", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=-1, help="steps before SA2C's second phase (-1: min(15000, half the steps))")
    ap.add_argument("--gamma", type=float, default=0.5); ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2); ap.add_argument("--json")
    ap.add_argument("--reckit-arch", action="store_true",
                    help="RecKit's block: an attention output projection, no dropout after the FFN")
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(a.seed); random.seed(a.seed); np.random.seed(a.seed)
    n, parts = load(a.inter, a.split)
    L, d = 10, 64
    data = {}
    for k, ss in parts.items():
        data[k] = {"T": transitions(ss, L), "events": np.array([ev for s in ss for _, ev in s])}
    # Pipeline check: popularity by training counts, ties by lower item id.
    cnt = torch.zeros(n, dtype=torch.float64)
    for s in parts["train"]:
        for i, _ in s:
            cnt[i - 1] += 1
    pop = cnt - torch.arange(n, dtype=torch.float64) * 1e-6
    print("popularity test", metrics(lambda S: pop.expand(S.shape[0], n), data["test"]), flush=True)

    usesQ = a.algo != "ce"
    nets = [Net(n, L, d, 1, 1, a.dropout, usesQ, a.reckit_arch, not a.reckit_arch) for _ in range(2 if usesQ else 1)]
    opt1 = [torch.optim.Adam(m.parameters(), lr=a.lr) for m in nets]
    opt2 = [torch.optim.Adam(m.parameters(), lr=a.lr2) for m in nets]
    S, A, R, S2, D = data["train"]["T"]
    N = len(A)
    steps_per_epoch = (N + a.batch - 1) // a.batch
    warmup = a.warmup if a.warmup >= 0 else min(15000, steps_per_epoch * a.epochs // 2)
    step, history = 0, []
    for epoch in range(1, a.epochs + 1):
        t0 = time.time()
        for m in nets: m.train()
        perm = torch.randperm(N)
        for b in range(0, N, a.batch):
            idx = perm[b:b + a.batch]
            s, act, r, s2, done = S[idx], A[idx] - 1, R[idx], S2[idx], D[idx]
            k = random.randint(0, 1) if usesQ else 0
            main, tgt = nets[k], (nets[1 - k] if usesQ else None)
            h = main.state(s)
            ce = F.cross_entropy(main.ce(h), act, reduction="none")
            if not usesQ:
                loss = ce.mean(); opt = opt1[k]
            else:
                q = main.q(h)
                with torch.no_grad():
                    main.eval(); tgt.eval()
                    sel_next = main.q(main.state(s2)).argmax(1)
                    tq_next = tgt.q(tgt.state(s2)).gather(1, sel_next[:, None])[:, 0]
                    y = r + a.gamma * (1 - done) * tq_next
                    if a.algo in ("snqn", "sa2c"):
                        sel_cur = main.q(main.state(s)).argmax(1)
                        y_neg = a.gamma * tgt.q(tgt.state(s)).gather(1, sel_cur[:, None])[:, 0]
                    main.train()
                q_pos = q.gather(1, act[:, None])[:, 0]
                td = 0.5 * (y - q_pos) ** 2
                if a.algo in ("snqn", "sa2c"):
                    neg = torch.randint(0, n - 1, (len(idx), a.neg))
                    neg = neg + (neg >= act[:, None]).long()           # uniform over items != action
                    q_neg = q.gather(1, neg)
                    td = td + (0.5 * (y_neg[:, None] - q_neg) ** 2).sum(1)
                if a.algo == "sa2c" and step >= warmup:
                    with torch.no_grad():
                        adv = q_pos - (q_pos + q_neg.sum(1)) / (1 + a.neg)
                        adv = adv.clamp(0, 10)
                    loss = (td + ce * adv).mean(); opt = opt2[k]
                else:
                    loss = (td + ce).mean(); opt = opt1[k]
            opt.zero_grad(); loss.backward(); opt.step()
            step += 1
        nets[0].eval()
        score = lambda st: nets[0].ce(nets[0].state(st))
        val, test = metrics(score, data["valid"]), metrics(score, data["test"])
        history.append({"epoch": epoch, "validation": val, "test": test})
        print(f"epoch {epoch} step {step} ({time.time() - t0:.0f} s): valid purchase ndcg@10 {val['purchase_ndcg@10']:.4f}  "
              f"test purchase ndcg@10 {test['purchase_ndcg@10']:.4f}  purchase hr@10 {test['purchase_hr@10']:.4f}", flush=True)
    best = max(history, key=lambda e: e["validation"]["purchase_ndcg@10"])
    res = {"algo": a.algo, "seed": a.seed, "warmup": warmup, "bestEpoch": best["epoch"], "test": best["test"], "epochs": history}
    print(json.dumps({"algo": a.algo, "seed": a.seed, "bestEpoch": best["epoch"], "test": best["test"]}))
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(res, f)
        import os; os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()
