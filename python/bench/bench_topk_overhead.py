"""Python's overhead on reckit.topk: one state against N = 100,000 items (d = 64, k = 10, one
thread), timed here and, in the same run, by `recbench score` (the Swift call, same shape).

    python python/bench/bench_topk_overhead.py [path/to/recbench]

Prints both medians and their ratio (the issue's goal: at most 1.10). Timing only: nothing here
is asserted."""

import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import reckit

N, D, K, REPS = 100_000, 64, 10, 400
recbench = sys.argv[1] if len(sys.argv) > 1 else os.path.join(".build", "release", "recbench")


def swift_median():
    out = subprocess.run(
        [recbench, "score", "--batch", "1", "--items", str(N), "--dim", str(D), "--k", str(K), "--threads", "1",
         "--kernels", "automatic", "--no-sgemm", "--reps", str(REPS), "--format", "json"],
        check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    row = next(r for r in rows if r["name"] == "score.topk")
    return row["median_ms"], row


def python_median():
    rng = np.random.default_rng(42)
    items = rng.uniform(-1, 1, (N, D)).astype(np.float32)
    state = rng.uniform(-1, 1, (1, D)).astype(np.float32)
    scorer = reckit.CatalogScorer(items)
    reckit.set_threads(1)
    scorer.topk(state, K)
    times = []
    for _ in range(REPS):
        t = time.perf_counter()
        scorer.topk(state, K)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


# Alternate the two so that load and frequency changes fall on both.
py, sw = [], []
for _ in range(3):
    sw.append(swift_median()[0])
    py.append(python_median())
info = reckit.build_info()
load = os.getloadavg()[0]
print(f"host: build={info['build']} blas_core={info['blas_core']} threads=1 load_1m={load:.2f}")
print(f"swift CatalogScorer.topK (recbench score): median of medians {statistics.median(sw):.4f} ms  {sw}")
print(f"python reckit.CatalogScorer.topk:          median of medians {statistics.median(py):.4f} ms  {py}")
print(f"ratio python/swift: {statistics.median(py) / statistics.median(sw):.3f}")
