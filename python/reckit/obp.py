"""reckit.obp: the Open Bandit Pipeline's off-policy estimators, computed by RecKit.

A drop-in for OBP notebooks: the same class names, parameter names and results as
``obp.ope`` for IPW, SNIPW, DM, DR, SwitchDR, SNDR, DRos, the sub-Gaussian IPW and DR, B-IPW
(on given importance weights), and the slate estimators SIPS, IIPS, RIPS and their
self-normalised versions (``SlateStandardIPS(len_list=3).estimate_policy_value(slate_id, reward,
position, pscore, evaluation_policy_pscore)``, OBP's arguments), taking OBP's own ``bandit_feedback`` dict and
``action_dist`` array (``n_rounds × n_actions × len_list``) and, for the DM and DR family,
``estimated_rewards_by_reg_model`` (the same shape, from OBP's ``RegressionModel`` or any other)::

    from reckit.obp import (OffPolicyEvaluation, InverseProbabilityWeighting as IPW,
                            DirectMethod as DM, DoublyRobust as DR)
    ope = OffPolicyEvaluation(bandit_feedback=bandit_feedback, ope_estimators=[IPW(), DM(), DR()])
    ope.estimate_policy_values(action_dist, estimated_rewards_by_reg_model=q_hat)

RecKit computes each round's reward (``reckit_obp_round_rewards``, on the arrays in place); the
policy value is their mean and the bootstrap interval resamples them with OBP's procedure
(``numpy.random.RandomState(random_state)``, percentiles), so intervals equal OBP's for the same
``random_state``.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass

import numpy as np

from . import _check, _lib

__all__ = [
    "InverseProbabilityWeighting",
    "SelfNormalizedInverseProbabilityWeighting",
    "DirectMethod",
    "DoublyRobust",
    "SwitchDoublyRobust",
    "SelfNormalizedDoublyRobust",
    "DoublyRobustWithShrinkage",
    "SubGaussianInverseProbabilityWeighting",
    "SubGaussianDoublyRobust",
    "BalancedInverseProbabilityWeighting",
    "SlateStandardIPS",
    "SlateIndependentIPS",
    "SlateRewardInteractionIPS",
    "SelfNormalizedSlateStandardIPS",
    "SelfNormalizedSlateIndependentIPS",
    "SelfNormalizedSlateRewardInteractionIPS",
    "OffPolicyEvaluation",
    "estimate_confidence_interval_by_bootstrap",
]

_d = ctypes.POINTER(ctypes.c_double)
_l = ctypes.POINTER(ctypes.c_int64)
_lib.reckit_obp_round_rewards.argtypes = [ctypes.c_int32, ctypes.c_double, ctypes.c_int64, ctypes.c_int64,
                                          ctypes.c_int64, _l, _l, _d, _d, _d, _d, _d]
_lib.reckit_obp_round_rewards.restype = ctypes.c_int32
_lib.reckit_obp_slate_row_terms.argtypes = [ctypes.c_int32, ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, _l, _d,
                                            _d, _d, _d]
_lib.reckit_obp_slate_row_terms.restype = ctypes.c_int32


def _array(value, name: str, dtype, ndim: int) -> np.ndarray:
    if value is None:
        raise ValueError(f"{name}: required")
    try:
        a = np.asarray(value)
    except Exception as e:  # noqa: BLE001
        raise TypeError(f"{name}: cannot be read as an array ({e})") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numbers, got dtype {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {a.shape}")
    if dtype == np.int64 and a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError(f"{name}: expected integers")
    return np.ascontiguousarray(a, dtype=dtype)


def _round_rewards(code: int, lambda_: float, reward, action, position, pscore, action_dist,
                   estimated_rewards_by_reg_model=None) -> np.ndarray:
    dist = _array(action_dist, "action_dist", np.float64, 3)
    n, actions, positions = dist.shape
    act = _array(action, "action", np.int64, 1)
    pos = np.zeros(n, dtype=np.int64) if position is None else _array(position, "position", np.int64, 1)
    rew = _array(reward, "reward", np.float64, 1)
    ps = _array(pscore, "pscore", np.float64, 1)
    for name, a in (("action", act), ("position", pos), ("reward", rew), ("pscore", ps)):
        if a.shape[0] != n:
            raise ValueError(f"{name}: expected {n} values (action_dist's rounds), got {a.shape[0]}")
    q = None
    if estimated_rewards_by_reg_model is not None:
        q = _array(estimated_rewards_by_reg_model, "estimated_rewards_by_reg_model", np.float64, 3)
        if q.shape != dist.shape:
            raise ValueError(f"estimated_rewards_by_reg_model: expected shape {dist.shape} (action_dist's), "
                             f"got {q.shape}")
    if isinstance(lambda_, bool) or not isinstance(lambda_, (int, float, np.floating, np.integer)) \
            or math.isnan(lambda_) or lambda_ < 0:
        raise ValueError(f"lambda_: expected a non-negative number, got {lambda_!r}")
    out = np.empty(n, dtype=np.float64)
    _check(_lib.reckit_obp_round_rewards(
        code, float(lambda_), n, actions, positions, act.ctypes.data_as(_l), pos.ctypes.data_as(_l),
        rew.ctypes.data_as(_d), ps.ctypes.data_as(_d), dist.ctypes.data_as(_d),
        None if q is None else q.ctypes.data_as(_d), out.ctypes.data_as(_d)))
    return out


def estimate_confidence_interval_by_bootstrap(samples, alpha: float = 0.05, n_bootstrap_samples: int = 10000,
                                              random_state=None) -> dict:
    """OBP's bootstrap interval of a mean: ``n_bootstrap_samples`` resamples drawn by
    ``RandomState(random_state)`` in OBP's order, the mean of their means and the
    ``alpha / 2`` and ``1 − alpha / 2`` percentiles (vectorised: the same draws, in blocks)."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(f"samples: expected a non-empty 1-D array, got shape {samples.shape}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"alpha: expected a number in (0, 1), got {alpha!r}")
    if isinstance(n_bootstrap_samples, bool) or not isinstance(n_bootstrap_samples, (int, np.integer)) \
            or n_bootstrap_samples < 1:
        raise ValueError(f"n_bootstrap_samples: expected a positive int, got {n_bootstrap_samples!r}")
    rng = random_state if isinstance(random_state, np.random.RandomState) else np.random.RandomState(random_state)
    n = samples.shape[0]
    means = np.empty(n_bootstrap_samples)
    block = max(1, min(n_bootstrap_samples, (1 << 22) // n))
    for start in range(0, n_bootstrap_samples, block):
        stop = min(start + block, n_bootstrap_samples)
        # RandomState.choice(samples, size=n) draws randint(0, n, size=n); consecutive calls
        # continue one stream, so a (block, n) draw gives the same indices in the same order.
        idx = rng.randint(0, n, size=(stop - start, n))
        means[start:stop] = samples[idx].mean(axis=1)
    level = 100 * (1.0 - alpha)
    return {
        "mean": np.mean(means),
        f"{level}% CI (lower)": np.percentile(means, 100 * (alpha / 2)),
        f"{level}% CI (upper)": np.percentile(means, 100 * (1.0 - alpha / 2)),
    }


@dataclass
class _Estimator:
    estimator_name: str = ""
    _code = -1
    _needs_model = False

    def _lambda(self) -> float:
        return getattr(self, "lambda_", math.inf)

    def _estimate_round_rewards(self, reward, action, pscore=None, action_dist=None, position=None,
                                estimated_rewards_by_reg_model=None, **_) -> np.ndarray:
        if self._needs_model and estimated_rewards_by_reg_model is None:
            raise ValueError(f"{self.estimator_name}: estimated_rewards_by_reg_model is required")
        if pscore is None and self._code != 2:
            raise ValueError(f"{self.estimator_name}: pscore is required")
        if pscore is None:
            pscore = np.ones(len(np.asarray(action)))
        return _round_rewards(self._code, self._lambda(), reward, action, position, pscore, action_dist,
                              estimated_rewards_by_reg_model if self._needs_model else None)

    def estimate_policy_value(self, reward=None, action=None, action_dist=None, pscore=None, position=None,
                              estimated_rewards_by_reg_model=None, **kwargs) -> float:
        """The estimated policy value (the mean of the round rewards), as OBP's."""
        return self._estimate_round_rewards(
            reward=reward, action=action, pscore=pscore, action_dist=action_dist, position=position,
            estimated_rewards_by_reg_model=estimated_rewards_by_reg_model).mean()

    def estimate_interval(self, reward=None, action=None, action_dist=None, pscore=None, position=None,
                          estimated_rewards_by_reg_model=None, alpha: float = 0.05, n_bootstrap_samples: int = 10000,
                          random_state=None, **kwargs) -> dict:
        """OBP's bootstrap interval of the policy value."""
        rounds = self._estimate_round_rewards(
            reward=reward, action=action, pscore=pscore, action_dist=action_dist, position=position,
            estimated_rewards_by_reg_model=estimated_rewards_by_reg_model)
        return estimate_confidence_interval_by_bootstrap(rounds, alpha=alpha, n_bootstrap_samples=n_bootstrap_samples,
                                                         random_state=random_state)


@dataclass
class InverseProbabilityWeighting(_Estimator):
    """IPW: mean of ``min(w, lambda_) · reward`` with ``w = action_dist[t, a_t, p_t] / pscore_t``."""

    lambda_: float = np.inf
    estimator_name: str = "ipw"
    _code = 0



@dataclass
class SelfNormalizedInverseProbabilityWeighting(_Estimator):
    """SNIPW: ``Σ w · reward / Σ w``."""

    estimator_name: str = "snipw"
    _code = 1


@dataclass
class DirectMethod(_Estimator):
    """DM: the mean over rounds of ``Σ_a action_dist · q̂`` at the round's position (weighted average)."""

    estimator_name: str = "dm"
    _code = 2
    _needs_model = True


@dataclass
class DoublyRobust(_Estimator):
    """DR: DM plus ``min(w, lambda_) · (reward − q̂(a_t))``."""

    lambda_: float = np.inf
    estimator_name: str = "dr"
    _code = 3
    _needs_model = True



@dataclass
class SwitchDoublyRobust(_Estimator):
    """SwitchDR: DM plus ``1[w ≤ lambda_] · w · (reward − q̂(a_t))``."""

    lambda_: float = np.inf
    estimator_name: str = "switch-dr"
    _code = 4
    _needs_model = True



@dataclass
class SelfNormalizedDoublyRobust(_Estimator):
    """SNDR: DM plus ``w · (reward − q̂(a_t)) / mean(w)``."""

    estimator_name: str = "sndr"
    _code = 5
    _needs_model = True


@dataclass
class DoublyRobustWithShrinkage(_Estimator):
    """DRos: DM plus ``lambda_ · w / (w² + lambda_) · (reward − q̂(a_t))`` (``w`` at ``lambda_ = inf``)."""

    lambda_: float = 0.0
    estimator_name: str = "dr-os"
    _code = 6
    _needs_model = True


@dataclass
class SubGaussianInverseProbabilityWeighting(_Estimator):
    """Sub-Gaussian IPW: mean of ``w / (1 − lambda_ + lambda_ · w) · reward``, ``lambda_`` in [0, 1]."""

    lambda_: float = 0.0
    estimator_name: str = "sg-ipw"
    _code = 7


@dataclass
class SubGaussianDoublyRobust(_Estimator):
    """Sub-Gaussian DR: DM plus ``w / (1 − lambda_ + lambda_ · w) · (reward − q̂(a_t))``."""

    lambda_: float = 0.0
    estimator_name: str = "sg-dr"
    _code = 8
    _needs_model = True


@dataclass
class BalancedInverseProbabilityWeighting:
    """B-IPW on given weights (OBP's class): ``min(ŵ, lambda_) · reward / mean(min(ŵ, lambda_))``.
    ``estimated_importance_weights`` come from a classifier (OBP's ``ImportanceWeightEstimator``;
    ``reckit.offline_ab(..., balanced_ipw=C)`` fits RecKit's own from a log); this is the arithmetic
    on them, in numpy."""

    lambda_: float = np.inf
    estimator_name: str = "b-ipw"

    def _estimate_round_rewards(self, reward, action, estimated_importance_weights, action_dist=None,
                                position=None, **_) -> np.ndarray:
        if estimated_importance_weights is None:
            raise ValueError(f"{self.estimator_name}: estimated_importance_weights is required")
        rew = _array(reward, "reward", np.float64, 1)
        iw = _array(estimated_importance_weights, "estimated_importance_weights", np.float64, 1)
        if iw.shape != rew.shape:
            raise ValueError(f"estimated_importance_weights: expected {rew.shape[0]} values (reward's), "
                             f"got {iw.shape[0]}")
        if not np.all(np.isfinite(iw)) or np.any(iw < 0):
            raise ValueError("estimated_importance_weights: expected finite non-negative values")
        if isinstance(self.lambda_, bool) or not isinstance(self.lambda_, (int, float, np.floating, np.integer)) \
                or math.isnan(self.lambda_) or self.lambda_ <= 0:
            raise ValueError(f"lambda_: expected a positive number, got {self.lambda_!r}")
        iw = np.minimum(iw, self.lambda_)
        return rew * iw / iw.mean()

    def estimate_policy_value(self, reward=None, action=None, estimated_importance_weights=None, action_dist=None,
                              position=None, **kwargs) -> float:
        """The estimated policy value, as OBP's."""
        return self._estimate_round_rewards(reward, action, estimated_importance_weights, action_dist,
                                            position).mean()

    def estimate_interval(self, reward=None, action=None, estimated_importance_weights=None, action_dist=None,
                          position=None, alpha: float = 0.05, n_bootstrap_samples: int = 10000, random_state=None,
                          **kwargs) -> dict:
        """OBP's bootstrap interval of the policy value."""
        rounds = self._estimate_round_rewards(reward, action, estimated_importance_weights, action_dist, position)
        return estimate_confidence_interval_by_bootstrap(rounds, alpha=alpha, n_bootstrap_samples=n_bootstrap_samples,
                                                         random_state=random_state)


@dataclass
class _SlateIPS:
    """OBP's slate IPS classes (``obp.ope.SlateStandardIPS`` and the rest): RecKit computes each
    row's term r·w (``reckit_obp_slate_row_terms``); the policy value is their sum over the number
    of distinct slates, the interval OBP's bootstrap of the per-slate sums (slates in sorted
    ``slate_id`` order, as OBP's ``np.unique``)."""
    len_list: int
    estimator_name: str = ""
    _code = 0
    _self_normalized = 0
    _pscore_names = ("pscore", "evaluation_policy_pscore")

    def __post_init__(self):
        if isinstance(self.len_list, bool) or not isinstance(self.len_list, (int, np.integer)) or self.len_list < 1:
            raise ValueError(f"len_list: expected a positive int, got {self.len_list!r}")

    def _terms(self, slate_id, reward, position, logging, target):
        logging_name, target_name = self._pscore_names
        pos = _array(position, "position", np.int64, 1)
        n = pos.shape[0]
        rew = _array(reward, "reward", np.float64, 1)
        ps = _array(logging, logging_name, np.float64, 1)
        ev = _array(target, target_name, np.float64, 1)
        ids = np.asarray(slate_id)
        if ids.ndim != 1:
            raise ValueError(f"slate_id: expected a 1-D array, got shape {ids.shape}")
        for name, a in (("slate_id", ids), ("reward", rew), (logging_name, ps), (target_name, ev)):
            if a.shape[0] != n:
                raise ValueError(f"{name}: expected {n} values (position's), got {a.shape[0]}")
        if n == 0:
            raise ValueError("position: expected at least one row")
        out = np.empty(n, dtype=np.float64)
        _check(_lib.reckit_obp_slate_row_terms(
            self._code, self._self_normalized, int(self.len_list), n, pos.ctypes.data_as(_l), rew.ctypes.data_as(_d),
            ps.ctypes.data_as(_d), ev.ctypes.data_as(_d), out.ctypes.data_as(_d)))
        return ids, out

    def _value(self, slate_id, reward, position, logging, target) -> float:
        ids, terms = self._terms(slate_id, reward, position, logging, target)
        return terms.sum() / np.unique(ids).shape[0]

    def _interval(self, slate_id, reward, position, logging, target, alpha, n_bootstrap_samples,
                  random_state) -> dict:
        ids, terms = self._terms(slate_id, reward, position, logging, target)
        unique, inverse = np.unique(ids, return_inverse=True)
        sums = np.zeros(unique.shape[0])
        np.add.at(sums, inverse, terms)
        return estimate_confidence_interval_by_bootstrap(sums, alpha=alpha, n_bootstrap_samples=n_bootstrap_samples,
                                                         random_state=random_state)


@dataclass
class SlateStandardIPS(_SlateIPS):
    """SIPS: whole-slate weights ``evaluation_policy_pscore / pscore`` (OBP's
    ``SlateStandardIPS``)."""
    estimator_name: str = "sips"

    def estimate_policy_value(self, slate_id, reward, position, pscore, evaluation_policy_pscore, **kwargs) -> float:
        return self._value(slate_id, reward, position, pscore, evaluation_policy_pscore)

    def estimate_interval(self, slate_id, reward, position, pscore, evaluation_policy_pscore, alpha: float = 0.05,
                          n_bootstrap_samples: int = 10000, random_state=None, **kwargs) -> dict:
        return self._interval(slate_id, reward, position, pscore, evaluation_policy_pscore, alpha,
                              n_bootstrap_samples, random_state)


@dataclass
class SlateIndependentIPS(_SlateIPS):
    """IIPS: item-position weights (OBP's ``SlateIndependentIPS``)."""
    estimator_name: str = "iips"
    _code = 1
    _pscore_names = ("pscore_item_position", "evaluation_policy_pscore_item_position")

    def estimate_policy_value(self, slate_id, reward, position, pscore_item_position,
                              evaluation_policy_pscore_item_position, **kwargs) -> float:
        return self._value(slate_id, reward, position, pscore_item_position, evaluation_policy_pscore_item_position)

    def estimate_interval(self, slate_id, reward, position, pscore_item_position,
                          evaluation_policy_pscore_item_position, alpha: float = 0.05,
                          n_bootstrap_samples: int = 10000, random_state=None, **kwargs) -> dict:
        return self._interval(slate_id, reward, position, pscore_item_position,
                              evaluation_policy_pscore_item_position, alpha, n_bootstrap_samples, random_state)


@dataclass
class SlateRewardInteractionIPS(_SlateIPS):
    """RIPS: cascade weights (OBP's ``SlateRewardInteractionIPS``)."""
    estimator_name: str = "rips"
    _code = 2
    _pscore_names = ("pscore_cascade", "evaluation_policy_pscore_cascade")

    def estimate_policy_value(self, slate_id, reward, position, pscore_cascade, evaluation_policy_pscore_cascade,
                              **kwargs) -> float:
        return self._value(slate_id, reward, position, pscore_cascade, evaluation_policy_pscore_cascade)

    def estimate_interval(self, slate_id, reward, position, pscore_cascade, evaluation_policy_pscore_cascade,
                          alpha: float = 0.05, n_bootstrap_samples: int = 10000, random_state=None, **kwargs) -> dict:
        return self._interval(slate_id, reward, position, pscore_cascade, evaluation_policy_pscore_cascade, alpha,
                              n_bootstrap_samples, random_state)


@dataclass
class SelfNormalizedSlateStandardIPS(SlateStandardIPS):
    """SNSIPS: SIPS with the weights over their mean (OBP's ``SelfNormalizedSlateStandardIPS``)."""
    estimator_name: str = "snsips"
    _self_normalized = 1


@dataclass
class SelfNormalizedSlateIndependentIPS(SlateIndependentIPS):
    """SNIIPS: IIPS with the weights over their mean per position."""
    estimator_name: str = "sniips"
    _self_normalized = 1


@dataclass
class SelfNormalizedSlateRewardInteractionIPS(SlateRewardInteractionIPS):
    """SNRIPS: RIPS with the weights over their mean per position."""
    estimator_name: str = "snrips"
    _self_normalized = 1


class OffPolicyEvaluation:
    """OBP's ``OffPolicyEvaluation`` over RecKit's estimators: ``bandit_feedback`` (OBP's dict:
    ``action``, ``reward``, ``pscore``, ``position``), ``ope_estimators`` (a list of the classes
    above)."""

    def __init__(self, bandit_feedback: dict, ope_estimators: list):
        if not isinstance(bandit_feedback, dict):
            raise TypeError(f"bandit_feedback: expected OBP's dict, got {type(bandit_feedback).__name__}")
        for key in ("action", "reward"):
            if key not in bandit_feedback:
                raise ValueError(f"bandit_feedback: missing key {key!r}")
        if not ope_estimators:
            raise ValueError("ope_estimators: give at least one estimator")
        for e in ope_estimators:
            if not isinstance(e, (_Estimator, BalancedInverseProbabilityWeighting)):
                raise TypeError(f"ope_estimators: {e!r} is not a reckit.obp estimator")
        self.bandit_feedback = bandit_feedback
        self.ope_estimators = list(ope_estimators)
        self.ope_estimators_ = {e.estimator_name: e for e in self.ope_estimators}

    def _inputs(self, action_dist, estimated_rewards_by_reg_model, estimated_importance_weights=None) -> dict:
        bf = self.bandit_feedback
        return dict(reward=bf["reward"], action=bf["action"], pscore=bf.get("pscore"), position=bf.get("position"),
                    action_dist=action_dist, estimated_rewards_by_reg_model=estimated_rewards_by_reg_model,
                    estimated_importance_weights=estimated_importance_weights)

    def _model_for(self, name, estimated_rewards_by_reg_model):
        if isinstance(estimated_rewards_by_reg_model, dict):
            return estimated_rewards_by_reg_model.get(name)
        return estimated_rewards_by_reg_model

    def estimate_policy_values(self, action_dist, estimated_rewards_by_reg_model=None,
                               estimated_importance_weights=None, **kwargs) -> dict:
        """``{estimator_name: policy value}``; ``estimated_importance_weights`` (an array, or a dict
        by estimator name) feeds B-IPW."""
        return {
            name: e.estimate_policy_value(**self._inputs(
                action_dist, self._model_for(name, estimated_rewards_by_reg_model),
                self._model_for(name, estimated_importance_weights)))
            for name, e in self.ope_estimators_.items()
        }

    def estimate_intervals(self, action_dist, estimated_rewards_by_reg_model=None, alpha: float = 0.05,
                           n_bootstrap_samples: int = 100, random_state=None, estimated_importance_weights=None,
                           **kwargs) -> dict:
        """``{estimator_name: {"mean", "95.0% CI (lower)", "95.0% CI (upper)"}}`` (OBP's bootstrap)."""
        return {
            name: e.estimate_interval(alpha=alpha, n_bootstrap_samples=n_bootstrap_samples, random_state=random_state,
                                      **self._inputs(action_dist, self._model_for(name, estimated_rewards_by_reg_model),
                                                     self._model_for(name, estimated_importance_weights)))
            for name, e in self.ope_estimators_.items()
        }

    def summarize_off_policy_estimates(self, action_dist, estimated_rewards_by_reg_model=None, alpha: float = 0.05,
                                       n_bootstrap_samples: int = 100, random_state=None, **kwargs):
        """Two pandas DataFrames, as OBP's: the policy values (with ``relative_estimated_policy_value``
        against the logged mean reward) and the intervals, one row per estimator."""
        import pandas as pd
        values = pd.DataFrame(self.estimate_policy_values(action_dist, estimated_rewards_by_reg_model),
                              index=["estimated_policy_value"]).T
        values["relative_estimated_policy_value"] = values["estimated_policy_value"] / np.mean(
            self.bandit_feedback["reward"])
        intervals = pd.DataFrame(self.estimate_intervals(action_dist, estimated_rewards_by_reg_model, alpha=alpha,
                                                         n_bootstrap_samples=n_bootstrap_samples,
                                                         random_state=random_state)).T
        return values, intervals
