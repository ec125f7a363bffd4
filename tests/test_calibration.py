"""Calibration and the uncertainty flag: the maths, the card field, the report, and their use by the runner,
predict, evaluate and annotate (on the suite's backend)."""

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest

from keras_ecg import card as C
from keras_ecg import cli
from keras_ecg.errors import CardError
from keras_ecg.evaluation import calibration as K
from keras_ecg.evaluation import evaluate

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


def _softmax_outputs(n, k, scale, seed=0):
    """Outputs of a model whose logits are ``scale`` times the well-calibrated ones (``scale`` > 1: overconfident)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 1.5
    p_true = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in p_true])  # labels drawn from the calibrated probabilities
    zs = z * scale
    return np.exp(zs) / np.exp(zs).sum(1, keepdims=True), y


@pytest.mark.parametrize("scale", [3.0, 0.4])
def test_temperature_recovers_the_true_scale_and_lowers_ece(scale):
    raw, y = _softmax_outputs(6000, 4, scale)
    cal = K.fit(raw, y, "temperature", target_accuracy=None)
    assert cal.temperature == pytest.approx(scale, rel=0.1)  # T undoes the scaling of the logits
    assert cal.ece_after < 0.03 < cal.ece_before and cal.brier_after < cal.brier_before
    probs = K.apply(raw, cal)
    assert np.array_equal(probs.argmax(1), raw.argmax(1)) and np.allclose(probs.sum(1), 1.0)
    # fitted once, it calibrates new outputs of the same model too
    raw2, y2 = _softmax_outputs(6000, 4, scale, seed=1)
    assert K.ece(K.apply(raw2, cal), y2) < 0.03 < K.ece(raw2, y2)


def test_platt_on_a_binary_risk_recovers_a_and_b():
    rng = np.random.default_rng(0)
    z = rng.normal(size=8000) * 2
    y = (rng.random(8000) < 1 / (1 + np.exp(-(0.5 * z - 1.0)))).astype(int)  # true risk = sigmoid(0.5 z - 1)
    raw = (1 / (1 + np.exp(-z)))[:, None]  # (n, 1), as a sigmoid model outputs
    cal = K.fit(raw, y, "platt", target_accuracy=None)
    assert cal.platt == pytest.approx([0.5, -1.0], abs=0.12)
    assert cal.ece_after < 0.03 < cal.ece_before
    out = K.apply(raw, cal)
    assert out.shape == raw.shape  # a risk stays a risk
    t = K.fit(raw, y, "temperature", target_accuracy=None)
    assert np.array_equal(K.apply(raw, t)[:, 0] >= 0.5, raw[:, 0] >= 0.5)  # temperature keeps the 0.5 decision
    with pytest.raises(ValueError, match="binary"):
        K.fit(np.full((4, 3), 1 / 3), [0, 1, 2, 0], "platt")


def test_ece_and_brier_on_hand_made_cases():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    y = np.array([0, 1, 1, 1])
    # bins: 0.9 -> two outputs, accuracy 0.5 (gap 0.4); 0.8 -> acc 1 (gap 0.2); 0.6 -> acc 1 (gap 0.4)
    assert K.ece(probs, y) == pytest.approx((2 * 0.4 + 0.2 + 0.4) / 4)
    onehot = np.eye(2)[y]
    assert K.brier(probs, y) == pytest.approx(np.mean(((probs - onehot) ** 2).sum(1)))
    assert K.brier(probs[:, 1:], y) == pytest.approx(np.mean((probs[:, 1] - y) ** 2))


def test_threshold_meets_the_target_on_validation_and_flags_below_it():
    raw, y = _softmax_outputs(5000, 3, 1.0)
    cal = K.fit(raw, y, "temperature", target_accuracy=0.9)
    conf = K.confidence(K.apply(raw, cal))
    kept = conf >= cal.uncertain_below
    assert cal.target_met and (raw.argmax(1) == y)[kept].mean() >= 0.9
    assert 0.05 < cal.kept_fraction < 0.95 and cal.kept_fraction == pytest.approx(kept.mean())
    # the lowest such threshold: one output more (the next lower confidence) drops below the target
    lower = conf[conf < cal.uncertain_below].max()
    assert (raw.argmax(1) == y)[conf >= lower].mean() < 0.9
    probs, unsure = K.calibrated(raw, cal)
    assert np.array_equal(unsure, ~kept)
    # an unreachable target: flagged honestly, still at least MIN_KEPT kept
    bad = K.fit(raw, (y + 1) % 3, "temperature", target_accuracy=0.99)
    assert not bad.target_met and bad.kept_fraction >= K.MIN_KEPT
    # no calibration (an old card): raw outputs, nothing flagged
    same, none = K.calibrated(raw, None)
    assert np.array_equal(same, raw) and not none.any()


def _card_dict():
    return {"card_version": 1, "name": "m", "inputs": [{"name": "input", "shape": [None, 8, 1]}],
            "output": {"shape": [None, 1], "kind": "sigmoid"}, "backend": "jax", "versions": {}, "files": {},
            "export": {"atol": 1e-4, "verified_on": "x", "seconds": 0.0}, "created": "now",
            "class_names": ["normal", "risky"], "binary": True}


def test_card_field_old_cards_load_and_bad_values_are_named(tmp_path):
    old = C.ModelCard.from_dict(_card_dict(), "old.json")  # a card written before calibration existed
    assert old.calibration is None
    cal = K.fit(np.linspace(0.01, 0.99, 50)[:, None], np.arange(50) % 2, "platt", 0.6)
    d = {**_card_dict(), "calibration": dataclasses.asdict(cal)}
    path = C.write(tmp_path / "model_card.json", C.ModelCard.from_dict(d))
    back = C.read(path).calibration
    assert back == cal
    for field, value, needle in (("method", "isotonic", "calibration.method"),
                                 ("temperature", -1.0, "calibration.temperature"),
                                 ("uncertain_below", "high", "calibration.uncertain_below")):
        bad = {**d, "calibration": {**d["calibration"], field: value}}
        with pytest.raises(CardError, match=needle) as e:
            C.ModelCard.from_dict(bad, "card.json")
        assert "card.json" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.backend_free
def test_report_has_ece_brier_before_after_reliability_and_abstention(tmp_path):
    raw_val, y_val = _softmax_outputs(3000, 3, 2.5)
    raw, y = _softmax_outputs(2000, 3, 2.5, seed=5)
    cal = K.fit(raw_val, y_val, "temperature", target_accuracy=0.85)
    rep = evaluate(raw, y, tmp_path, class_names=["a", "b", "c"], calibration=cal)
    c, u = rep["calibration"], rep["uncertainty"]
    assert c["method"] == "temperature" and c["ece_after"] < c["ece_before"] and c["brier_after"] < c["brier_before"]
    assert rep["plots"]["reliability"] == "reliability.png" and (tmp_path / "reliability.png").stat().st_size > 5000
    conf = K.confidence(K.apply(raw, cal))
    assert u["abstention_rate"] == pytest.approx((conf < cal.uncertain_below).mean())
    assert u["accuracy_kept"] > u["accuracy_all"] and u["accuracy_kept"] == pytest.approx(
        (raw.argmax(1) == y)[conf >= cal.uncertain_below].mean())
    md = (tmp_path / "report.md").read_text()
    assert "## Calibration" in md and "## Uncertainty" in md and "abstention rate" in md
    # without a calibration: the raw figures (before = after), still shown, no uncertainty part
    plain = evaluate(raw, y, tmp_path / "plain", class_names=["a", "b", "c"], plots=False)
    assert plain["calibration"]["method"] == "none" and plain["uncertainty"] is None
    assert plain["calibration"]["ece_before"] == plain["calibration"]["ece_after"] == pytest.approx(K.ece(raw, y))


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, beat_model):
    """A copy of the annotate tests' beat model and a synthetic record; its card given a temperature of 2 and the
    threshold at the median calibrated confidence of that record's beats (so about half of them are flagged)."""
    out = tmp_path_factory.mktemp("cal_model")
    shutil.copytree(beat_model.parent, out, dirs_exist_ok=True)
    model_path = out / beat_model.name
    base = out / "synth"
    assert cli.main(["synth-record", str(base), "--minutes", "1", "--seed", "4"]) == 0
    from keras_ecg.deploy import predict as P
    from keras_ecg.data import model_inputs as W

    model, card = P.load(model_path)
    raw = np.asarray(model.predict(W.record_inputs(base, card.preprocessing).inputs, verbose=0), dtype=np.float64)
    cal = C.Calibration(method="temperature", temperature=2.0, target_accuracy=0.95, fitted_on="a test")
    cal.uncertain_below = float(np.median(K.confidence(K.apply(raw, cal))))
    card.calibration = cal
    C.write(out / C.CARD_NAME, card)
    return model_path, base, cal.uncertain_below


