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


def test_shards_merge_to_the_whole_catalogs_bits(catalog, scorer):
    """A catalog cut into uneven shards (first_item, catalog_size): each shard's top-k has global
    ids, and merge_topk of the shards is the whole catalog's top-k, items and score bits; with
    exclusions (global ids) too."""
    want = scorer.topk(catalog["states"], K)
    cuts = [0, 1, 700, 1313, 2000]
    parts = []
    for a, b in zip(cuts, cuts[1:]):
        shard = reckit.CatalogScorer(catalog["items"][a:b], bias=catalog["bias"][a:b], first_item=a, catalog_size=2000)
        idx, sc = shard.topk(catalog["states"], K)
        assert ((idx == -1) | ((idx >= a) & (idx < b))).all()
        parts.append((idx, sc))
    got = reckit.merge_topk(parts, K)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1].view(np.uint32), want[1].view(np.uint32))
    # Fewer slots than k in one part (a 1-item shard), and k larger than the catalog.
    assert parts[0][0][:, 1:].max() == -1
    shards = [reckit.CatalogScorer(catalog["items"][a:b], bias=catalog["bias"][a:b], first_item=a,
                                   catalog_size=2000) for a, b in zip(cuts, cuts[1:])]
    big = reckit.merge_topk([s.topk(catalog["states"], 2500) for s in shards], 2500)
    assert big[0].shape == (7, 2500) and (big[0][:, 2000:] == -1).all() and (big[0][:, :2000] >= 0).all()
    whole = scorer.topk(catalog["states"], 2500)
    assert np.array_equal(big[0], whole[0]) and np.array_equal(big[1].view(np.uint32), whole[1].view(np.uint32))
    exclude = [[want[0][r][0], 5, 1999] for r in range(7)]
    want_ex = scorer.topk(catalog["states"], K, exclude=exclude)
    parts_ex = [reckit.CatalogScorer(catalog["items"][a:b], bias=catalog["bias"][a:b], first_item=a,
                                     catalog_size=2000).topk(catalog["states"], K, exclude=exclude)
                for a, b in zip(cuts, cuts[1:])]
    got_ex = reckit.merge_topk(parts_ex, K)
    assert np.array_equal(got_ex[0], want_ex[0])
    assert np.array_equal(got_ex[1].view(np.uint32), want_ex[1].view(np.uint32))


def test_merge_breaks_ties_to_the_lower_id():
    items = np.ones((6, 4), dtype=np.float32)  # every item scores the same
    states = np.ones((2, 4), dtype=np.float32)
    parts = [reckit.CatalogScorer(items[a:a + 2], first_item=a, catalog_size=6).topk(states, 3) for a in (4, 0, 2)]
    idx, sc = reckit.merge_topk(parts, 3)
    assert idx.tolist() == [[0, 1, 2], [0, 1, 2]] and (sc == 4).all()


def test_bad_shards_and_parts(catalog):
    import pytest
    with pytest.raises(ValueError, match="catalog_size"):
        reckit.CatalogScorer(catalog["items"][:10], first_item=95, catalog_size=100)
    with pytest.raises(TypeError, match="first_item"):
        reckit.CatalogScorer(catalog["items"][:10], first_item=1.5)
    part = reckit.CatalogScorer(catalog["items"][:10], first_item=0, catalog_size=20).topk(catalog["states"], 3)
    with pytest.raises(reckit.ReckitValueError, match="two parts|overlap"):
        reckit.merge_topk([part, part], 3)
    with pytest.raises(ValueError, match="same states"):
        reckit.merge_topk([part, (part[0][:2], part[1][:2])], 3)
    with pytest.raises(ValueError, match="non-empty"):
        reckit.merge_topk([], 3)
    with pytest.raises(TypeError, match="integers"):
        reckit.merge_topk([(part[1], part[1])], 3)
    with pytest.raises(ValueError, match="k: must be"):
        reckit.merge_topk([part], 0)
