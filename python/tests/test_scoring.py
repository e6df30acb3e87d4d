"""reckit.topk and CatalogScorer against `reckit score`: the same items and score bits."""

import threading

import numpy as np

import reckit
from conftest import read_csv, run

K = 9


def cli_topk(cli, catalog):
    out = run(cli, "score", "--items-file", catalog["items_path"], "--states-file", catalog["states_path"],
              "--bias-file", catalog["bias_path"], "--k", str(K), "--format", "csv")
    idx = np.full((7, K), -1, dtype=np.int64)
    sc = np.full((7, K), np.nan, dtype=np.float32)
    for row in read_csv(out):
        s, r = int(row["state"]), int(row["rank"]) - 1
        idx[s, r] = int(row["item"])
        sc[s, r] = np.float32(row["score"])
    return idx, sc


def test_topk_equals_the_cli_bit_for_bit(cli, catalog):
    want_idx, want_sc = cli_topk(cli, catalog)
    idx, sc = reckit.topk(catalog["items"], catalog["states"], K, bias=catalog["bias"])
    assert idx.dtype == np.int64 and sc.dtype == np.float32 and idx.shape == (7, K)
    assert np.array_equal(idx, want_idx)
    assert np.array_equal(sc.view(np.uint32), want_sc.view(np.uint32))


def test_scorer_gives_the_same_bits_on_one_thread(catalog, scorer):
    idx, sc = reckit.topk(catalog["items"], catalog["states"], K, bias=catalog["bias"])
    idx1, sc1 = scorer.topk(catalog["states"], K, threads=1)
    assert np.array_equal(idx1, idx) and np.array_equal(sc1.view(np.uint32), sc.view(np.uint32))


def test_topk_equals_a_numpy_reference(catalog, scorer):
    idx, sc = scorer.topk(catalog["states"], K)
    full = catalog["states"].astype(np.float64) @ catalog["items"].T.astype(np.float64) + catalog["bias"]
    for r in range(7):
        assert set(idx[r]) == set(np.argsort(-full[r])[:K])
        assert np.allclose(sc[r], full[r, idx[r]], rtol=1e-5, atol=1e-5)


def test_exclusions(catalog, scorer):
    idx, _ = scorer.topk(catalog["states"], K)
    ex, _ = scorer.topk(catalog["states"], K, exclude=[[int(idx[r, 0])] for r in range(7)])
    assert all(int(idx[r, 0]) not in ex[r] for r in range(7))
    assert np.array_equal(ex[:, : K - 1], idx[:, 1:])


def test_unused_slots_are_minus_one_and_nan():
    idx, sc = reckit.topk(np.eye(3, dtype=np.float32), np.ones((1, 3), np.float32), 5)
    assert list(idx[0, 3:]) == [-1, -1] and np.isnan(sc[0, 3:]).all()


def test_two_python_threads_share_a_scorer(catalog, scorer):
    want, _ = scorer.topk(catalog["states"], K)
    results = [None, None]

    def work(i):
        results[i] = scorer.topk(catalog["states"], K)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(np.array_equal(r[0], want) for r in results)


def test_the_gil_is_released_during_a_call():
    """While one thread is inside long topk calls, another keeps running Python: were the GIL held
    for a call, the counting loop could only run in the short gaps between calls."""
    rng = np.random.default_rng(2)
    items = rng.standard_normal((200_000, 64), dtype=np.float32)
    states = rng.standard_normal((256, 64), dtype=np.float32)
    s = reckit.CatalogScorer(items)
    reckit.set_threads(1)
    inside = threading.Event()
    done = threading.Event()

    def call():
        inside.set()
        for _ in range(3):
            s.topk(states, 10)
        done.set()

    t = threading.Thread(target=call)
    t.start()
    inside.wait()
    ticks = 0
    while not done.is_set():
        ticks += 1
    t.join()
    s.close()
    assert ticks > 10_000, ticks
