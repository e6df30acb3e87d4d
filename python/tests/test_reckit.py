"""The Python package against the `reckit` command (the same bits) and with bad input.
Run by scripts/test-python with RECKIT_LIBRARY and RECKIT_CLI set."""

import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import threading

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import reckit  # noqa: E402

CLI = os.environ["RECKIT_CLI"]
failures = []


def check(name, ok, detail=""):
    print(f"test-python: {'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


def raises(name, exc, text, fn):
    try:
        fn()
    except exc as e:  # noqa: PERF203
        check(name, text in str(e), f"message {str(e)!r} lacks {text!r}")
        return
    except Exception as e:  # noqa: BLE001
        check(name, False, f"raised {type(e).__name__}: {e}")
        return
    check(name, False, "nothing raised")


rng = np.random.default_rng(1)
items = rng.standard_normal((2000, 16)).astype(np.float32)
states = rng.standard_normal((7, 16)).astype(np.float32)
bias = (rng.standard_normal(2000) * 0.1).astype(np.float32)
k = 9

with tempfile.TemporaryDirectory() as d:
    def write(name, a):
        path = os.path.join(d, name)
        np.savetxt(path, a.reshape(len(a), -1), delimiter=",", fmt="%.9g")
        return path

    # The CLI reads the same float32 values: write them exactly (9 significant digits round-trip).
    ip, sp, bp = write("items.csv", items), write("states.csv", states), write("bias.csv", bias)
    items32 = np.loadtxt(ip, delimiter=",", dtype=np.float32)
    states32 = np.loadtxt(sp, delimiter=",", dtype=np.float32)
    bias32 = np.loadtxt(bp, delimiter=",", dtype=np.float32)
    out = subprocess.run(
        [CLI, "score", "--items-file", ip, "--states-file", sp, "--bias-file", bp, "--k", str(k), "--format", "csv"],
        check=True, capture_output=True, text=True).stdout
    want_idx = np.full((7, k), -1, dtype=np.int64)
    want_sc = np.full((7, k), np.nan, dtype=np.float32)
    for row in csv.DictReader(io.StringIO(out)):
        s, r = int(row["state"]), int(row["rank"]) - 1
        want_idx[s, r] = int(row["item"])
        want_sc[s, r] = np.float32(row["score"])
    idx, sc = reckit.topk(items32, states32, k, bias=bias32)
    check("topk: the CLI's items", np.array_equal(idx, want_idx), f"{idx[0]} vs {want_idx[0]}")
    check("topk: the CLI's score bits", np.array_equal(sc.view(np.uint32), want_sc.view(np.uint32)))
    scorer = reckit.CatalogScorer(items32, bias=bias32)
    idx2, sc2 = scorer.topk(states32, k, threads=1)
    check("CatalogScorer: the same bits on 1 thread", np.array_equal(idx2, idx) and np.array_equal(sc2.view(np.uint32), sc.view(np.uint32)))
    ex_idx, _ = scorer.topk(states32, k, exclude=[[int(idx[r, 0])] for r in range(7)])
    check("exclude: the excluded best item is gone", all(int(idx[r, 0]) not in ex_idx[r] for r in range(7)))
    # Two threads at once give what one gives (ctypes releases the GIL; the scorer is shared).
    results = [None, None]

    def work(i):
        results[i] = scorer.topk(states32, k)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check("two Python threads", all(np.array_equal(r[0], idx) for r in results))

    # Rank marginals: the CLI's values, from a dict and from a path.
    spec = {"kind": "bernoulli_ts", "alpha": [2, 3, 1], "beta": [0.1, 2, 1]}
    spec_path = os.path.join(d, "ts.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    out = subprocess.run([CLI, "marginals", "--policy", spec_path, "--k", "2"], check=True, capture_output=True, text=True).stdout
    want = np.zeros((3, 2))
    for row in csv.DictReader(io.StringIO(out)):
        want[int(row["item"]), int(row["rank"]) - 1] = float(row["probability"])
    check("rank_marginals: the CLI's values (dict)", np.array_equal(reckit.rank_marginals(spec, 2), want))
    check("rank_marginals: the CLI's values (path)", np.array_equal(reckit.rank_marginals(spec_path, 2), want))
    mc = reckit.rank_marginals(spec, 2, method="mc", simulations=20000, seed=3)
    check("rank_marginals: Monte Carlo near exact", np.abs(mc - want).max() < 0.02)

    # Bad input: an exception naming the argument, never a crash.
    raises("items of text", TypeError, "items", lambda: reckit.topk([["a", "b"]], states32, 3))
    raises("items 1-D", ValueError, "items: expected a 2-D array", lambda: reckit.topk(np.ones(5), states32, 3))
    raises("states of another width", ValueError, "states: expected 16 columns", lambda: scorer.topk(np.ones((2, 3)), 3))
    raises("k of 0", ValueError, "k: must be at least 1", lambda: scorer.topk(states32, 0))
    raises("k not an int", TypeError, "k: expected an int", lambda: scorer.topk(states32, 2.5))
    raises("bias of the wrong length", ValueError, "bias: expected shape (2000,)", lambda: reckit.CatalogScorer(items32, bias=np.ones(3)))
    raises("exclude of the wrong length", ValueError, "exclude: expected one list per state", lambda: scorer.topk(states32, 2, exclude=[[1]]))
    raises("exclude outside the catalog", reckit.ReckitValueError, "5000", lambda: scorer.topk(states32, 2, exclude=[[5000]] * 7))
    raises("threads 0", reckit.ReckitValueError, "threads must be in 1...1024", lambda: reckit.set_threads(0))
    dup = os.path.join(d, "dup.json")
    with open(dup, "w") as f:
        f.write('{"kind": "uniform", "items": 3, "items": 4}')
    raises("spec key twice", reckit.ReckitValueError, 'key "items" appears twice', lambda: reckit.rank_marginals(dup, 1))
    raises("unknown spec key", reckit.ReckitValueError, 'unknown key "seed"', lambda: reckit.rank_marginals({"kind": "uniform", "items": 3, "seed": 1}, 1))
    raises("k beyond the items", reckit.ReckitValueError, "k must be between 1 and the number of items (3)", lambda: reckit.rank_marginals(spec, 4))
    raises("missing spec file", reckit.ReckitIOError, "nope.json", lambda: reckit.rank_marginals(os.path.join(d, "nope.json"), 1))
    raises("method unknown", ValueError, "method: expected 'exact' or 'mc'", lambda: reckit.rank_marginals(spec, 1, method="exactly"))
    scorer.close()
    raises("closed scorer", ValueError, "closed", lambda: scorer.topk(states32, 2))

if failures:
    print(f"test-python: {len(failures)} FAILED: {', '.join(failures)}")
    sys.exit(1)
print("test-python: all passed")
