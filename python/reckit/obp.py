"""reckit.obp: the Open Bandit Pipeline's off-policy estimators, computed by RecKit.

A drop-in for OBP notebooks: the same class names, parameter names and results as
``obp.ope`` for IPW, SNIPW, DM, DR, SwitchDR, SNDR, DRos, the sub-Gaussian IPW and DR, B-IPW
(on given importance weights), and the slate estimators SIPS, IIPS, RIPS and their
self-normalised versions (``SlateStandardIPS(len_list=3).estimate_policy_value(slate_id, reward,
position, pscore, evaluation_policy_pscore)``, OBP's arguments), the tuning classes
(``InverseProbabilityWeightingTuning(lambdas=[...], tuning_method="slope")`` and the DR, SwitchDR,
DRos and sub-Gaussian ones: SLOPE or the estimated MSE picks the hyperparameter, reported as
``best_hyperparam``) and MIPS (``MarginalizedInverseProbabilityWeighting`` and its self-normalised
version, with a known ``p_e_a`` or a classifier, and OBP's embedding selection), taking OBP's own ``bandit_feedback`` dict and
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
import itertools
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
    "InverseProbabilityWeightingTuning",
    "DoublyRobustTuning",
    "SwitchDoublyRobustTuning",
    "DoublyRobustWithShrinkageTuning",
    "SubGaussianInverseProbabilityWeightingTuning",
    "SubGaussianDoublyRobustTuning",
    "MarginalizedInverseProbabilityWeighting",
    "SelfNormalizedMarginalizedInverseProbabilityWeighting",
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
_lib.reckit_obp_marginal_weights.argtypes = [ctypes.c_int64] * 5 + [_l, _l, _d, _d, _d, _d]
_lib.reckit_obp_marginal_weights.restype = ctypes.c_int32
_lib.reckit_slope_choice.argtypes = [ctypes.c_int64, _d, _d, _l]
_lib.reckit_slope_choice.restype = ctypes.c_int32
_lib.reckit_student_t_quantile.argtypes = [ctypes.c_double, ctypes.c_double, _d]
_lib.reckit_student_t_quantile.restype = ctypes.c_int32


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


def _t_quantile(p: float, nu: float) -> float:
    """The Student t quantile (RecKit's ``SpecialFunctions.studentTQuantile``; scipy's ``stats.t.ppf``)."""
    out = ctypes.c_double()
    _check(_lib.reckit_student_t_quantile(float(p), float(nu), ctypes.byref(out)))
    return out.value


def _slope_choice(estimates, widths) -> int:
    """SLOPE's choice (RecKit's ``SlopeSelection``, the rule of the engine's tuned estimators)."""
    theta = np.ascontiguousarray(estimates, dtype=np.float64)
    cnf = np.ascontiguousarray(widths, dtype=np.float64)
    out = ctypes.c_int64()
    _check(_lib.reckit_slope_choice(theta.shape[0], theta.ctypes.data_as(_d), cnf.ctypes.data_as(_d),
                                    ctypes.byref(out)))
    return int(out.value)


def _number(value, name: str, low: float, high: float, *, integer: bool = False):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer) if integer else
                                                 (int, float, np.integer, np.floating)) \
            or (not integer and math.isnan(value)) or not (low <= value <= high):
        kind = "an int" if integer else "a number"
        raise ValueError(f"{name}: expected {kind} in [{low}, {high}], got {value!r}")
    return value


