"""reckit.obp's tuning classes (SLOPE and MSE) and MIPS against the Open Bandit Pipeline itself
(sb-obp in the test venv) on OBP's synthetic data with action embeddings: the same chosen
hyperparameters, policy values and bootstrap intervals."""

import itertools

import numpy as np
import pytest

import reckit.obp as rob

obp = pytest.importorskip("obp")
import obp.ope as oope  # noqa: E402
import obp.ope.estimators_embed as obp_embed  # noqa: E402
from obp.dataset import SyntheticBanditDatasetWithActionEmbeds  # noqa: E402
from scipy import stats  # noqa: E402
from sklearn.preprocessing import OneHotEncoder  # noqa: E402


@pytest.fixture(scope="module")
def data():
    ds = SyntheticBanditDatasetWithActionEmbeds(n_actions=20, dim_context=5, n_cat_per_dim=4, n_cat_dim=3, beta=-1,
                                                reward_type="binary", random_state=12345)
    bf = ds.obtain_batch_bandit_feedback(n_rounds=3000)
    rng = np.random.RandomState(7)
    # A target far from the logging policy (weights up to ~30), and a noisy reward model.
    logits = 4.0 * bf["expected_reward"] + rng.normal(0, 0.5, size=bf["expected_reward"].shape)
    action_dist = np.exp(logits - logits.max(1, keepdims=True))
    action_dist /= action_dist.sum(1, keepdims=True)
    action_dist = action_dist[:, :, None]
    q_hat = np.clip(bf["expected_reward"] + rng.normal(0, 0.1, size=bf["expected_reward"].shape), 0, 1)[:, :, None]
    return bf, action_dist, q_hat


TUNING = [
    (oope.InverseProbabilityWeightingTuning, rob.InverseProbabilityWeightingTuning, [1.0, 2.0, 5.0, 10.0, 50.0, np.inf]),
    (oope.DoublyRobustTuning, rob.DoublyRobustTuning, [1.0, 2.0, 5.0, 10.0, 50.0, np.inf]),
    (oope.SwitchDoublyRobustTuning, rob.SwitchDoublyRobustTuning, [1.0, 2.0, 5.0, 10.0, 50.0, np.inf]),
    (oope.DoublyRobustWithShrinkageTuning, rob.DoublyRobustWithShrinkageTuning, [1.0, 10.0, 100.0, 1000.0, np.inf]),
    (oope.SubGaussianInverseProbabilityWeightingTuning, rob.SubGaussianInverseProbabilityWeightingTuning,
     [0.0, 0.01, 0.05, 0.1, 0.3, 1.0]),
    (oope.SubGaussianDoublyRobustTuning, rob.SubGaussianDoublyRobustTuning, [0.0, 0.01, 0.05, 0.1, 0.3, 1.0]),
]


@pytest.mark.parametrize("method,upper,delta", [("slope", True, 0.1), ("slope", True, 0.5), ("mse", True, 0.1),
                                                ("mse", False, 0.05)])
def test_tuning_equals_obps(data, method, upper, delta):
    bf, action_dist, q_hat = data
    kw = dict(reward=bf["reward"], action=bf["action"], action_dist=action_dist, pscore=bf["pscore"],
              position=bf["position"], estimated_rewards_by_reg_model=q_hat)
    chosen = []
    for theirs_cls, ours_cls, lambdas in TUNING:
        theirs = theirs_cls(lambdas=list(lambdas), tuning_method=method, use_bias_upper_bound=upper, delta=delta)
        ours = ours_cls(lambdas=list(lambdas), tuning_method=method, use_bias_upper_bound=upper, delta=delta)
        want, got = theirs.estimate_policy_value(**kw), ours.estimate_policy_value(**kw)
        assert ours.best_hyperparam == theirs.best_hyperparam, (ours.estimator_name, method)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-15), (ours.estimator_name, method)
        chosen.append(ours.lambdas.index(ours.best_hyperparam))
        if method == "mse":
            assert list(ours.estimated_mse_score_dict) == list(theirs.estimated_mse_score_dict)
            for lam, score in theirs.estimated_mse_score_dict.items():
                assert ours.estimated_mse_score_dict[lam] == pytest.approx(score, rel=1e-9)
    # The choice depends on the data and the estimator (not always the first or last candidate).
    if delta != 0.5:
        assert len(set(chosen)) >= 2, chosen


