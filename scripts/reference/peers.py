#!/usr/bin/env python3
"""RecKit against its peers on this host, pair by pair, in one run (`scripts/bench-peers`).

Each pair times RecKit (`recbench`, release build) and a peer on the same shapes, back to back:

- top-k scoring of N = 100,000 items (d = 64, k = 10) for 256 states and for 1: FAISS
  `IndexFlatIP.search`, and a bare sgemm (numpy's `states @ items.T`, no top-k);
- Monte Carlo rank marginals of 80 items, top-3, 1e5 rankings, on the policy recbench times: the
  C reference (`mc_rank.c`: RecKit's algorithm written in C with GCC vector extensions, built with
  `-O3 -march=native`; its marginals checked against the exact ones), and numpy, vectorised (Beta
  draws for every item and ranking, `argpartition`, counts);
- Beta draws: numpy's `Generator.beta`;
- training steps, N = 100,000, 2 blocks, B = 256: the supervised step (SASRec + full softmax CE +
  Adam) and the SQN step (CE + double-Q TD over two networks) against the same model in PyTorch
  (`sasrec_rl_torch.py`'s `Net`, autograd).

Every row names its median over the repetitions; the header names the host (CPU model, ISA, the
OpenBLAS core RecKit runs, PyTorch's and numpy's BLAS) and its load. Speed is what this prints,
on this host, now: nothing is compared with figures from another run.

    python scripts/reference/peers.py --recbench .build/release/recbench [--threads 2] [--quick]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def recbench(path, *args):
    out = subprocess.run([path, *args, "--format", "json"], capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def pick(rows, name, **params):
    for r in rows:
        if r["name"] == name and all(r["params"].get(k) == v for k, v in params.items()):
            return r
    raise SystemExit(f"peers: recbench printed no {name} row with {params}")


def median_ms(fn, reps, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def faiss_pair(rb, threads, reps, batch):
    import faiss

    faiss.omp_set_num_threads(threads)
    rng = np.random.default_rng(1)
    n, d, k = 100_000, 64, 10
    items = rng.standard_normal((n, d), dtype=np.float32)
    states = rng.standard_normal((batch, d), dtype=np.float32)
    index = faiss.IndexFlatIP(d)
    index.add(items)
    peer = median_ms(lambda: index.search(states, k), reps)
    gemm = median_ms(lambda: states @ items.T, reps)
    extra = ["--no-sgemm"] if batch == 1 else []
    ours = pick(recbench(rb, "score", "--batch", str(batch), "--items", str(n), "--dim", str(d), "--k", str(k),
                         "--threads", str(threads), "--reps", str(reps), *extra),
                "score.topk", kernel="simd")
    return [(f"top-{k} of {n:,} (d={d}), {batch} state{'s' if batch > 1 else ''}", "ms", ours["median_ms"],
             "FAISS IndexFlatIP", peer), ("", "", None, "numpy sgemm, no top-k", gemm)]


def mc_pair(rb, threads, reps, cref):
    """RecKit, the C reference (`mc_rank.c`, the same algorithm in C) and numpy on one policy: the
    one `recbench mc-rank` times, written out with its exact marginals. The C reference's
    marginals are checked against the exact ones before its time is shown."""
    import tempfile
    m, k, sims = 80, 3, 100_000
    with tempfile.TemporaryDirectory() as d:
        policy, exact, cm = (os.path.join(d, f) for f in ("policy.csv", "exact.csv", "c.csv"))
        ours = pick(recbench(rb, "mc-rank", "--items", str(m), "--k", str(k), "--simulations", str(sims),
                             "--threads", str(threads), "--reps", str(reps), "--write-policy", policy,
                             "--write-exact", exact), "mc-rank.ts")
        a, b = np.loadtxt(policy, delimiter=",", unpack=True)
        out = subprocess.run([cref, "--policy", policy, "--k", str(k), "--simulations", str(sims), "--threads",
                              str(threads), "--reps", str(reps), "--marginals", cm],
                             capture_output=True, text=True, check=True).stdout
        c_ms = float(out.split("median_ms=")[1].split()[0])
        p_exact, p_c = np.loadtxt(exact, delimiter=","), np.loadtxt(cm, delimiter=",")
    se = np.sqrt(np.maximum(p_exact * (1 - p_exact), 1e-12) / sims)
    worst = float(np.max(np.abs(p_c - p_exact) / se))
    if worst > 6:
        raise SystemExit(f"peers: the C reference's marginals are {worst:.1f} standard errors from the exact ones")
    gen = np.random.default_rng(2)

    def numpy_marginals():
        draws = gen.beta(a, b, size=(sims, m))
        top = np.argpartition(-draws, k, axis=1)[:, :k]
        order = np.take_along_axis(draws, top, 1).argsort(1)[:, ::-1]
        ranked = np.take_along_axis(top, order, 1)
        return np.stack([np.bincount(ranked[:, r], minlength=m) for r in range(k)], 1) / sims

    peer = median_ms(numpy_marginals, max(3, reps // 4))
    return [(f"Monte Carlo rank marginals, {m} items, top-{k}, {sims:,} rankings", "ms", ours["median_ms"],
             f"C reference (max |z| {worst:.1f})", c_ms), ("", "", None, "numpy (vectorised)", peer)]


def beta_pair(rb, threads, reps):
    rows, m = 10_000, 1000
    gen = np.random.default_rng(3)
    a = np.full(m, 2.0)
    b = np.full(m, 50.0)
    ms = median_ms(lambda: gen.beta(a, b, size=(rows, m)), max(3, reps // 4))
    ours = pick(recbench(rb, "rng", "--batch", str(rows), "--items", str(m), "--threads", str(threads),
                         "--reps", str(reps)), "rng.beta_ctr")
    return [("Beta draws", "M/s", ours["draws_per_second"] / 1e6, "numpy Generator.beta", rows * m / ms / 1e3)]


def torch_steps(threads, reps, n, batch, blocks, algo):
    """Sequences per second of PyTorch's supervised or SQN step on the same shapes."""
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from sasrec_rl_torch import Net

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    L, d = 10, 64
    q = algo == "sqn"
    nets = [Net(n, L, d, 1, blocks, 0.1, q) for _ in range(2 if q else 1)]
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in nets]
    g = torch.Generator().manual_seed(2)
    s = torch.randint(1, n + 1, (batch, L), generator=g)
    s2 = torch.cat([s[:, 1:], torch.randint(1, n + 1, (batch, 1), generator=g)], 1)
    act = torch.randint(0, n, (batch,), generator=g)
    r = torch.rand(batch, generator=g)
    done = torch.zeros(batch)

    def step():
        main, tgt = nets[0], (nets[1] if q else None)
        h = main.state(s)
        ce = F.cross_entropy(main.ce(h), act, reduction="none")
        if not q:
            loss = ce.mean()
        else:
            qv = main.q(h)
            with torch.no_grad():
                main.eval()
                tgt.eval()
                sel = main.q(main.state(s2)).argmax(1)
                y = r + 0.5 * (1 - done) * tgt.q(tgt.state(s2)).gather(1, sel[:, None])[:, 0]
                main.train()
            loss = (0.5 * (y - qv.gather(1, act[:, None])[:, 0]) ** 2 + ce).mean()
        opts[0].zero_grad()
        loss.backward()
        opts[0].step()

    ms = median_ms(step, reps, warmup=2)
    return batch / ms * 1e3