@dataclass
class _Tuning:
    """OBP's ``*Tuning`` classes: each candidate in ``lambdas`` is the base estimator's
    hyperparameter; ``tuning_method="slope"`` picks one by SLOPE (RecKit's rule; widths are
    one-sided Student t bounds at 1 − ``delta``, OBP's ``estimate_student_t_lower_bound``),
    ``"mse"`` by the smallest estimated MSE (variance / n plus the squared bias, or its
    Bernstein upper bound with ``use_bias_upper_bound``; Su et al. 2020). As OBP, the choice is
    made on the first call and kept in ``best_hyperparam``; later calls reuse it."""

    lambdas: list = None
    tuning_method: str = "slope"
    use_bias_upper_bound: bool = True
    delta: float = 0.1
    use_estimated_pscore: bool = False
    estimator_name: str = ""
    _base = None
    _max_lambda = math.inf
    _sorted = True

    def __post_init__(self):
        if not isinstance(self.lambdas, (list, tuple)) or len(self.lambdas) == 0:
            raise ValueError(f"lambdas: expected a non-empty list of numbers, got {self.lambdas!r}")
        for v in self.lambdas:
            _number(v, "lambdas", 0.0, self._max_lambda)
        if self.tuning_method not in ("slope", "mse"):
            raise ValueError(f"tuning_method: expected 'slope' or 'mse', got {self.tuning_method!r}")
        for name in ("use_bias_upper_bound", "use_estimated_pscore"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name}: expected a bool, got {getattr(self, name)!r}")
        if isinstance(self.delta, bool) or not isinstance(self.delta, (int, float, np.floating)) \
                or not (0 < self.delta < 1):
            raise ValueError(f"delta: expected a number in (0, 1), got {self.delta!r}")
        # OBP sorts the clipping/switching candidates (IPW, DR, SwitchDR) from largest to smallest.
        self.lambdas = sorted(self.lambdas, reverse=True) if self._sorted else list(self.lambdas)

    def _estimator(self, lambda_):
        return self._base(lambda_=lambda_, estimator_name=self.estimator_name)

    def _modified_weights(self, iw, lambda_):
        return np.minimum(iw, lambda_)

    def _choose(self, reward, action, action_dist, pscore, position, estimated_rewards_by_reg_model) -> None:
        if hasattr(self, "best_hyperparam"):
            return
        rounds = [self._estimator(lam)._estimate_round_rewards(
            reward=reward, action=action, pscore=pscore, action_dist=action_dist, position=position,
            estimated_rewards_by_reg_model=estimated_rewards_by_reg_model) for lam in self.lambdas]
        n = rounds[0].shape[0]
        if n < 2:
            raise ValueError(f"reward: tuning needs at least 2 rounds, got {n}")
        if self.tuning_method == "slope":
            t = _t_quantile(1.0 - self.delta, n - 1)
            theta, cnf = [], []
            for r in rounds:
                m = r.mean()
                lower = m - np.sqrt(np.var(r) / (n - 1)) * t
                theta.append(m)
                cnf.append(m - lower)  # OBP's arithmetic: the mean less its lower bound
            self.best_hyperparam = self.lambdas[_slope_choice(theta, cnf)]
            return
        dist = _array(action_dist, "action_dist", np.float64, 3)
        act = _array(action, "action", np.int64, 1)
        pos = np.zeros(n, dtype=np.int64) if position is None else _array(position, "position", np.int64, 1)
        rew = _array(reward, "reward", np.float64, 1)
        iw = dist[np.arange(n), act, pos] / _array(pscore, "pscore", np.float64, 1)
        q = np.zeros(n) if estimated_rewards_by_reg_model is None or not self._base._needs_model else \
            _array(estimated_rewards_by_reg_model, "estimated_rewards_by_reg_model", np.float64, 3)[
                np.arange(n), act, pos]
        scores = {}
        for lam, r in zip(self.lambdas, rounds):
            bias = np.abs(((iw - self._modified_weights(iw, lam)) * (rew - q)).mean())
            if self.use_bias_upper_bound:
                bias += np.sqrt((2 * (iw**2).mean() * np.log(2 / self.delta)) / n)
                bias += (2 * iw.max() * np.log(2 / self.delta)) / (3 * n)
            scores[lam] = np.var(r) / n + bias**2
        self.estimated_mse_score_dict = scores
        self.best_hyperparam = min(scores.items(), key=lambda x: x[1])[0]

    def _pscore(self, pscore, estimated_pscore):
        if self.use_estimated_pscore:
            if estimated_pscore is None:
                raise ValueError(f"{self.estimator_name}: estimated_pscore is required (use_estimated_pscore=True)")
            return estimated_pscore
        if pscore is None:
            raise ValueError(f"{self.estimator_name}: pscore is required")
        return pscore

    def estimate_policy_value(self, reward=None, action=None, action_dist=None, estimated_rewards_by_reg_model=None,
                              pscore=None, position=None, estimated_pscore=None, **kwargs) -> float:
        """The policy value at the tuned hyperparameter (``best_hyperparam``), as OBP's."""
        ps = self._pscore(pscore, estimated_pscore)
        self._choose(reward, action, action_dist, ps, position, estimated_rewards_by_reg_model)
        return self._estimator(self.best_hyperparam).estimate_policy_value(
            reward=reward, action=action, action_dist=action_dist, pscore=ps, position=position,
            estimated_rewards_by_reg_model=estimated_rewards_by_reg_model)

    def estimate_interval(self, reward=None, action=None, action_dist=None, estimated_rewards_by_reg_model=None,
                          pscore=None, position=None, estimated_pscore=None, alpha: float = 0.05,
                          n_bootstrap_samples: int = 10000, random_state=None, **kwargs) -> dict:
        """OBP's bootstrap interval at the tuned hyperparameter (conditional on the choice)."""
        ps = self._pscore(pscore, estimated_pscore)
        self._choose(reward, action, action_dist, ps, position, estimated_rewards_by_reg_model)
        return self._estimator(self.best_hyperparam).estimate_interval(
            reward=reward, action=action, action_dist=action_dist, pscore=ps, position=position,
            estimated_rewards_by_reg_model=estimated_rewards_by_reg_model, alpha=alpha,
            n_bootstrap_samples=n_bootstrap_samples, random_state=random_state)