def test_annotate_and_predict_apply_the_card(calibrated, tmp_path, capsys):
    model_path, base, below = calibrated
    out = tmp_path / "ann"
    assert cli.main(["annotate", str(model_path), str(base), "--out", str(out), "--backend", BACKEND,
                     "--runtime", "keras"]) == 0
    rows = [r.split(",") for r in (out / "synth_beats.csv").read_text().splitlines()]
    assert rows[0][-1] == "uncertain"
    probs = np.array([[float(v) for v in r[4:-1]] for r in rows[1:]])
    flags = np.array([int(r[-1]) for r in rows[1:]])
    assert np.array_equal(flags, probs.max(1) < below - 1e-5) or np.array_equal(flags, probs.max(1) < below + 1e-5)
    assert 0.2 < flags.mean() < 0.8
    summary = json.loads((out / "synth_summary.json").read_text())
    assert summary["uncertain_beats"] == flags.sum() and summary["uncertain_below"] == pytest.approx(below)
    # the probabilities are the calibrated ones: softmax(log p / 2) of the model's raw outputs
    from keras_ecg.deploy import annotate as A
    from keras_ecg.deploy import runtime

    clf = runtime.load(model_path, "keras")
    raw = A.annotate(dataclasses.replace(clf, card=dataclasses.replace(clf.card, calibration=None)), base).probs
    want = np.exp(np.log(raw) / 2.0)
    assert np.allclose(probs, want / want.sum(1, keepdims=True), atol=2e-5)
    # predict: calibrated probabilities and the same flag rule
    capsys.readouterr()
    cli.main(["predict", str(model_path), str(base), "--json", "--backend", BACKEND])
    items = json.loads(capsys.readouterr().out)["results"][0]["items"]
    assert all(it["uncertain"] == (it["probability"] < below) for it in items)
    assert 0.2 < np.mean([it["uncertain"] for it in items]) < 0.8


