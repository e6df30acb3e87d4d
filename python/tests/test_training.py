"""reckit.train, Model and reckit.evaluate against `reckit train` and `reckit evaluate`: the same
model (score bits), the same metrics, recommendations equal to a sort of the scores."""

import json
import random

import numpy as np
import pytest

import reckit
from conftest import read_csv, run

COLUMNS = {"session": "session", "time": "t", "item": "item", "event": "event"}
OPTIONS = dict(min_item_count=1, min_session_length=2, seed=3, reward="click=0.3")


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    path = tmp_path_factory.mktemp("events") / "events.csv"
    rng = random.Random(1)
    lines = ["session,t,item,event"]
    for s in range(300):
        for t in range(rng.randint(3, 8)):
            lines.append(f"{s},{t},{rng.randint(0, 40)},{rng.choice(['click', 'click', 'purchase'])}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(events, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "py"
    model = reckit.train(events, columns=COLUMNS, algo="sa2c", epochs=2, out=out, **OPTIONS)
    return model, out


def test_the_model_is_the_clis(cli, events, trained, tmp_path):
    model, out = trained
    run(cli, "train", "--data", str(events), "--columns", "session=session,time=t,item=item,event=event",
        "--algo", "sa2c", "--epochs", "2", "--out", str(tmp_path / "cli"), "--min-item-count", "1",
        "--min-session-length", "2", "--seed", "3", "--reward", "click=0.3")
    theirs = reckit.load_model(tmp_path / "cli" / "best.safetensors")
    histories = [["1", "2", "3"], [5, 7, 9, 11], []]
    for head in ("supervised", "q"):
        assert np.array_equal(model.scores(histories, head=head).view(np.uint32),
                              theirs.scores(histories, head=head).view(np.uint32))
    assert model.item_keys == theirs.item_keys and model.items == 41
    assert (out / "best.safetensors").is_file() and (out / "report.html").is_file() and (out / "split.csv").is_file()
    assert (out / "split.csv").read_bytes() == (tmp_path / "cli" / "split.csv").read_bytes()
    assert model.report["best_epoch"] in (0, 1) and len(model.report["epochs"]) == 2


def test_gru4rec_recipe_is_the_clis(cli, events, tmp_path):
    # GRU4Rec's recipe (bpr-max, Adagrad with momentum) through the same job keys as the CLI.
    model = reckit.train(events, columns=COLUMNS, algo="gru4rec", epochs=1, dim=8, negatives=20, momentum=0.3,
                         bpr_reg=0.5, **OPTIONS)
    run(cli, "train", "--data", str(events), "--columns", "session=session,time=t,item=item,event=event",
        "--algo", "gru4rec", "--epochs", "1", "--dim", "8", "--negatives", "20", "--momentum", "0.3", "--bpr-reg",
        "0.5", "--out", str(tmp_path / "cli"), "--min-item-count", "1", "--min-session-length", "2", "--seed", "3",
        "--reward", "click=0.3")
    theirs = reckit.load_model(tmp_path / "cli" / "best.safetensors")
    histories = [["1", "2", "3"], [5, 7, 9, 11]]
    assert np.array_equal(model.scores(histories).view(np.uint32), theirs.scores(histories).view(np.uint32))
    with pytest.raises(reckit.ReckitValueError) as e:
        reckit.train(events, columns=COLUMNS, algo="ce", epochs=1, momentum=0.3, **OPTIONS)
    assert "momentum: it goes with optimizer adagrad" in str(e.value)


def test_evaluate_equals_the_cli(cli, events, trained):
    model, out = trained
    want = json.loads(run(cli, "evaluate", "--data", str(events), "--columns",
                          "session=session,time=t,item=item,event=event", "--model", str(out / "best.safetensors"),
                          "--min-item-count", "1", "--min-session-length", "2", "--json"))
    got = reckit.evaluate(model, events, columns=COLUMNS, min_item_count=1, min_session_length=2)
    assert {f"{r.event}_{r.metric}@{r.k}": r.value for r in got.itertuples()} == want
    popularity = reckit.evaluate("popularity", events, columns=COLUMNS, min_item_count=1, min_session_length=2)
    assert len(popularity) == len(got)


@pytest.mark.parametrize("baseline", ["popularity", "itemknn", "sknn", "vsknn"])
def test_baselines_equal_the_cli(cli, events, baseline):
    want = json.loads(run(cli, "evaluate", "--data", str(events), "--columns",
                          "session=session,time=t,item=item,event=event", "--model", baseline, "--neighbours", "7",
                          "--min-item-count", "1", "--min-session-length", "2", "--json"))
    got = reckit.evaluate(baseline, events, columns=COLUMNS, neighbours=7, min_item_count=1, min_session_length=2)
    assert {f"{r.event}_{r.metric}@{r.k}": r.value for r in got.itertuples()} == want
    with pytest.raises(ValueError, match="neighbours: expected a positive int"):
        reckit.evaluate(baseline, events, columns=COLUMNS, neighbours=0)


def test_recommend_is_a_sort_of_the_scores(trained):
    model, _ = trained
    histories = [["1", "2", "3"], ["40"], ["unknown", "7"]]
    scores = model.scores(histories)
    keys, top = model.recommend(histories, k=7)
    for r in range(3):
        order = sorted(range(model.items), key=lambda i: (-scores[r, i], i))[:7]
        assert list(keys[r]) == [model.item_keys[i] for i in order]
        assert np.array_equal(top[r], scores[r, order])
    keys, _ = model.recommend(histories, k=7, exclude_history=True)
    assert "1" not in keys[0] and "40" not in keys[1]


def test_save_and_load_give_the_same_scores(trained, tmp_path):
    model, _ = trained
    model.save(tmp_path / "m.safetensors")
    again = reckit.load_model(tmp_path / "m.safetensors")
    h = [["3", "4"]]
    assert np.array_equal(again.scores(h), model.scores(h))


@pytest.mark.parametrize("kwargs, exc, text", [
    (dict(epoch=2), reckit.ReckitValueError, 'unknown key "epoch"'),
    (dict(algo="ppo"), reckit.ReckitValueError, '"algo" must be one of ce, sqn, sac, snqn, sa2c'),
    (dict(epochs=0), ValueError, "epochs: expected a positive int"),
    (dict(batch=0), reckit.ReckitValueError, '"batch" must be an integer in 1...'),
    (dict(columns=42), TypeError, "columns: expected a dict"),
    (dict(columns={"session": "nope", "time": "t", "item": "item", "event": "event"}), reckit.ReckitValueError,
     "nope"),
])
def test_bad_training_options(events, kwargs, exc, text):
    options = dict(columns=COLUMNS, epochs=1, **OPTIONS)
    options.update(kwargs)
    with pytest.raises(exc) as e:
        reckit.train(events, **options)
    assert text in str(e.value)


def test_bad_serving_input(trained, tmp_path):
    model, _ = trained
    with pytest.raises(TypeError, match="histories: expected a list of histories"):
        model.scores("123")
    with pytest.raises(TypeError, match=r"histories\[1\]: expected a list of item keys"):
        model.scores([["1"], 5])
    with pytest.raises(ValueError, match="k: expected a positive int"):
        model.recommend([["1"]], k=0)
    with pytest.raises(ValueError, match="head: expected 'supervised' or 'q'"):
        model.scores([["1"]], head="value")
    with pytest.raises(reckit.ReckitIOError, match="nope.safetensors"):
        reckit.load_model(tmp_path / "nope.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(reckit.ReckitValueError, match="not a RecKit sequential-recommender checkpoint"):
        reckit.load_model(tmp_path / "bad.safetensors")
    with pytest.raises(TypeError, match="model: expected a reckit.Model or one of 'popularity', 'itemknn'"):
        reckit.evaluate("best", tmp_path / "x.csv")


def test_item_vectors_are_the_catalog_the_cli_scores(cli, trained, tmp_path):
    """The head's item vectors and bias in a CatalogScorer give `reckit score --items-from`'s
    top-k, items and score bits, for both heads."""
    model, out = trained
    rng = np.random.default_rng(5)
    vectors, bias = model.item_vectors()
    assert vectors.shape == (model.items, model.dim) and bias.shape == (model.items,)
    states = rng.standard_normal((4, model.dim)).astype(np.float32)
    np.savetxt(tmp_path / "states.csv", states, delimiter=",", fmt="%.9g")
    states = np.loadtxt(tmp_path / "states.csv", delimiter=",", dtype=np.float32)
    for head in ("supervised", "q"):
        text = run(cli, "score", "--items-from", str(out / "best.safetensors"), "--head", head, "--states-file",
                   str(tmp_path / "states.csv"), "--k", "5", "--format", "csv")
        want = np.array([[int(r["item"]), np.float32(r["score"]).view(np.uint32)] for r in read_csv(text)])
        idx, sc = reckit.CatalogScorer(*model.item_vectors(head=head)).topk(states, 5)
        got = np.stack([idx.ravel(), sc.ravel().view(np.uint32).astype(np.int64)], axis=1)
        assert np.array_equal(got, want)