@dataclass
class InverseProbabilityWeightingTuning(_Tuning):
    """IPW with its clip ``lambda_`` tuned over ``lambdas`` (OBP's class)."""
    estimator_name: str = "ipw"
    _base = InverseProbabilityWeighting


@dataclass
class DoublyRobustTuning(_Tuning):
    """DR with its clip tuned over ``lambdas`` (OBP's class)."""
    estimator_name: str = "dr"
    _base = DoublyRobust


@dataclass
class SwitchDoublyRobustTuning(_Tuning):
    """SwitchDR with its threshold tuned over ``lambdas`` (OBP's class)."""
    estimator_name: str = "switch-dr"
    _base = SwitchDoublyRobust

    def _modified_weights(self, iw, lambda_):
        return iw * np.array(iw <= lambda_, dtype=int)


@dataclass
class DoublyRobustWithShrinkageTuning(_Tuning):
    """DRos with its shrinkage tuned over ``lambdas`` (OBP's class; candidates kept in the given order)."""
    estimator_name: str = "dr-os"
    _base = DoublyRobustWithShrinkage
    _sorted = False

    def _modified_weights(self, iw, lambda_):
        return (lambda_ * iw) / (iw**2 + lambda_) if lambda_ < np.inf else iw


@dataclass
class SubGaussianInverseProbabilityWeightingTuning(_Tuning):
    """Sub-Gaussian IPW with its λ in [0, 1] tuned over ``lambdas`` (OBP's class; given order)."""
    estimator_name: str = "sg-ipw"
    _base = SubGaussianInverseProbabilityWeighting
    _max_lambda = 1.0
    _sorted = False

    def _modified_weights(self, iw, lambda_):
        return iw / (1 - lambda_ + lambda_ * iw)


@dataclass
class SubGaussianDoublyRobustTuning(SubGaussianInverseProbabilityWeightingTuning):
    """Sub-Gaussian DR with its λ in [0, 1] tuned over ``lambdas`` (OBP's class; given order)."""
    estimator_name: str = "sg-dr"
    _base = SubGaussianDoublyRobust


