"""reckit.offline_ab against `reckit offline-ab` on the Open Bandit Dataset sample: the same
report from a path, the same estimates from a DataFrame and from Parquet, shards' states merging
to the single run, and bad input naming the argument."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

import reckit
from conftest import run

ROOT = Path(__file__).resolve().parents[2]
OBD = ROOT / "data" / "obp" / "obp"
LOG = OBD / "dataset" / "obd" / "random" / "all" / "all.csv"
PRIOR = OBD / "policy" / "conf" / "prior_bts.yaml"
needs_obd = pytest.mark.skipif(not LOG.is_file(), reason="run scripts/fetch-obp for the OBD sample")
BTS = {"kind": "bernoulli_ts", "prior": str(PRIOR), "campaign": "all"}
UNIFORM = {"kind": "uniform", "items": 80}


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    d = tmp_path_factory.mktemp("specs")
    (d / "bts.json").write_text(json.dumps(BTS))
    (d / "uniform.json").write_text(json.dumps(UNIFORM))
    return d


@needs_obd
def test_the_report_equals_the_cli(cli, specs, tmp_path):
    out = tmp_path / "cli.json"
    run(cli, "offline-ab", "--logs", str(LOG), "--target", str(specs / "bts.json"), "--target",
        str(specs / "uniform.json"), "--logging", str(specs / "uniform.json"), "--bootstrap", "200", "--json", str(out))
    want = json.loads(out.read_text())
    got = reckit.offline_ab(LOG, targets=[specs / "bts.json", specs / "uniform.json"], logging=specs / "uniform.json",
                            bootstrap=200)
    assert got.to_dict() == want
    assert got.policies == ["TS (bts.json)", "uniform random (uniform.json)"] or got.policies == [
        e["policy"] for e in want["evaluations"]]
    est = got.estimates
    assert list(est.columns) == ["policy", "estimator", "cap", "grouping", "model", "value", "low", "high", "method",
                                 "normal_low", "normal_high", "tuning", "likelihood_low", "likelihood_high"]
    assert len(est) == sum(len(e["estimates"]) for e in want["evaluations"])
    ips = got.estimate(got.policies[0], "IS")
    assert ips["low"] <= ips["value"] <= ips["high"]
    # The HTML page is the CLI's, byte for byte.
    run(cli, "offline-ab", "--logs", str(LOG), "--target", str(specs / "bts.json"), "--target",
        str(specs / "uniform.json"), "--logging", str(specs / "uniform.json"), "--bootstrap", "200", "--html",
        str(tmp_path / "cli.html"))
    got.to_html(tmp_path / "py.html")
    assert (tmp_path / "py.html").read_bytes() == (tmp_path / "cli.html").read_bytes()


@needs_obd
def test_the_empirical_likelihood_interval_equals_the_cli(cli, specs, tmp_path):
    out = tmp_path / "cli.json"
    run(cli, "offline-ab", "--logs", str(LOG), "--target", str(specs / "bts.json"), "--bootstrap", "0",
        "--no-reward-models", "--interval", "empirical-likelihood", "--json", str(out))
    got = reckit.offline_ab(LOG, targets=[specs / "bts.json"], bootstrap=0, reward_models=False,
                            interval="empirical-likelihood")
    assert got.to_dict() == json.loads(out.read_text())
    ips = got.estimate(got.policies[0], "IS")
    assert ips["method"] == "empirical-likelihood" and ips["low"] == ips["likelihood_low"]
    assert ips["low"] < ips["value"] < ips["high"]
    # The interval is the policy value's: a capped estimator shows IS's (its cap's bias aside).
    cis = got.estimate(got.policies[0], "CIS", cap=2)
    assert cis["method"] == "empirical-likelihood"
    assert (cis["likelihood_low"], cis["likelihood_high"]) == (ips["likelihood_low"], ips["likelihood_high"])
    for kwargs, message in ((dict(interval="studentized"), "interval: expected 'auto' or 'empirical-likelihood'"),
                            (dict(weight_bound=5), "weight_bound: it goes with"),
                            (dict(interval="empirical-likelihood", weight_bound=1), "weight_bound: expected a finite"),
                            (dict(interval="empirical-likelihood", weight_bound=math.inf), "weight_bound: expected")):
        with pytest.raises(ValueError, match=message):
            reckit.offline_ab(LOG, targets=[specs / "bts.json"], bootstrap=0, **kwargs)


@needs_obd
def test_a_dataframe_and_parquet_give_the_paths_estimates(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(LOG)
    features = LOG.parent / "item_context.csv"
    # Without a row key, bootstrap weights and cross-fitting folds hash the file's name and the
    # line: a table is written as logs.csv, so compare with the log under that name.
    (tmp_path / "logs.csv").write_bytes(LOG.read_bytes())
    kwargs = dict(targets={"ts": BTS}, bootstrap=50, item_features=features)
    from_path = reckit.offline_ab(tmp_path / "logs.csv", **kwargs).records()
    from_frame = reckit.offline_ab(frame, **kwargs).records()
    assert _same(from_frame, from_path)
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "logs.parquet")
    assert _same(reckit.offline_ab(tmp_path / "logs.parquet", **kwargs).records(), from_path)
    assert _same(reckit.offline_ab(pa.Table.from_pandas(frame), **kwargs).records(), from_path)


def _same(a, b):
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        for key in x:
            u, v = x[key], y[key]
            if isinstance(u, float) and np.isnan(u) and isinstance(v, float) and np.isnan(v):
                continue
            if u != v:
                return False
    return True


@needs_obd
def test_shards_states_merge_to_the_single_run():
    kwargs = dict(targets=[BTS], k=3, bootstrap=100, seed=5)
    want = reckit.offline_ab(LOG, **kwargs)
    state = None
    for _ in range(20):
        part = reckit.offline_ab(LOG, partial=True, after=state, **kwargs)
        assert isinstance(part, bytes)
        merged = reckit.merge([part])
        if isinstance(merged, reckit.OfflineABReport):
            assert merged.to_dict() == want.to_dict()
            return
        state = merged
    pytest.fail("the passes did not end")


@needs_obd
@pytest.mark.parametrize("kwargs, exc, text", [
    (dict(targets=[]), ValueError, "targets: give at least one"),
    (dict(targets=42), TypeError, "targets: expected a list"),
    (dict(targets=[42]), TypeError, "targets[0]: expected a spec dict"),
    (dict(targets=[UNIFORM], format="parquet"), ValueError, "format: expected 'obd' or 'csv'"),
    (dict(targets=[UNIFORM], method="fast"), ValueError, "method: expected 'exact' or 'mc'"),
    (dict(targets=[UNIFORM], format="csv"), reckit.ReckitValueError, 'format csv needs "columns"'),
    (dict(targets=[{"kind": "uniform"}]), reckit.ReckitValueError, "targets[0]"),
    (dict(targets=[UNIFORM], k=0), reckit.ReckitValueError, '"k" must be an integer in 1...10000'),
    (dict(targets=[UNIFORM], columns=42, format="csv"), TypeError, "columns: expected a dict"),
    (dict(targets=[UNIFORM], bootstrap=-1), reckit.ReckitValueError, '"bootstrap"'),
    (dict(targets=[UNIFORM], partial=True), reckit.ReckitValueError, "needs the depth (k)"),
    (dict(targets=[UNIFORM], k=2, after="state"), TypeError, "after: expected the bytes"),
])
def test_bad_arguments(kwargs, exc, text):
    with pytest.raises(exc) as e:
        reckit.offline_ab(LOG, **kwargs)
    assert text in str(e.value)


def test_bad_logs(tmp_path):
    with pytest.raises(reckit.ReckitIOError, match="nope.csv"):
        reckit.offline_ab(tmp_path / "nope.csv", targets=[UNIFORM])
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,position,click,propensity_score\n1,1,1,0.5\n2,x,0,0.5\n")
    with pytest.raises(reckit.ReckitValueError, match=r"bad.csv:3"):
        reckit.offline_ab(bad, targets=[UNIFORM], format="csv",
                          columns={"item": "item_id", "position": "position", "reward": "click",
                                   "propensity": "propensity_score", "position_base": 1})
    with pytest.raises(TypeError, match="logs: expected a path, a pandas DataFrame"):
        reckit.offline_ab(42, targets=[UNIFORM])
    with pytest.raises(TypeError, match="states: expected a non-empty list"):
        reckit.merge([])
    with pytest.raises(reckit.ReckitValueError, match=r"states\[0\]"):
        reckit.merge([b"not a state"])


def table_and_cli(cli, specs, tmp_path, frame, contexts):
    """The report of `frame` (as arrays) and of `reckit offline-ab` on the same rows as CSV:
    the OBD columns mapped by hand, `contexts` as context columns, `row_id` as the row key, 100
    replicates, pieces by position and each context, no reward models."""
    frame.to_csv(tmp_path / "rows.csv", index=False)
    mapping = ("item=item_id,position=position,reward=click,propensity=propensity_score,context="
               + "+".join(contexts) + ",position_base=1")
    pieces = ",".join(["position"] + [f"context:{c}" for c in contexts])
    out = tmp_path / "cli.json"
    run(cli, "offline-ab", "--logs", str(tmp_path / "rows.csv"), "--format", "csv", "--columns", mapping,
        "--row-key", "row_id", "--target", str(specs / "bts.json"), "--bootstrap", "100", "--k", "3",
        "--piece-groups", pieces, "--no-reward-models", "--json", str(out))

    def table(f):
        return reckit.offline_ab(f, format="csv", columns=mapping, row_key="row_id", targets=[specs / "bts.json"],
                                 bootstrap=100, k=3, piece_groups=pieces, reward_models=False).to_dict()

    got = table(frame)
    return got, {**json.loads(out.read_text()), "logs": got["logs"]}, table


@needs_obd
def test_a_table_with_a_row_key_equals_the_cli_on_its_csv(cli, specs, tmp_path):
    """Columns mapped by hand, a string context, missing context values and a row key: a
    DataFrame read as arrays gives the report `reckit offline-ab` gives on the same rows as CSV."""
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(LOG).head(4000)
    frame["row_id"] = [f"r{i}" for i in range(len(frame))]
    frame["segment"] = np.where(frame["user_feature_0"].astype(str).str.len() % 2 == 0, "a", None)
    got, want, _ = table_and_cli(cli, specs, tmp_path, frame, ["segment", "user_feature_1"])
    assert got == want


@needs_obd
def test_integer_key_and_context_columns_equal_the_cli_on_their_csv(cli, specs, tmp_path):
    """Integer columns go to RecKit as integers (no text per row): an int64 row key with negative
    values, a nullable Int64 context with missing values and a uint8 context give the report
    `reckit offline-ab` gives on the same rows as CSV (their decimal text, missing as empty)."""
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(LOG).head(4000)
    frame["row_id"] = (np.arange(len(frame), dtype=np.int64) * 7919 - 10_000_000_000)
    frame["tier"] = pd.array([None if i % 5 == 0 else i % 3 - 1 for i in range(len(frame))], dtype="Int64")
    frame["slot"] = (np.arange(len(frame)) % 4).astype(np.uint8)
    got, want, table = table_and_cli(cli, specs, tmp_path, frame, ["tier", "slot"])
    assert got == want
    # A different key changes the bootstrap: the key column is really read.
    assert table(frame.assign(row_id=frame["row_id"] + 1)) != got


def test_bad_table_columns(tmp_path):
    pd = pytest.importorskip("pandas")
    good = pd.DataFrame({"item": [0, 1], "pos": [1, 1], "click": [0, 1], "p": [0.5, 0.5]})
    cols = {"item": "item", "position": "pos", "reward": "click", "propensity": "p", "position_base": 1}
    with pytest.raises(ValueError, match=r"column 'item' \(item\): expected integers"):
        reckit.offline_ab(good.assign(item=["a", "b"]), format="csv", columns=cols, targets=[UNIFORM], k=1)
    with pytest.raises(ValueError, match="missing column 'pos'"):
        reckit.offline_ab(good.drop(columns=["pos"]), format="csv", columns=cols, targets=[UNIFORM], k=1)
    with pytest.raises(reckit.ReckitValueError, match=r"row 2: column 'p': propensity '0.0' must be a number in \(0, 1\]"):
        reckit.offline_ab(good.assign(p=[0.5, 0.0]), format="csv", columns=cols, targets=[UNIFORM], k=1)
    with pytest.raises(reckit.ReckitValueError, match=r"row 1: column 'pos': '0' is not a position"):
        reckit.offline_ab(good.assign(pos=[0, 1]), format="csv", columns=cols, targets=[UNIFORM], k=1)
    with pytest.raises(ValueError, match="missing column 'seg'"):
        reckit.offline_ab(good, format="csv", columns={**cols, "context": ["seg"]}, targets=[UNIFORM], k=1)


def test_numeric_columns_are_read_in_place():
    """int64 and float64 columns of a DataFrame, and of a pyarrow Table in one chunk without
    nulls, reach RecKit without a copy (the log borrows the caller's memory); other dtypes are
    converted once."""
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"item": np.arange(6, dtype=np.int64), "pos": np.ones(6, dtype=np.int64),
                          "click": np.zeros(6), "p": np.full(6, 0.5), "key": np.arange(6, dtype=np.int64) * 3})
    roles = {"item": "item", "position": "pos", "reward": "click", "propensity": "p", "context": [],
             "row_key": "key"}
    for table in (frame, pa.Table.from_pandas(frame, preserve_index=False)):
        log = reckit._Log(table, "logs.csv", roles)
        try:
            source = [table[c] if hasattr(table, "to_csv") else table.column(c).chunk(0)
                      for c in ("item", "pos", "click", "p", "key")]
            for lent, col in zip(log._keep, source):
                col = col.to_numpy()
                assert np.shares_memory(lent, col), "a column was copied"
        finally:
            log.close()
    small = frame.assign(item=frame["item"].astype(np.int32))
    log = reckit._Log(small, "logs.csv", roles)
    assert not np.shares_memory(log._keep[0], small["item"].to_numpy()) and log._keep[0].dtype == np.int64
    log.close()