def test_tuning_intervals_and_off_policy_evaluation_equal_obps(data):
    bf, action_dist, q_hat = data
    theirs = [c(lambdas=list(lam), estimator_name=f"{c.__name__}") for c, _, lam in TUNING]
    ours = [c(lambdas=list(lam), estimator_name=f"{t.__name__}") for t, c, lam in TUNING]
    want = oope.OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=theirs).estimate_intervals(
        action_dist, estimated_rewards_by_reg_model=q_hat, n_bootstrap_samples=200, random_state=3)
    got = rob.OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=ours).estimate_intervals(
        action_dist, estimated_rewards_by_reg_model=q_hat, n_bootstrap_samples=200, random_state=3)
    assert got.keys() == want.keys()
    for name in want:
        for key in want[name]:
            assert got[name][key] == pytest.approx(want[name][key], rel=1e-9), (name, key)
    for t, o in zip(theirs, ours):
        assert o.best_hyperparam == t.best_hyperparam


def _slope_written_out(theta, cnf):
    """OBP's `_tune_hyperparam_with_slope` loop, on given estimates and widths."""
    c = np.sqrt(6) - 1
    kept_t, kept_c = [], []
    order = np.argsort(cnf)[::-1]
    for i, idx in enumerate(order):
        if not kept_t or (np.abs(np.array(kept_t) - theta[idx]) <= cnf[idx] + c * np.array(kept_c)).all():
            kept_t.append(theta[idx]), kept_c.append(cnf[idx])
        else:
            return order[i - 1]
    return order[-1]


def test_slope_rule_equals_the_written_out_loop():
    rng = np.random.RandomState(11)
    seen = set()
    for _ in range(2000):
        k = rng.randint(1, 9)
        theta = rng.normal(0, 1, size=k)
        cnf = rng.exponential(1.0, size=k)
        want = _slope_written_out(theta, cnf)
        assert rob._slope_choice(theta, cnf) == want
        seen.add((k, int(want) == int(np.argsort(cnf)[::-1][-1])))
    assert (5, True) in seen and (5, False) in seen  # both stops happen
    with pytest.raises(reckit_error()):
        rob._slope_choice([0.1, np.nan], [1.0, 1.0])


def reckit_error():
    import reckit
    return reckit.ReckitError


def test_student_t_quantile_equals_scipys():
    for p, nu in itertools.product([0.55, 0.9, 0.95, 0.975, 0.999], [1, 2, 7, 30, 2999, 1e6]):
        assert rob._t_quantile(p, nu) == pytest.approx(stats.t(nu).ppf(p), rel=1e-10), (p, nu)


@pytest.fixture
def sparse_encoder(monkeypatch):
    """OBP 0.5 calls OneHotEncoder(sparse=False), a keyword scikit-learn ≥ 1.4 no longer has."""
    def encoder(sparse=False, **kw):
        return OneHotEncoder(sparse_output=sparse, **kw)
    monkeypatch.setattr(obp_embed, "OneHotEncoder", encoder)


MIPS = [(oope.MarginalizedInverseProbabilityWeighting, rob.MarginalizedInverseProbabilityWeighting),
        (oope.SelfNormalizedMarginalizedInverseProbabilityWeighting,
         rob.SelfNormalizedMarginalizedInverseProbabilityWeighting)]


@pytest.mark.parametrize("selection", [None, "exact", "greedy"])
@pytest.mark.parametrize("known", [True, False])
def test_mips_equals_obps(data, sparse_encoder, selection, known):
    bf, action_dist, _ = data
    kw = dict(reward=bf["reward"], action=bf["action"], action_embed=bf["action_embed"], pi_b=bf["pi_b"],
              action_dist=action_dist, context=bf["context"], p_e_a=bf["p_e_a"] if known else None)
    for theirs_cls, ours_cls in MIPS:
        theirs = theirs_cls(n_actions=bf["n_actions"], embedding_selection_method=selection, delta=0.3)
        ours = ours_cls(n_actions=bf["n_actions"], embedding_selection_method=selection, delta=0.3)
        want, got = theirs.estimate_policy_value(**kw), ours.estimate_policy_value(**kw)
        assert got == pytest.approx(want, rel=1e-9), (ours.estimator_name, selection, known)
        if selection is None:
            a = theirs.estimate_interval(**kw, n_bootstrap_samples=200, random_state=5)
            b = ours.estimate_interval(**kw, n_bootstrap_samples=200, random_state=5)
            for key in a:
                assert b[key] == pytest.approx(a[key], rel=1e-9), key