@dataclass
class MarginalizedInverseProbabilityWeighting:
    """MIPS (OBP's ``MarginalizedInverseProbabilityWeighting``; Saito & Joachims, ICML 2022):
    ``reward · w(x, e)``, ``w`` the marginal importance weight of the logged action's embedding.

    - Given ``p_e_a`` (``n_actions × categories × dimensions``), RecKit computes the weights exactly
      (``reckit_obp_marginal_weights``): the product over dimensions of the target's over the
      logging policy's probability of the logged category.
    - Without it, ``pi_a_x_e_estimator`` (default scikit-learn's ``LogisticRegression(max_iter=1000,
      random_state=12345)``, OBP's) is fitted to predict the action from the context and the
      embedding's one-hot columns, and ``w = Σ_a π_e(a|x)/π_b(a|x) · π̂(a|x, e)`` (OBP's
      procedure; scikit-learn is needed for this path only).
    - ``embedding_selection_method`` ``"exact"`` or ``"greedy"`` drops embedding dimensions by
      OBP's SLOPE-style rule (two-sided Student t widths at ``delta``), down to ``min_emb_dim``.
    """

    n_actions: int
    pi_a_x_e_estimator: object = None
    embedding_selection_method: str = None
    min_emb_dim: int = 1
    delta: float = 0.05
    estimator_name: str = "mipw"
    _self_normalized = False

    def __post_init__(self):
        _number(self.n_actions, "n_actions", 2, math.inf, integer=True)
        _number(self.min_emb_dim, "min_emb_dim", 1, math.inf, integer=True)
        if isinstance(self.delta, bool) or not isinstance(self.delta, (int, float, np.floating)) \
                or not (0 < self.delta < 1):
            raise ValueError(f"delta: expected a number in (0, 1), got {self.delta!r}")
        if self.embedding_selection_method not in (None, "exact", "greedy"):
            raise ValueError(f"embedding_selection_method: expected None, 'exact' or 'greedy', "
                             f"got {self.embedding_selection_method!r}")
        if self.pi_a_x_e_estimator is not None and not (hasattr(self.pi_a_x_e_estimator, "fit")
                                                        and hasattr(self.pi_a_x_e_estimator, "predict_proba")):
            raise ValueError("pi_a_x_e_estimator: expected a classifier (fit and predict_proba)")

    def _weights(self, context, action, action_embed, pi_b, action_dist, position, p_e_a) -> np.ndarray:
        dist = _array(action_dist, "action_dist", np.float64, 3)
        n, actions, positions = dist.shape
        behaviour = _array(pi_b, "pi_b", np.float64, 3)
        if behaviour.shape != dist.shape:
            raise ValueError(f"pi_b: expected shape {dist.shape} (action_dist's), got {behaviour.shape}")
        emb = _array(action_embed, "action_embed", np.int64, 2)
        act = _array(action, "action", np.int64, 1)
        pos = np.zeros(n, dtype=np.int64) if position is None else _array(position, "position", np.int64, 1)
        for name, a in (("action", act), ("position", pos), ("action_embed", emb)):
            if a.shape[0] != n:
                raise ValueError(f"{name}: expected {n} rows (action_dist's rounds), got {a.shape[0]}")
        if p_e_a is not None:
            pea = _array(p_e_a, "p_e_a", np.float64, 3)
            if pea.shape[0] != actions or pea.shape[2] != emb.shape[1]:
                raise ValueError(f"p_e_a: expected shape ({actions}, categories, {emb.shape[1]}) (actions × "
                                 f"categories × action_embed's dimensions), got {pea.shape}")
            out = np.empty(n, dtype=np.float64)
            _check(_lib.reckit_obp_marginal_weights(
                n, actions, positions, emb.shape[1], pea.shape[1], pos.ctypes.data_as(_l), emb.ctypes.data_as(_l),
                behaviour.ctypes.data_as(_d), dist.ctypes.data_as(_d), pea.ctypes.data_as(_d),
                out.ctypes.data_as(_d)))
            return out
        if context is None:
            raise ValueError("context: required when p_e_a is not given (the classifier's input)")
        ctx = _array(context, "context", np.float64, 2)
        if ctx.shape[0] != n:
            raise ValueError(f"context: expected {n} rows (action_dist's rounds), got {ctx.shape[0]}")
        if np.any((act < 0) | (act >= actions)):
            raise ValueError(f"action: expected values in 0..{actions - 1}")
        try:
            from sklearn.linear_model import LogisticRegression
            from sklearn.preprocessing import OneHotEncoder
        except ImportError:
            raise ImportError("pi_a_x_e_estimator: estimating MIPS's weights without p_e_a needs scikit-learn "
                              "(pip install scikit-learn), or give p_e_a") from None
        if self.pi_a_x_e_estimator is None:
            self.pi_a_x_e_estimator = LogisticRegression(max_iter=1000, random_state=12345)
        rows = np.arange(n)
        pi_e, pi_b_ = dist[rows, :, pos], behaviour[rows, :, pos]
        with np.errstate(divide="ignore", invalid="ignore"):
            w_x_a = pi_e / pi_b_
        w_x_a = np.where(w_x_a < np.inf, w_x_a, 0)
        try:
            encoder = OneHotEncoder(sparse_output=False, drop="first")
        except TypeError:  # scikit-learn < 1.2
            encoder = OneHotEncoder(sparse=False, drop="first")
        x_e = np.c_[ctx, encoder.fit_transform(emb)]
        pi_a_x_e = np.zeros((n, actions))
        self.pi_a_x_e_estimator.fit(x_e, act)
        pi_a_x_e[:, np.unique(act)] = self.pi_a_x_e_estimator.predict_proba(x_e)
        return (w_x_a * pi_a_x_e).sum(1)

    def _estimate_round_rewards(self, reward, action, action_embed, pi_b, action_dist, context=None, position=None,
                                p_e_a=None, with_dev: bool = False, **_):
        w = self._weights(context, action, action_embed, pi_b, action_dist, position, p_e_a)
        self.max_w_x_e = w.max()
        rew = _array(reward, "reward", np.float64, 1)
        if rew.shape[0] != w.shape[0]:
            raise ValueError(f"reward: expected {w.shape[0]} values (action_dist's rounds), got {rew.shape[0]}")
        if with_dev:
            # As OBP (for the self-normalised class too): the selection compares MIPS's means.
            n = rew.shape[0]
            r_hat = rew * w
            cnf = np.sqrt(np.var(r_hat) / (n - 1)) * _t_quantile(1.0 - self.delta / 2, n - 1)
            return r_hat.mean(), cnf
        return rew * w / w.mean() if self._self_normalized else rew * w

    def _select(self, inputs, p_e_a) -> float:
        emb = _array(inputs["action_embed"], "action_embed", np.int64, 2)
        pea = None if p_e_a is None else _array(p_e_a, "p_e_a", np.float64, 3)
        if emb.shape[0] < 2:
            raise ValueError("action_embed: embedding selection needs at least 2 rounds")

        def estimate(features):
            features = list(features)
            return self._estimate_round_rewards(
                **{**inputs, "action_embed": emb[:, features]}, with_dev=True,
                p_e_a=None if pea is None else pea[:, :, features])

        c = np.sqrt(6) - 1
        dims = emb.shape[1]
        theta, cnf = estimate(range(dims))
        thetas, cnfs = [theta], [cnf]

        def keeps(t, w):
            return bool((np.abs(np.array(thetas) - t) <= w + c * np.array(cnfs)).all())

        def last_but_one():
            # When no candidate fails, OBP returns the estimate kept before the last one (its
            # comparison array is taken before each append); kept so values equal OBP's.
            return thetas[-2] if len(thetas) > 1 else thetas[-1]

        if self.embedding_selection_method == "exact":
            for size in range(dims - 1, self.min_emb_dim - 1, -1):
                found = [estimate(comb) for comb in itertools.combinations(range(dims), size)]
                for idx in np.argsort([f[1] for f in found])[::-1]:
                    if not keeps(*found[idx]):
                        return thetas[-1]
                    thetas.append(found[idx][0]), cnfs.append(found[idx][1])
            return last_but_one()
        current = list(range(dims))
        while len(current) > self.min_emb_dim:
            found = [(d, *estimate([f for f in current if f != d])) for d in current]
            for idx in np.argsort([f[2] for f in found])[::-1]:
                excluded, t, w = found[idx]
                if not keeps(t, w):
                    return thetas[-1]
                thetas.append(t), cnfs.append(w)
            current = [f for f in current if f != excluded]
        return last_but_one()

    def estimate_policy_value(self, reward=None, action=None, action_embed=None, pi_b=None, action_dist=None,
                              context=None, p_e_a=None, position=None, **kwargs) -> float:
        """The estimated policy value, as OBP's (with embedding selection when asked)."""
        inputs = dict(reward=reward, action=action, action_embed=action_embed, pi_b=pi_b, action_dist=action_dist,
                      context=context, position=position)
        if action_embed is None:
            raise ValueError(f"{self.estimator_name}: action_embed is required")
        if self.embedding_selection_method is not None and np.ndim(action_embed) == 2 \
                and np.shape(action_embed)[1] > 1:
            return self._select(inputs, p_e_a)
        return self._estimate_round_rewards(**inputs, p_e_a=p_e_a).mean()

    def estimate_interval(self, reward=None, action=None, action_embed=None, pi_b=None, action_dist=None,
                          context=None, position=None, p_e_a=None, alpha: float = 0.05,
                          n_bootstrap_samples: int = 10000, random_state=None, **kwargs) -> dict:
        """OBP's bootstrap interval of the round rewards (all embedding dimensions, as OBP's)."""
        if action_embed is None:
            raise ValueError(f"{self.estimator_name}: action_embed is required")
        rounds = self._estimate_round_rewards(reward=reward, action=action, action_embed=action_embed, pi_b=pi_b,
                                              action_dist=action_dist, context=context, position=position,
                                              p_e_a=p_e_a)
        return estimate_confidence_interval_by_bootstrap(rounds, alpha=alpha, n_bootstrap_samples=n_bootstrap_samples,
                                                         random_state=random_state)