def test_evaluate_command_reports_calibration(calibrated, tmp_path, capsys):
    model_path, base, below = calibrated
    out = tmp_path / "eval"
    assert cli.main(["evaluate", str(model_path), str(base), "--out", str(out), "--backend", BACKEND,
                     "--runtime", "keras"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["calibration"]["temperature"] == 2.0 and rep["uncertainty"]["threshold"] == pytest.approx(below)
    assert 0 < rep["uncertainty"]["abstention_rate"] < 1 and (out / "reliability.png").exists()


def test_runner_fits_on_validation_and_exports_it(tmp_path, offline, capsys):
    from keras_ecg.training import runner

    config = {"name": "cal_recipe", "task": "mitbih", "model": "cnn1d", "fs": 100, "rr_features": False,
              "template_beats": 0, "epochs": 1, "batch_size": 32, "synthetic_n": 24}
    out = tmp_path / "run"
    tiny = json.dumps({"filters": [4], "dense_units": [4], "dropout": 0.0})
    runner.main(config, ["--backend", BACKEND, "--out", str(out), "--model-args", tiny, "--export", "keras",
                         "--verbose", "0", "--data", "synthetic", "--target-accuracy", "0.9"])
    rep = json.loads((out / "report.json").read_text())
    card = C.read(out / C.CARD_NAME)
    cal = card.calibration
    assert cal.method == "temperature" and cal.fitted_on.startswith("validation")
    assert cal.fitted_items == rep["extra"]["val_items"] != rep["num_test"]  # the validation side, not the test
    assert cal.target_accuracy == 0.9 and rep["uncertainty"]["threshold"] == cal.uncertain_below
    assert rep["calibration"]["temperature"] == pytest.approx(cal.temperature)
    assert "reliability" in rep["plots"]
    with pytest.raises(SystemExit, match="platt: for binary models only"):
        runner.main(config, ["--backend", BACKEND, "--out", str(tmp_path / "p"), "--model-args", tiny,
                             "--export", "none", "--verbose", "0", "--data", "synthetic", "--calibration", "platt"])


def test_no_calibration_flag_keeps_raw_outputs(tmp_path, offline):
    from keras_ecg.training import runner

    config = {"name": "cal_recipe", "task": "mitbih", "model": "cnn1d", "fs": 100, "rr_features": False,
              "template_beats": 0, "epochs": 1, "batch_size": 32, "synthetic_n": 16}
    tiny = json.dumps({"filters": [4], "dense_units": [4], "dropout": 0.0})
    runner.main(config, ["--backend", BACKEND, "--out", str(tmp_path / "r"), "--model-args", tiny, "--export",
                         "keras", "--verbose", "0", "--data", "synthetic", "--calibration", "none", "--no-plots"])
    assert C.read(tmp_path / "r" / C.CARD_NAME).calibration is None
    shutil.rmtree(tmp_path / "r")


def test_calibrate_command_fits_a_saved_model_and_rewrites_its_card(calibrated, tmp_path, capsys):
    model_path, base, _ = calibrated
    folder = tmp_path / "copy"
    shutil.copytree(model_path.parent, folder)
    assert cli.main(["calibrate", str(folder), str(base), "--backend", BACKEND, "--runtime", "keras",
                     "--target-accuracy", "0.9"]) == 0
    cal = C.read(folder / C.CARD_NAME).calibration
    assert str(base) in cal.fitted_on and cal.fitted_items > 50 and cal.target_accuracy == 0.9
    assert cal.temperature != 2.0 and cal.ece_before is not None and cal.brier_after is not None  # refitted
    assert "written to" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        cli.main(["calibrate", str(folder), str(base), "--backend", BACKEND, "--method", "platt"])
    assert "platt is for binary" in str(e.value) and "\n" not in str(e.value)
