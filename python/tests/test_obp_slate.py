"""The slate estimators of `reckit offline-ab` on a slate log (slate=, the logging and target_*
probability columns) against the Open Bandit Pipeline's slate classes (sb-obp, in the test venv)
on OBP's own synthetic slate data: SIPS, IIPS, RIPS and their self-normalised versions agree to
1e-9 relative, with the target as columns (OBP's evaluation pscores) and as a Plackett–Luce
policy spec whose slate, cascade and item-position probabilities RecKit computes itself."""

import csv
import json

import numpy as np
import pytest

from conftest import run

obp = pytest.importorskip("obp")
from obp.dataset import SyntheticSlateBanditDataset, linear_behavior_policy_logit  # noqa: E402
from obp.ope import (  # noqa: E402
    SelfNormalizedSlateIndependentIPS, SelfNormalizedSlateRewardInteractionIPS, SelfNormalizedSlateStandardIPS,
    SlateCascadeDoublyRobust, SlateIndependentIPS, SlateRewardInteractionIPS, SlateStandardIPS)

LEN = 3


def _synthetic(random_state, n_rounds, logit_seed):
    """OBP's synthetic slates (10 items, LEN positions) and a softmax target's whole-slate,
    item-position and cascade probabilities of the logged slates."""
    dataset = SyntheticSlateBanditDataset(
        n_unique_action=10, len_list=LEN, dim_context=2, reward_type="binary",
        behavior_policy_function=linear_behavior_policy_logit, random_state=random_state)
    bf = dataset.obtain_batch_bandit_feedback(n_rounds=n_rounds)
    logit = np.random.default_rng(logit_seed).standard_normal((bf["n_rounds"], 10))
    return (bf, *dataset.obtain_pscore_given_evaluation_policy_logit(action=bf["action"], evaluation_policy_logit_=logit))


@pytest.fixture(scope="module")
def slate_log(tmp_path_factory):
    bf, target, target_item_position, target_cascade = _synthetic(12345, 3000, 7)
    path = tmp_path_factory.mktemp("slates") / "slates.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["slate_id", "item", "position", "click", "pscore_item_position", "pscore", "pscore_cascade",
                    "e_item_position", "e_pscore", "e_cascade"])
        for j in range(len(bf["action"])):
            w.writerow([f"s{bf['slate_id'][j]}", bf["action"][j], bf["position"][j], bf["reward"][j],
                        repr(float(bf["pscore_item_position"][j])), repr(float(bf["pscore"][j])),
                        repr(float(bf["pscore_cascade"][j])), repr(float(target_item_position[j])),
                        repr(float(target[j])), repr(float(target_cascade[j]))])
    obp_values = _obp_values(bf, target, target_item_position, target_cascade)
    return path, obp_values


COLUMNS = ("slate=slate_id,item=item,position=position,reward=click,propensity=pscore_item_position,"
           "slate_propensity=pscore,cascade_propensity=pscore_cascade,target_propensity=e_item_position,"
           "target_slate_propensity=e_pscore,target_cascade_propensity=e_cascade")


def test_slate_estimators_equal_obps(cli, slate_log, tmp_path):
    path, expected = slate_log
    out = tmp_path / "report.json"
    run(cli, "offline-ab", "--logs", str(path), "--format", "csv", "--columns", COLUMNS, "--bootstrap", "0",
        "--json", str(out))
    report = json.loads(out.read_text())
    got = {e["estimator"]: e for e in report["evaluations"][0]["estimates"]}
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name]["value"] == pytest.approx(value, rel=1e-9, abs=0), name
        low, high = got[name]["normal"]["low"], got[name]["normal"]["high"]
        assert low < got[name]["value"] < high, name


def test_slate_bootstrap_brackets_the_value(cli, slate_log, tmp_path):
    path, expected = slate_log
    out = tmp_path / "report.json"
    run(cli, "offline-ab", "--logs", str(path), "--format", "csv", "--columns", COLUMNS, "--bootstrap", "200",
        "--json", str(out))
    for e in json.loads(out.read_text())["evaluations"][0]["estimates"]:
        assert e["method"] == "poisson-bootstrap"
        assert e["interval"]["low"] < expected[e["estimator"]] < e["interval"]["high"], e["estimator"]


