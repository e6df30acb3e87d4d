"""Balanced IPW (``reckit.offline_ab(..., balanced_ipw=C)``) against OBP's
``BalancedInverseProbabilityWeighting`` on the OBD sample. OBP gets the weights of scikit-learn's
``LogisticRegression(C=C, solver="newton-cholesky")`` fitted per position on the training set
RecKit's classifier is defined by: each logged row (its four user features one-hot, its item
one-hot) with label 0, and the same row with every item a at sample weight π(a | position) with
label 1 (rows with equal user features are summed into one example per item, which leaves the
objective as it is). ŵ is the classifier's odds on the logged rows. Values agree to 1e-9
relative; a different C gives a different value."""

from pathlib import Path

import numpy as np
import pytest

import reckit

obp = pytest.importorskip("obp")
pd = pytest.importorskip("pandas")
from obp.ope import BalancedInverseProbabilityWeighting  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LOG = ROOT / "data" / "obp" / "obp" / "dataset" / "obd" / "random" / "all" / "all.csv"
PRIOR = ROOT / "data" / "obp" / "obp" / "policy" / "conf" / "prior_bts.yaml"
pytestmark = pytest.mark.skipif(not LOG.is_file(), reason="run scripts/fetch-obp for the OBD sample")

TARGET = {"kind": "bernoulli_ts", "prior": str(PRIOR)}
CONTEXT = ["user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3"]
ITEMS, K = 80, 3


def _sklearn_weights(df, marginals, c):
    position = df["position"].to_numpy() - 1
    action = df["item_id"].to_numpy()
    weights = np.zeros(len(df))
    eye = np.eye(ITEMS)
    for k in range(K):
        rows = np.flatnonzero(position == k)
        context = pd.get_dummies(df.iloc[rows][CONTEXT].astype(str)).to_numpy(dtype=float)
        logged = np.hstack([context, eye[action[rows]]])
        groups, counts = np.unique(context, axis=0, return_counts=True)
        target = np.vstack([np.hstack([np.repeat(g[None], ITEMS, axis=0), eye]) for g in groups])
        mass = np.concatenate([n * marginals[:, k] for n in counts])
        keep = mass > 0
        x = np.vstack([logged, target[keep]])
        y = np.r_[np.zeros(len(logged)), np.ones(keep.sum())]
        sw = np.r_[np.ones(len(logged)), mass[keep]]
        clf = LogisticRegression(C=c, solver="newton-cholesky", tol=1e-14, max_iter=1000)
        clf.fit(x, y, sample_weight=sw)
        weights[rows] = np.exp(clf.decision_function(logged))
    return weights


@pytest.mark.parametrize("c", [1.0, 0.05])
def test_balanced_ipw_equals_obps(c):
    df = pd.read_csv(LOG, index_col=0)
    marginals = reckit.rank_marginals(TARGET, K)
    n = len(df)
    w = _sklearn_weights(df, marginals, c)
    action_dist = np.broadcast_to(marginals[None], (n, ITEMS, K)).copy()
    want = BalancedInverseProbabilityWeighting().estimate_policy_value(
        reward=df["click"].to_numpy(dtype=float), action=df["item_id"].to_numpy(),
        position=df["position"].to_numpy() - 1, action_dist=action_dist, estimated_importance_weights=w)
    report = reckit.offline_ab(LOG, targets={"ts": TARGET}, k=K, bootstrap=0, balanced_ipw=c, reward_models=False)
    got = report.estimate("ts", "BIPW")
    assert got["value"] == pytest.approx(want, rel=1e-9, abs=0)
    assert got["low"] < got["value"] < got["high"]
    # Not IPW in disguise: the classifier's weights are not the exact ones.
    assert got["value"] != pytest.approx(report.estimate("ts", "SNIPS")["value"], rel=1e-3)


def test_balanced_ipw_needs_a_positive_c():
    for bad in (0, -1.0, float("inf"), True, "1"):
        with pytest.raises(ValueError, match="balanced_ipw"):
            reckit.offline_ab(LOG, targets={"ts": TARGET}, k=K, bootstrap=0, balanced_ipw=bad)