def test_mips_weights_against_the_formula(data):
    """The weights written out (one loop per round, no matrix products) for a two-position target."""
    bf, action_dist, _ = data
    n = 200
    rng = np.random.RandomState(2)
    pi_b = rng.dirichlet(np.ones(20), size=(n, 2)).transpose(0, 2, 1)
    pi_e = rng.dirichlet(np.ones(20), size=(n, 2)).transpose(0, 2, 1)
    pos = rng.randint(0, 2, size=n)
    emb, pea = bf["action_embed"][:n], bf["p_e_a"]
    m = rob.MarginalizedInverseProbabilityWeighting(n_actions=20)
    got = m._estimate_round_rewards(reward=np.ones(n), action=bf["action"][:n], action_embed=emb, pi_b=pi_b,
                                    action_dist=pi_e, position=pos, p_e_a=pea)
    for t in range(n):
        num = den = 1.0
        for d in range(3):
            num *= sum(pi_e[t, a, pos[t]] * pea[a, emb[t, d], d] for a in range(20))
            den *= sum(pi_b[t, a, pos[t]] * pea[a, emb[t, d], d] for a in range(20))
        assert got[t] == pytest.approx(num / den, rel=1e-12)
    assert m.max_w_x_e == got.max()


def test_mips_in_off_policy_evaluation(data):
    bf, action_dist, _ = data
    theirs = oope.OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[
        oope.MarginalizedInverseProbabilityWeighting(n_actions=20), oope.InverseProbabilityWeighting()])
    ours = rob.OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[
        rob.MarginalizedInverseProbabilityWeighting(n_actions=20), rob.InverseProbabilityWeighting()])
    kw = dict(action_embed=bf["action_embed"], pi_b=bf["pi_b"], p_e_a={"mipw": bf["p_e_a"]})
    want = theirs.estimate_policy_values(action_dist, **kw)
    got = ours.estimate_policy_values(action_dist, **kw)
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-9), name
    assert got["mipw"] != got["ipw"]


def test_bad_input_names_the_argument(data):
    bf, action_dist, q_hat = data
    kw = dict(reward=bf["reward"], action=bf["action"], action_embed=bf["action_embed"], pi_b=bf["pi_b"],
              action_dist=action_dist, p_e_a=bf["p_e_a"])
    m = rob.MarginalizedInverseProbabilityWeighting(n_actions=20)
    with pytest.raises(ValueError, match="p_e_a"):
        m.estimate_policy_value(**{**kw, "p_e_a": bf["p_e_a"][:, :, :2]})
    bad = bf["action_embed"].copy()
    bad[17, 1] = 4
    with pytest.raises(reckit_error(), match=r"action_embed\[17, 1\]"):
        m.estimate_policy_value(**{**kw, "action_embed": bad})
    zero = bf["pi_b"].copy()
    zero[:] = 0
    with pytest.raises(reckit_error(), match="pi_b"):
        m.estimate_policy_value(**{**kw, "pi_b": zero})
    with pytest.raises(ValueError, match="pi_b"):
        m.estimate_policy_value(**{**kw, "pi_b": bf["pi_b"][:10]})
    with pytest.raises(ValueError, match="context"):
        m.estimate_policy_value(**{**kw, "p_e_a": None})
    with pytest.raises(ValueError, match="n_actions"):
        rob.MarginalizedInverseProbabilityWeighting(n_actions=1)
    with pytest.raises(ValueError, match="embedding_selection_method"):
        rob.MarginalizedInverseProbabilityWeighting(n_actions=20, embedding_selection_method="best")
    with pytest.raises(ValueError, match="lambdas"):
        rob.InverseProbabilityWeightingTuning(lambdas=[])
    with pytest.raises(ValueError, match="lambdas"):
        rob.InverseProbabilityWeightingTuning(lambdas=[1.0, -2.0])
    with pytest.raises(ValueError, match="lambdas"):
        rob.SubGaussianInverseProbabilityWeightingTuning(lambdas=[0.1, 2.0])
    with pytest.raises(ValueError, match="tuning_method"):
        rob.DoublyRobustTuning(lambdas=[1.0], tuning_method="cv")
    with pytest.raises(ValueError, match="delta"):
        rob.DoublyRobustTuning(lambdas=[1.0], delta=1.0)
    t = rob.DoublyRobustTuning(lambdas=[1.0, 10.0], use_estimated_pscore=True)
    with pytest.raises(ValueError, match="estimated_pscore"):
        t.estimate_policy_value(reward=bf["reward"], action=bf["action"], action_dist=action_dist,
                                pscore=bf["pscore"], estimated_rewards_by_reg_model=q_hat)