def test_python_slate_report_equals_the_clis(cli, slate_log, tmp_path):
    import pandas as pd

    import reckit

    path, _ = slate_log
    out = tmp_path / "report.json"
    run(cli, "offline-ab", "--logs", str(path), "--format", "csv", "--columns", COLUMNS, "--bootstrap", "50",
        "--json", str(out))
    want = json.loads(out.read_text())["evaluations"][0]["estimates"]
    columns = dict(part.split("=") for part in COLUMNS.split(","))
    for logs in (str(path), pd.read_csv(path, dtype={"slate_id": str}, float_precision="round_trip")):
        report = reckit.offline_ab(logs, format="csv", columns=columns, bootstrap=50)
        values = {r["estimator"]: (r["value"], r["low"], r["high"]) for r in report.records()}
        assert values == {e["estimator"]: (e["value"], e["interval"]["low"], e["interval"]["high"]) for e in want}


def test_python_slate_shards_equal_the_clis_merge(cli, slate_log, tmp_path):
    """Two shards of the slate log cut inside a slate: reckit.merge of Python's shard states is
    the CLI's merge of its --partial files, and both equal one pass (to 1e-12: sums merged)."""
    import reckit

    path, _ = slate_log
    lines = path.read_text().splitlines(keepends=True)
    cut = 1 + 3 * 700 + 1  # the header, 700 slates, and one row of the next
    parts = [tmp_path / "a.csv", tmp_path / "b.csv"]
    parts[0].write_text("".join(lines[:cut]))
    parts[1].write_text(lines[0] + "".join(lines[cut:]))
    columns = dict(part.split("=") for part in COLUMNS.split(","))
    states = [reckit.offline_ab(str(p), format="csv", columns=columns, bootstrap=40, k=3, partial=True)
              for p in parts]
    report = reckit.merge(states)
    for i, p in enumerate(parts):
        run(cli, "offline-ab", "--logs", str(p), "--format", "csv", "--columns", COLUMNS, "--bootstrap", "40",
            "--k", "3", "--partial", str(tmp_path / f"s{i}.json"))
    out = tmp_path / "merged.json"
    run(cli, "offline-ab", "merge", str(tmp_path / "s0.json"), str(tmp_path / "s1.json"), "--json", str(out))
    want = {e["estimator"]: (e["value"], e["interval"]["low"], e["interval"]["high"])
            for e in json.loads(out.read_text())["evaluations"][0]["estimates"]}
    assert {r["estimator"]: (r["value"], r["low"], r["high"]) for r in report.records()} == want
    whole = reckit.offline_ab(str(path), format="csv", columns=columns, bootstrap=40, k=3)
    for r in whole.records():
        assert want[r["estimator"]][0] == pytest.approx(r["value"], rel=1e-12), r["estimator"]
    with pytest.raises(reckit.ReckitError, match=r"states\[1\]"):
        reckit.merge([states[0], b'{"format": "reckit-offline-ab-state"}'])


def test_python_cascade_dr_shards_take_two_passes(slate_log, tmp_path):
    """A Plackett–Luce target over a log with cascade_propensity: the shards' first pass merges
    into a state (bytes: Cascade-DR's click-rate model needs every shard's counts), the second
    pass after it merges into the report, and that equals one process's, Cascade-DR included."""
    import reckit

    path, _ = slate_log
    lines = path.read_text().splitlines(keepends=True)
    cut = 1 + LEN * 1000  # between slates: a spec target needs whole slates
    parts = [tmp_path / "a.csv", tmp_path / "b.csv"]
    parts[0].write_text("".join(lines[:cut]))
    parts[1].write_text(lines[0] + "".join(lines[cut:]))
    columns = dict(part.split("=") for part in COLUMNS.split(",") if not part.startswith("target_"))
    targets = {"pl": {"kind": "plackett_luce", "scores": [0.15 * i - 0.6 for i in range(10)]}}
    kw = dict(format="csv", columns=columns, targets=targets, bootstrap=30, k=LEN)
    first = reckit.merge([reckit.offline_ab(str(p), partial=True, **kw) for p in parts])
    assert isinstance(first, bytes)
    second = reckit.merge([reckit.offline_ab(str(p), partial=True, after=first, **kw) for p in parts])
    whole = reckit.offline_ab(str(path), **kw)
    got = {r["estimator"]: r for r in second.records()}
    assert "CascadeDR" in got and len(got) == len(whole.records())
    for r in whole.records():
        assert got[r["estimator"]]["value"] == pytest.approx(r["value"], rel=1e-12), r["estimator"]
        assert got[r["estimator"]]["low"] == pytest.approx(r["low"], rel=1e-12), r["estimator"]
    with pytest.raises(reckit.ReckitError, match="different passes"):
        reckit.merge([reckit.offline_ab(str(parts[0]), partial=True, **kw),
                      reckit.offline_ab(str(parts[1]), partial=True, after=first, **kw)])


