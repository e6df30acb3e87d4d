"""The pseudo-inverse slate estimator (PI, Swaminathan et al. 2017; in neither OBP nor RecBole) of
`reckit offline-ab` on a slate log with `--target` and `--logging` policy specs, against numpy:
Γ (the logging policy's pairwise item-position probabilities) and q (the target's item-position
probabilities) by enumerating every slate, θ = numpy.linalg.pinv(Γ) @ q, ψ = θ summed over the
slate's (position, item) pairs; PI and SNPI agree to 1e-9 relative, for a Plackett–Luce logging
policy (RecKit enumerates Γ and takes its Jacobi pseudo-inverse) and a uniform one (RecKit's
closed form)."""

import csv
import itertools
import json

import numpy as np
import pytest

from conftest import run

M, K, SLATES = 7, 3, 4000


def _pl(masses, slate):
    p, rest = 1.0, list(range(len(masses)))
    for a in slate:
        p *= masses[a] / sum(masses[b] for b in rest)
        rest.remove(a)
    return p


def _indicator(slate):
    v = np.zeros(K * M)
    for j, a in enumerate(slate):
        v[j * M + a] = 1
    return v


def _log_and_reference(tmp_path, logging_scores, target_scores, name):
    rng = np.random.default_rng(11)
    slates = list(itertools.permutations(range(M), K))
    X = np.array([_indicator(s) for s in slates])
    mu = np.array([_pl(np.exp(logging_scores), s) for s in slates])
    pi = np.array([_pl(np.exp(target_scores), s) for s in slates])
    gamma = (X.T * mu) @ X
    q = X.T @ pi
    psi_all = X @ (np.linalg.pinv(gamma) @ q)
    # Click probability of item a at position j: a per-item base times a position decay.
    base = rng.uniform(0.05, 0.6, M)
    decay = np.array([1.0, 0.7, 0.5])
    drawn = rng.choice(len(slates), size=SLATES, p=mu / mu.sum())
    path = tmp_path / f"{name}.csv"
    terms = []
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["slate_id", "item", "position", "click"])
        for i, s_idx in enumerate(drawn):
            total = 0
            for j, a in enumerate(slates[s_idx]):
                click = int(rng.random() < base[a] * decay[j])
                total += click
                w.writerow([f"s{i}", a, j, click])
            terms.append((psi_all[s_idx], total))
    psi = np.array([t[0] for t in terms])
    rewards = np.array([t[1] for t in terms], dtype=float)
    return path, {"PI": float(np.mean(psi * rewards)), "SNPI": float(np.mean(psi * rewards) / np.mean(psi))}


@pytest.mark.parametrize("logging_kind", ["plackett_luce", "uniform"])
def test_pi_equals_numpy_pinv(cli, tmp_path, logging_kind):
    rng = np.random.default_rng(5)
    target_scores = rng.standard_normal(M)
    logging_scores = rng.standard_normal(M) * 0.5 if logging_kind == "plackett_luce" else np.zeros(M)
    path, expected = _log_and_reference(tmp_path, logging_scores, target_scores, logging_kind)
    target = tmp_path / "target.json"
    target.write_text(json.dumps({"kind": "plackett_luce", "scores": [float(x) for x in target_scores]}))
    logging = tmp_path / "logging.json"
    logging.write_text(json.dumps(
        {"kind": "plackett_luce", "scores": [float(x) for x in logging_scores]} if logging_kind == "plackett_luce"
        else {"kind": "uniform", "items": M}))
    out = tmp_path / "report.json"
    run(cli, "offline-ab", "--logs", str(path), "--format", "csv", "--columns",
        "slate=slate_id,item=item,position=position,reward=click", "--target", str(target), "--logging",
        str(logging), "--bootstrap", "0", "--json", str(out))
    got = {e["estimator"]: e["value"] for e in json.loads(out.read_text())["evaluations"][0]["estimates"]}
    assert set(got) == {"PI", "SNPI"}
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
