"""reckit.rank_marginals against `reckit marginals` and, for Monte Carlo, against exact values."""

import json

import numpy as np

import reckit
from conftest import read_csv, run

SPEC = {"kind": "bernoulli_ts", "alpha": [2, 3, 1], "beta": [0.1, 2, 1]}


def cli_marginals(cli, path, k):
    want = np.zeros((3, k))
    for row in read_csv(run(cli, "marginals", "--policy", str(path), "--k", str(k))):
        want[int(row["item"]), int(row["rank"]) - 1] = float(row["probability"])
    return want


def test_exact_equals_the_cli_from_a_dict_and_a_path(cli, tmp_path):
    path = tmp_path / "ts.json"
    path.write_text(json.dumps(SPEC))
    want = cli_marginals(cli, path, 2)
    assert np.array_equal(reckit.rank_marginals(SPEC, 2), want)
    assert np.array_equal(reckit.rank_marginals(path, 2), want)
    assert np.array_equal(reckit.rank_marginals(str(path), 2), want)


def test_monte_carlo_within_five_standard_errors_of_exact():
    exact = reckit.rank_marginals(SPEC, 3)
    n = 40_000
    mc = reckit.rank_marginals(SPEC, 3, method="mc", simulations=n, seed=3)
    se = np.sqrt(exact * (1 - exact) / n)
    assert (np.abs(mc - exact) <= 5 * se + 1e-12).all(), np.abs(mc - exact) / np.maximum(se, 1e-12)
    assert np.allclose(mc.sum(axis=0), 1) and np.allclose(exact.sum(axis=0), 1)


def test_monte_carlo_is_reproducible_by_seed():
    a = reckit.rank_marginals(SPEC, 2, method="mc", simulations=5000, seed=7)
    b = reckit.rank_marginals(SPEC, 2, method="mc", simulations=5000, seed=7)
    c = reckit.rank_marginals(SPEC, 2, method="mc", simulations=5000, seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