def test_slate_tables_reach_the_engine_in_place(slate_log, tmp_path, monkeypatch):
    """A slate log as a DataFrame (integer or text slate ids) reaches the engine column by column,
    no CSV written, and gives the file's report: with the target as columns, and with a
    Plackett–Luce target whose Cascade-DR fits its click-rate model in a first pass over the
    rows; shards of the table merge to the same report."""
    import pandas as pd

    import reckit

    path, _ = slate_log
    frame = pd.read_csv(path, dtype={"slate_id": str}, float_precision="round_trip")
    monkeypatch.setattr(reckit, "_write_table", lambda *a, **k: pytest.fail("a table went through a CSV file"))
    columns = dict(part.split("=") for part in COLUMNS.split(","))
    plain = {k: v for k, v in columns.items() if not k.startswith("target_")}
    targets = {"pl": {"kind": "plackett_luce", "scores": [0.15 * i - 0.6 for i in range(10)]}}
    for kw in (dict(columns=columns, bootstrap=30), dict(columns=plain, targets=targets, bootstrap=30)):
        want = {r["estimator"]: r for r in reckit.offline_ab(str(path), format="csv", **kw).records()}
        got = {r["estimator"]: r for r in reckit.offline_ab(frame, format="csv", **kw).records()}
        assert got.keys() == want.keys()
        for name, r in want.items():
            assert (got[name]["value"], got[name]["low"], got[name]["high"]) == (r["value"], r["low"], r["high"]), name
    assert "CascadeDR" in got
    # Integer slate ids: their decimal text is the slate's key, as in a CSV file.
    numeric = frame.assign(slate_id=frame["slate_id"].str[1:].astype("int64"))
    ints = {r["estimator"]: r["value"] for r in reckit.offline_ab(numeric, format="csv", columns=columns).records()}
    assert ints == {r["estimator"]: r["value"] for r in reckit.offline_ab(frame, format="csv", columns=columns).records()}
    # Shards of the table, cut inside a slate.
    cut = 3 * 700 + 1
    states = [reckit.offline_ab(part, format="csv", columns=columns, bootstrap=30, k=3, partial=True)
              for part in (frame.iloc[:cut], frame.iloc[cut:])]
    merged = {r["estimator"]: r["value"] for r in reckit.merge(states).records()}
    whole = reckit.offline_ab(frame, format="csv", columns=columns, bootstrap=30, k=3)
    for r in whole.records():
        assert merged[r["estimator"]] == pytest.approx(r["value"], rel=1e-12), r["estimator"]
    bad = frame.assign(e_item_position=frame["e_item_position"].where(frame.index != 5, 1.5))
    with pytest.raises(reckit.ReckitError, match="row 6: column 'e_item_position'"):
        reckit.offline_ab(bad, format="csv", columns=columns)


def test_slate_kwargs_errors_name_the_argument(slate_log):
    import reckit

    path, _ = slate_log
    columns = dict(part.split("=") for part in COLUMNS.split(","))
    with pytest.raises(ValueError, match="targets"):
        reckit.offline_ab(str(path), format="csv", columns=columns, targets=[{"kind": "uniform", "items": 10}])
    with pytest.raises(ValueError, match="k"):
        reckit.offline_ab(str(path), format="csv", columns=columns, partial=True)
    with pytest.raises(ValueError, match="after"):
        reckit.offline_ab(str(path), format="csv", columns=columns, partial=True, k=3, after=b"{}")
    with pytest.raises(ValueError, match="targets"):
        reckit.offline_ab(str(path), format="csv", columns={k: v for k, v in columns.items() if k != "slate"})