@dataclass
class SelfNormalizedMarginalizedInverseProbabilityWeighting(MarginalizedInverseProbabilityWeighting):
    """SNMIPS: ``reward · w / mean(w)`` (OBP's class)."""
    estimator_name: str = "snmipw"
    _self_normalized = True


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
            if not isinstance(e, (_Estimator, BalancedInverseProbabilityWeighting, _Tuning,
                                  MarginalizedInverseProbabilityWeighting)):
                raise TypeError(f"ope_estimators: {e!r} is not a reckit.obp estimator")
        self.bandit_feedback = bandit_feedback
        self.ope_estimators = list(ope_estimators)
        self.ope_estimators_ = {e.estimator_name: e for e in self.ope_estimators}

    _PER_ESTIMATOR = ("estimated_rewards_by_reg_model", "estimated_importance_weights", "estimated_pscore",
                      "action_embed", "pi_b", "p_e_a")

    def _inputs(self, name, action_dist, given: dict) -> dict:
        """The estimator's inputs: ``bandit_feedback``'s arrays and the given ones (each an array,
        or a dict by estimator name, as OBP's)."""
        bf = self.bandit_feedback
        inputs = dict(reward=bf["reward"], action=bf["action"], pscore=bf.get("pscore"), position=bf.get("position"),
                      context=bf.get("context"), action_dist=action_dist)
        for key in self._PER_ESTIMATOR:
            value = given.get(key)
            inputs[key] = value.get(name) if isinstance(value, dict) else value
        return inputs

    def estimate_policy_values(self, action_dist, estimated_rewards_by_reg_model=None, estimated_pscore=None,
                               estimated_importance_weights=None, action_embed=None, pi_b=None, p_e_a=None,
                               **kwargs) -> dict:
        """``{estimator_name: policy value}``; ``estimated_importance_weights`` feeds B-IPW,
        ``estimated_pscore`` the tuning classes with ``use_estimated_pscore``, ``action_embed``,
        ``pi_b`` and ``p_e_a`` MIPS (each an array, or a dict by estimator name)."""
        given = dict(estimated_rewards_by_reg_model=estimated_rewards_by_reg_model, estimated_pscore=estimated_pscore,
                     estimated_importance_weights=estimated_importance_weights, action_embed=action_embed, pi_b=pi_b,
                     p_e_a=p_e_a)
        return {name: e.estimate_policy_value(**self._inputs(name, action_dist, given))
                for name, e in self.ope_estimators_.items()}

    def estimate_intervals(self, action_dist, estimated_rewards_by_reg_model=None, alpha: float = 0.05,
                           n_bootstrap_samples: int = 100, random_state=None, estimated_pscore=None,
                           estimated_importance_weights=None, action_embed=None, pi_b=None, p_e_a=None,
                           **kwargs) -> dict:
        """``{estimator_name: {"mean", "95.0% CI (lower)", "95.0% CI (upper)"}}`` (OBP's bootstrap)."""
        given = dict(estimated_rewards_by_reg_model=estimated_rewards_by_reg_model, estimated_pscore=estimated_pscore,
                     estimated_importance_weights=estimated_importance_weights, action_embed=action_embed, pi_b=pi_b,
                     p_e_a=p_e_a)
        return {name: e.estimate_interval(alpha=alpha, n_bootstrap_samples=n_bootstrap_samples,
                                          random_state=random_state, **self._inputs(name, action_dist, given))
                for name, e in self.ope_estimators_.items()}

    def summarize_off_policy_estimates(self, action_dist, estimated_rewards_by_reg_model=None, alpha: float = 0.05,
                                       n_bootstrap_samples: int = 100, random_state=None, **kwargs):
        """Two pandas DataFrames, as OBP's: the policy values (with ``relative_estimated_policy_value``
        against the logged mean reward) and the intervals, one row per estimator (``kwargs``: the
        per-estimator inputs of ``estimate_policy_values``)."""
        import pandas as pd
        given = {k: v for k, v in kwargs.items() if k in self._PER_ESTIMATOR}
        values = pd.DataFrame(self.estimate_policy_values(action_dist, estimated_rewards_by_reg_model, **given),
                              index=["estimated_policy_value"]).T
        values["relative_estimated_policy_value"] = values["estimated_policy_value"] / np.mean(
            self.bandit_feedback["reward"])
        intervals = pd.DataFrame(self.estimate_intervals(action_dist, estimated_rewards_by_reg_model, alpha=alpha,
                                                         n_bootstrap_samples=n_bootstrap_samples,
                                                         random_state=random_state, **given)).T
        return values, intervals
