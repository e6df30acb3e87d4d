"""Bad input raises an exception naming the argument; nothing crashes the interpreter."""

import numpy as np
import pytest

import reckit

SPEC = {"kind": "bernoulli_ts", "alpha": [2, 3, 1], "beta": [0.1, 2, 1]}


@pytest.mark.parametrize(
    "call, exc, text",
    [
        (lambda s, st: reckit.topk([["a", "b"]], st, 3), TypeError, "items"),
        (lambda s, st: reckit.topk(np.ones(5), st, 3), ValueError, "items: expected a 2-D array"),
        (lambda s, st: reckit.topk(np.ones((0, 16)), st, 3), ValueError, "items: expected at least one row"),
        (lambda s, st: s.topk(np.ones((2, 3)), 3), ValueError, "states: expected 16 columns"),
        (lambda s, st: s.topk(st, 0), ValueError, "k: must be at least 1"),
        (lambda s, st: s.topk(st, 2.5), TypeError, "k: expected an int"),
        (lambda s, st: s.topk(st, True), TypeError, "k: expected an int"),
        (lambda s, st: reckit.CatalogScorer(np.ones((4, 16)), bias=np.ones(3)), ValueError,
         "bias: expected shape (4,)"),
        (lambda s, st: s.topk(st, 2, exclude=[[1]]), ValueError, "exclude: expected one list per state"),
        (lambda s, st: s.topk(st, 2, exclude=[[5000]] * 7), reckit.ReckitValueError, "5000"),
        (lambda s, st: reckit.set_threads(0), reckit.ReckitValueError, "threads must be in 1...1024"),
        (lambda s, st: reckit.set_threads("2"), TypeError, "threads: expected an int"),
        (lambda s, st: reckit.rank_marginals({"kind": "uniform", "items": 3, "seed": 1}, 1),
         reckit.ReckitValueError, 'unknown key "seed"'),
        (lambda s, st: reckit.rank_marginals(SPEC, 4), reckit.ReckitValueError,
         "k must be between 1 and the number of items (3)"),
        (lambda s, st: reckit.rank_marginals(SPEC, 1, method="exactly"), ValueError,
         "method: expected 'exact' or 'mc'"),
        (lambda s, st: reckit.rank_marginals(42, 1), TypeError, "policy: expected a spec dict or a path"),
    ],
)
def test_bad_arguments(catalog, scorer, call, exc, text):
    with pytest.raises(exc) as e:
        call(scorer, catalog["states"])
    assert text in str(e.value)


def test_bad_spec_files(tmp_path):
    dup = tmp_path / "dup.json"
    dup.write_text('{"kind": "uniform", "items": 3, "items": 4}')
    with pytest.raises(reckit.ReckitValueError, match='key "items" appears twice'):
        reckit.rank_marginals(dup, 1)
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "uniform",\n "items": 3,}')
    with pytest.raises(reckit.ReckitValueError, match=r"bad.json:2: not valid JSON"):
        reckit.rank_marginals(bad, 1)
    with pytest.raises(reckit.ReckitIOError, match="nope.json"):
        reckit.rank_marginals(tmp_path / "nope.json", 1)
    with pytest.raises(reckit.ReckitIOError):
        reckit.rank_marginals({"kind": "bernoulli_ts", "prior": str(tmp_path / "none.yaml")}, 1)


def test_a_closed_scorer(catalog):
    s = reckit.CatalogScorer(catalog["items"])
    s.close()
    s.close()
    with pytest.raises(ValueError, match="closed"):
        s.topk(catalog["states"], 2)


def test_errors_are_reckit_errors_with_a_status():
    with pytest.raises(reckit.ReckitError) as e:
        reckit.set_threads(5000)
    assert e.value.status == 1 and isinstance(e.value, ValueError)