def _obp_values(bf, target, target_item_position, target_cascade):
    inputs = dict(slate_id=bf["slate_id"], reward=bf["reward"], position=bf["position"])
    return {
        "SIPS": SlateStandardIPS(len_list=LEN).estimate_policy_value(
            **inputs, pscore=bf["pscore"], evaluation_policy_pscore=target),
        "SNSIPS": SelfNormalizedSlateStandardIPS(len_list=LEN).estimate_policy_value(
            **inputs, pscore=bf["pscore"], evaluation_policy_pscore=target),
        "IIPS": SlateIndependentIPS(len_list=LEN).estimate_policy_value(
            **inputs, pscore_item_position=bf["pscore_item_position"],
            evaluation_policy_pscore_item_position=target_item_position),
        "SNIIPS": SelfNormalizedSlateIndependentIPS(len_list=LEN).estimate_policy_value(
            **inputs, pscore_item_position=bf["pscore_item_position"],
            evaluation_policy_pscore_item_position=target_item_position),
        "RIPS": SlateRewardInteractionIPS(len_list=LEN).estimate_policy_value(
            **inputs, pscore_cascade=bf["pscore_cascade"], evaluation_policy_pscore_cascade=target_cascade),
        "SNRIPS": SelfNormalizedSlateRewardInteractionIPS(len_list=LEN).estimate_policy_value(
            **inputs, pscore_cascade=bf["pscore_cascade"], evaluation_policy_pscore_cascade=target_cascade),
    }


def test_plackett_luce_target_equals_obps(cli, tmp_path):
    """A context-free softmax target (the same logits every round) is Plackett–Luce over those
    scores: RecKit's own probabilities of it give OBP's values from OBP's evaluation pscores."""
    dataset = SyntheticSlateBanditDataset(
        n_unique_action=8, len_list=LEN, dim_context=2, reward_type="binary",
        behavior_policy_function=linear_behavior_policy_logit, random_state=3)
    bf = dataset.obtain_batch_bandit_feedback(n_rounds=1500)
    scores = np.random.default_rng(5).standard_normal(8)
    logit = np.broadcast_to(scores[None], (bf["n_rounds"], 8)).copy()
    target, item_position, cascade = dataset.obtain_pscore_given_evaluation_policy_logit(
        action=bf["action"], evaluation_policy_logit_=logit)
    expected = _obp_values(bf, target, item_position, cascade)
    # Cascade-DR with RecKit's click-rate model, (clicks + 10·position mean) / (shows + 10) per
    # (item, position), as q̂ for every action, and the softmax's conditional action distribution.
    clicks = np.zeros((8, LEN))
    shows = np.zeros((8, LEN))
    np.add.at(clicks, (bf["action"], bf["position"]), bf["reward"])
    np.add.at(shows, (bf["action"], bf["position"]), 1)
    q = (clicks + 10 * (clicks.sum(axis=0) / shows.sum(axis=0))[None]) / (shows + 10)
    q_hat = np.broadcast_to(q.T[None], (bf["n_rounds"], LEN, 8)).reshape(-1)
    action_dist = dataset.calc_evaluation_policy_action_dist(action=bf["action"], evaluation_policy_logit_=logit)
    expected["CascadeDR"] = SlateCascadeDoublyRobust(len_list=LEN, n_unique_action=8).estimate_policy_value(
        slate_id=bf["slate_id"], action=bf["action"], reward=bf["reward"], position=bf["position"],
        pscore_cascade=bf["pscore_cascade"], evaluation_policy_pscore_cascade=cascade, q_hat=q_hat,
        evaluation_policy_action_dist=action_dist)
    path = tmp_path / "slates.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["slate_id", "item", "position", "click", "pscore_item_position", "pscore", "pscore_cascade"])
        for j in range(len(bf["action"])):
            w.writerow([bf["slate_id"][j], bf["action"][j], bf["position"][j], bf["reward"][j],
                        repr(float(bf["pscore_item_position"][j])), repr(float(bf["pscore"][j])),
                        repr(float(bf["pscore_cascade"][j]))])
    spec = tmp_path / "pl.json"
    spec.write_text(json.dumps({"kind": "plackett_luce", "scores": [float(x) for x in scores]}))
    out = tmp_path / "report.json"
    columns = ("slate=slate_id,item=item,position=position,reward=click,propensity=pscore_item_position,"
               "slate_propensity=pscore,cascade_propensity=pscore_cascade")
    run(cli, "offline-ab", "--logs", str(path), "--format", "csv", "--columns", columns, "--target", str(spec),
        "--bootstrap", "0", "--json", str(out))
    got = {e["estimator"]: e["value"] for e in json.loads(out.read_text())["evaluations"][0]["estimates"]}
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=0), name
    import reckit

    report = reckit.offline_ab(str(path), format="csv", columns=columns, targets=[str(spec)], bootstrap=0)
    assert {r["estimator"]: r["value"] for r in report.records()} == got
    # A logging spec adds PI and SNPI (test_slate_pi.py checks their values): Python = CLI.
    out_pi = tmp_path / "pi.json"
    run(cli, "offline-ab", "--logs", str(path), "--format", "csv", "--columns", columns, "--target", str(spec),
        "--logging", str(spec), "--bootstrap", "0", "--json", str(out_pi))
    cli_pi = {e["estimator"]: e["value"] for e in json.loads(out_pi.read_text())["evaluations"][0]["estimates"]}
    assert set(cli_pi) == set(got) | {"PI", "SNPI"}
    report = reckit.offline_ab(str(path), format="csv", columns=columns, targets=[str(spec)], logging=str(spec),
                               bootstrap=0)
    assert {r["estimator"]: r["value"] for r in report.records()} == cli_pi
    with pytest.raises(ValueError, match="logging"):
        reckit.offline_ab(str(path), format="csv", columns=columns + ",target_propensity=pscore_item_position",
                          logging=str(spec))


