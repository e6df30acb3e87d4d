"""An offline A/B test from a notebook: the Open Bandit Dataset's random-policy logs in a pandas
DataFrame, Bernoulli Thompson sampling (the production prior) and a uniform policy as targets,
every estimator with bootstrap intervals, and the HTML report.

    python examples/python/offline_ab_report.py [OBD_FOLDER] [REPORT.html]

OBD_FOLDER defaults to data/obp/obp (scripts/fetch-obp puts the sample there)."""

import sys
from pathlib import Path

import pandas as pd

import reckit

obp = Path(sys.argv[1] if len(sys.argv) > 1 else "data/obp/obp")
out = Path(sys.argv[2] if len(sys.argv) > 2 else "offline_ab_report.html")
logs = pd.read_csv(obp / "dataset/obd/random/all/all.csv")

# The policies: spec dicts with the keys of reckit's JSON spec files.
targets = {
    "Bernoulli TS (production prior)": {"kind": "bernoulli_ts", "prior": str(obp / "policy/conf/prior_bts.yaml")},
    "uniform random": {"kind": "uniform", "items": int(logs["item_id"].max()) + 1},
}
report = reckit.offline_ab(
    logs, targets=targets, k=3, bootstrap=1000, seed=1,
    item_features=obp / "dataset/obd/random/all/item_context.csv")

est = report.estimates
print(f"{report.rows} rows, logged mean reward {report.logged_mean:.6f}")
print(est[est.estimator.isin(["IS", "SNIPS", "DR"])][["policy", "estimator", "model", "value", "low", "high"]]
      .to_string(index=False))
report.to_html(out)
print(f"wrote {out}")