def training_pairs(rb, threads, reps, quick):
    n, batch, blocks = (20_000 if quick else 100_000), 256, 2
    ce = pick(recbench(rb, "ce-step", "--items", str(n), "--batch", str(batch), "--blocks", str(blocks),
                       "--threads", str(threads), "--reps", str(reps)), "ce-step.sasrec_data_parallel")
    sqn = pick(recbench(rb, "train", "--algo", "sqn", "--items", str(n), "--batch", str(batch), "--blocks", str(blocks),
                        "--threads", str(threads), "--reps", str(reps)), "train.sqn")
    return [
        (f"supervised step, N={n:,}, {blocks} blocks, B={batch}", "seq/s", ce["sequences_per_second"],
         "PyTorch (autograd)", torch_steps(threads, max(3, reps // 2), n, batch, blocks, "ce")),
        (f"SQN step, N={n:,}, {blocks} blocks, B={batch}", "seq/s", sqn["sequences_per_second"],
         "PyTorch (autograd)", torch_steps(threads, max(3, reps // 2), n, batch, blocks, "sqn")),
    ]


def ingest_pair(rb, threads, reps, quick):
    """Reading CSV logs: recbench ingest times RecKit's readers and, in the same process run,
    pandas.read_csv (one thread) and pyarrow.csv.read_csv (1 and `threads` threads) on the same
    generated files, with this Python."""
    n = 1_000_000 if quick else 3_000_000
    out = recbench(rb, "ingest", "--rows", str(n), "--threads", f"1,{threads}", "--reps", str(max(reps, 4)),
                   "--python", sys.executable, "--only", "ab,events,pass")
    rows = []
    for name, what in (("ingest.ab-log", "offline A/B log"), ("ingest.event-log", "event log")):
        for t in (1, threads):
            r = [x for x in out if x["name"] == name and x["threads"] == t]
            if not r or "pandas_ms" not in r[0]:
                raise SystemExit(f"peers: recbench ingest printed no {name} row with pandas at {t} threads")
            r = r[0]
            rows.append((f"read {what}, {n // 1_000_000}M rows, {t} thread{'s' if t > 1 else ''}", "ms",
                         r["median_ms"], "pandas.read_csv (1 thread)", r["pandas_ms"]))
            if "pyarrow_ms" in r:
                rows.append(("", "", None, f"pyarrow.csv ({t} thread{'s' if t > 1 else ''})", r["pyarrow_ms"]))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recbench", required=True)
    ap.add_argument("--c-reference", default=".build/reference/mc_rank", help="the built mc_rank.c")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="smaller training shapes and fewer repetitions (a smoke run)")
    ap.add_argument("--only", help="comma-separated: score,mc,beta,train,ingest")
    ap.add_argument("--json", help="also write the rows here")
    a = ap.parse_args()
    reps = 3 if a.quick else a.reps
    if a.only is None:
        # Each group in its own process: FAISS's OpenMP and PyTorch's threads never share one.
        import tempfile
        head = recbench(a.recbench, "rng", "--batch", "10", "--items", "10", "--reps", "1", "--threads", "1")[0]
        probe = subprocess.run([sys.executable, "-c", "import torch, faiss; print(torch.__version__, "
                                "'MKL' if torch.backends.mkl.is_available() else 'other', faiss.__version__)"],
                               capture_output=True, text=True, check=True).stdout.split()
        info = {"cpu": head["cpu"], "isa": head["isa"], "reckit_blas_core": head["blas_core"],
                "reckit_blas_core_chosen_by": head["blas_core_chosen_by"],
                "reckit_build_unused": head["build_unused_features"], "torch": probe[0], "torch_blas": probe[1],
                "faiss": probe[2], "numpy": np.__version__, "threads": a.threads,
                "load_avg_1m_start": os.getloadavg()[0]}
        print("# host: %(cpu)s, %(isa)s; RecKit's OpenBLAS core %(reckit_blas_core)s (chosen by "
              "%(reckit_blas_core_chosen_by)s), build unused features: %(reckit_build_unused)s" % info)
        print("# peers: FAISS %(faiss)s, PyTorch %(torch)s (%(torch_blas)s), numpy %(numpy)s; %(threads)d threads; "
              "load %(load_avg_1m_start).2f" % info, flush=True)
        rows = []
        with tempfile.TemporaryDirectory() as d:
            for group in ("score", "mc", "beta", "train", "ingest"):
                part = os.path.join(d, group + ".json")
                cmd = [sys.executable, os.path.abspath(__file__), "--recbench", a.recbench,
                       "--c-reference", a.c_reference, "--threads", str(a.threads),
                       "--reps", str(a.reps), "--only", group, "--json", part] + (["--quick"] if a.quick else [])
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                with open(part) as f:
                    rows += [tuple(r[k] for k in ("what", "unit", "reckit", "peer", "peer_value"))
                             for r in json.load(f)["rows"]]
        info["load_avg_1m_end"] = os.getloadavg()[0]
        print_rows(rows)
        print("# load %(load_avg_1m_end).2f at the end" % info)
        if a.json:
            with open(a.json + ".tmp", "w") as f:
                json.dump({"host": info, "rows": [dict(zip(("what", "unit", "reckit", "peer", "peer_value"), r))
                                                  for r in rows]}, f, indent=1)
            os.replace(a.json + ".tmp", a.json)
        return
    only = set(a.only.split(","))
    info = {"load_avg_1m_start": os.getloadavg()[0]}
    rows = []
    if "score" in only:
        rows += faiss_pair(a.recbench, a.threads, reps, 256) + faiss_pair(a.recbench, a.threads, reps * 5, 1)
    if "mc" in only:
        rows += mc_pair(a.recbench, a.threads, reps, a.c_reference)
    if "beta" in only:
        rows += beta_pair(a.recbench, a.threads, reps)
    if "train" in only:
        rows += training_pairs(a.recbench, a.threads, reps, a.quick)
    if "ingest" in only:
        rows += ingest_pair(a.recbench, a.threads, reps, a.quick)
    info["load_avg_1m_end"] = os.getloadavg()[0]
    print_rows(rows)
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump({"host": info, "rows": [dict(zip(("what", "unit", "reckit", "peer", "peer_value"), r))
                                              for r in rows]}, f, indent=1)
        os.replace(a.json + ".tmp", a.json)


def print_rows(rows):
    w = max(len(r[0]) for r in rows)
    print(f"{'what':<{w}}  {'unit':<5}  {'RecKit':>10}  {'peer':<24} {'peer value':>10}  RecKit's advantage")
    for what, unit, ours, peer, theirs in rows:
        if ours is None:
            ours_text, adv = "", ""
        else:
            ours_text = f"{ours:10.3g}"
            faster = theirs / ours if unit == "ms" else ours / theirs
            adv = f"{faster:.1f}x"
            last_ours, last_unit = ours, unit
        if ours is None:
            adv = f"{(theirs / last_ours if last_unit == 'ms' else last_ours / theirs):.1f}x"
        print(f"{what:<{w}}  {unit:<5}  {ours_text:>10}  {peer:<24} {theirs:10.3g}  {adv}", flush=True)


if __name__ == "__main__":
    main()