def test_reckit_obp_slate_classes_equal_obps():
    """reckit.obp's slate classes on OBP's own arrays and arguments: the policy values equal OBP's
    classes' (1e-12 relative) and the bootstrap intervals too (OBP's procedure, same random_state);
    a bad argument names itself."""
    import reckit
    from reckit import obp as robp

    bf, target, item_position, cascade = _synthetic(777, 2000, 8)
    common = dict(slate_id=bf["slate_id"], reward=bf["reward"], position=bf["position"])
    cases = [
        ("SlateStandardIPS", dict(pscore=bf["pscore"], evaluation_policy_pscore=target)),
        ("SelfNormalizedSlateStandardIPS", dict(pscore=bf["pscore"], evaluation_policy_pscore=target)),
        ("SlateIndependentIPS", dict(pscore_item_position=bf["pscore_item_position"],
                                     evaluation_policy_pscore_item_position=item_position)),
        ("SelfNormalizedSlateIndependentIPS", dict(pscore_item_position=bf["pscore_item_position"],
                                                   evaluation_policy_pscore_item_position=item_position)),
        ("SlateRewardInteractionIPS", dict(pscore_cascade=bf["pscore_cascade"],
                                           evaluation_policy_pscore_cascade=cascade)),
        ("SelfNormalizedSlateRewardInteractionIPS", dict(pscore_cascade=bf["pscore_cascade"],
                                                         evaluation_policy_pscore_cascade=cascade)),
    ]
    import obp.ope as oope
    for name, kw in cases:
        ours, theirs = getattr(robp, name)(len_list=LEN), getattr(oope, name)(len_list=LEN)
        assert ours.estimator_name == theirs.estimator_name
        v = ours.estimate_policy_value(**common, **kw)
        assert v == pytest.approx(theirs.estimate_policy_value(**common, **kw), rel=1e-12, abs=0), name
        a = ours.estimate_interval(**common, **kw, n_bootstrap_samples=300, random_state=12)
        b = theirs.estimate_interval(**common, **kw, n_bootstrap_samples=300, random_state=12)
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-12, abs=0), (name, key)
    with pytest.raises(reckit.ReckitError, match=r"pscore\[3\] = 0.0 must be in \(0, 1\]"):
        robp.SlateStandardIPS(len_list=LEN).estimate_policy_value(
            **common, pscore=np.where(np.arange(len(target)) == 3, 0.0, bf["pscore"]), evaluation_policy_pscore=target)
    with pytest.raises(ValueError, match="evaluation_policy_pscore_cascade: expected"):
        robp.SlateRewardInteractionIPS(len_list=LEN).estimate_policy_value(
            **common, pscore_cascade=bf["pscore_cascade"], evaluation_policy_pscore_cascade=cascade[:-1])
    with pytest.raises(ValueError, match="len_list"):
        robp.SlateIndependentIPS(len_list=0)
