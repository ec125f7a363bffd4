"""Metrics of keras_ecg.evaluate against hand-computed values, and the report files."""

import itertools
import json

import numpy as np
import pytest

from keras_ecg import evaluation as ev

NAMES3 = ["N", "S", "V"]


def _onehot(pred, k):
    """Probabilities whose argmax is ``pred`` (and not all ties)."""
    p = np.full((len(pred), k), 0.1 / (k - 1))
    p[np.arange(len(pred)), pred] = 0.9
    return p


def test_macro_f1_differs_from_accuracy(tmp_path):
    # cm rows true: N [6,0,0], S [2,0,0], V [1,0,1]
    y = np.array([0] * 6 + [1] * 2 + [2] * 2)
    pred = np.array([0] * 6 + [0, 0] + [0, 2])
    rep = ev.evaluate(_onehot(pred, 3), y, tmp_path, "test", NAMES3, data_source="unit", plots=False)
    assert rep["confusion_matrix"] == [[6, 0, 0], [2, 0, 0], [1, 0, 1]]
    assert rep["accuracy"] == pytest.approx(0.7)
    pc = rep["per_class"]
    assert pc["N"] == pytest.approx({"precision": 6 / 9, "recall": 1.0, "f1": 0.8, "support": 6})
    # S: never predicted -> precision undefined (null), recall 0, F1 0
    assert pc["S"]["precision"] is None
    assert pc["S"]["recall"] == 0.0 and pc["S"]["f1"] == 0.0 and pc["S"]["support"] == 2
    assert pc["V"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert rep["macro_f1"] == pytest.approx((0.8 + 0.0 + 2 / 3) / 3)
    assert rep["macro_f1"] != pytest.approx(rep["accuracy"])
    assert rep["split"] == "test" and rep["num_test"] == 10 and rep["binary"] is False
    assert any("never predicted" in w for w in rep["warnings"])


def test_confusion_orientation_rows_true():
    cm = ev.confusion_matrix([0, 0, 1], [1, 1, 1], 2)
    assert cm.tolist() == [[0, 2], [0, 1]]


def test_class_absent_from_test_side(tmp_path):
    y = np.array([0, 0, 1, 1])
    pred = np.array([0, 1, 1, 2])  # V never true but predicted once
    rep = ev.evaluate(_onehot(pred, 3), y, tmp_path, "val", NAMES3, data_source="unit", plots=False)
    v = rep["per_class"]["V"]
    assert v == {"precision": 0.0, "recall": None, "f1": None, "support": 0}
    assert rep["per_class"]["N"]["f1"] == pytest.approx(2 / 3)
    assert rep["per_class"]["S"]["f1"] == pytest.approx(0.5)
    assert rep["macro_f1"] == pytest.approx((2 / 3 + 0.5) / 2)
    assert rep["roc_auc"]["V"] is None
    assert rep["roc_auc_macro"] is not None
    assert any("absent" in w and "V" in w for w in rep["warnings"])
    # The JSON file is strict JSON (no NaN) and round-trips.
    text = (tmp_path / "report.json").read_text()
    assert "NaN" not in text
    assert json.loads(text)["per_class"]["V"]["recall"] is None


def _brute_auc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    total = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return total / (len(pos) * len(neg))


def test_binary_roc_auc_matches_pairwise(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60)
    risk = np.round(0.3 * y + rng.random(60) * 0.8, 1)  # rounded: many ties
    expected = _brute_auc(y, risk)
    assert ev.roc_auc_binary(y, risk) == pytest.approx(expected)
    for probs in (risk, risk[:, None]):
        rep = ev.evaluate(probs, y, tmp_path, "test", ["normal", "abnormal"], data_source="unit", plots=False)
        assert rep["binary"] is True and rep["threshold"] == 0.5
        assert rep["roc_auc_risk"] == pytest.approx(expected)
        assert rep["roc_auc"]["abnormal"] == pytest.approx(expected)
        assert rep["confusion_matrix"] == ev.confusion_matrix(y, risk >= 0.5, 2).tolist()
    # Two-class softmax: the risk is column 1.
    rep = ev.evaluate(np.stack([1 - risk, risk], 1), y, tmp_path, "test", ["normal", "abnormal"],
                      data_source="unit", plots=False)
    assert rep["binary"] is False and rep["roc_auc_risk"] == pytest.approx(expected)
    assert ev.roc_auc_binary([1, 1, 1], [0.1, 0.2, 0.3]) is None
    assert ev.roc_auc_binary([0, 1], [0.5, 0.5]) == 0.5


def test_multiclass_one_vs_rest_auc(tmp_path):
    rng = np.random.default_rng(2)
    y = np.r_[np.arange(3), rng.integers(0, 3, 27)]
    logits = rng.normal(size=(30, 3)) + 1.5 * np.eye(3)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    rep = ev.evaluate(probs, y, tmp_path, "test", NAMES3, data_source="unit", plots=False)
    for i, n in enumerate(NAMES3):
        assert rep["roc_auc"][n] == pytest.approx(_brute_auc((y == i).astype(int), probs[:, i]))
    assert rep["roc_auc_macro"] == pytest.approx(np.mean(list(rep["roc_auc"].values())))
    assert rep["roc_auc_risk"] is None


def test_synthetic_warning_in_both_files(tmp_path):
    from keras_ecg.data.dataset import Dataset

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 50, 1)).astype("float32")
    y = np.arange(12) % 3
    ds = Dataset(x, y, np.arange(12), NAMES3, {"synthetic": True, "source": "synthetic-beats"})
    hist = {"loss": [1.0, 0.7, 0.5], "val_loss": [1.1, 0.9, 0.8], "accuracy": [0.3, 0.5, 0.6]}
    rep = ev.evaluate(_onehot((y + (np.arange(12) % 4 == 0)) % 3, 3), ds, tmp_path, "test", None,
                      history=hist, extra={"model": "cnn1d"})
    assert rep["synthetic"] is True and rep["data_source"] == "synthetic-beats"
    assert rep["class_names"] == NAMES3
    assert rep["warnings"][0] == ev.SYNTHETIC_WARNING
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("> **⚠️ WARNING — SYNTHETIC DATA")
    assert json.loads((tmp_path / "report.json").read_text())["synthetic"] is True
    assert rep["training"]["epochs"] == 3 and rep["training"]["final"]["val_loss"] == 0.8
    assert rep["extra"] == {"model": "cnn1d"}
    for key in ("confusion_matrix", "training_curves", "roc_curves", "examples"):
        f = tmp_path / rep["plots"][key]
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", key
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    required = {"split", "data_source", "synthetic", "backend", "versions", "num_test", "class_names",
                "accuracy", "macro_f1", "per_class", "roc_auc", "roc_auc_macro", "confusion_matrix",
                "warnings"}
    assert required <= set(rep)
    assert {"keras", "numpy", "keras_ecg", rep["backend"]} <= set(rep["versions"])


@pytest.mark.parametrize("shape", [(6, 8, 8, 1), (6, 8, 8, 3), (6, 3, 8, 8, 1)])
def test_example_plots_images_and_panels(tmp_path, shape):
    x = np.random.default_rng(0).random(shape).astype("float32")
    y = np.array([0, 1, 0, 1, 0, 1])
    rep = ev.evaluate(np.linspace(0.1, 0.9, 6), (x, y), tmp_path, "test", ["a", "b"], data_source="unit")
    assert (tmp_path / "examples.png").stat().st_size > 0
    assert "training_curves" not in rep["plots"]


def test_with_keras_model(tmp_path):
    import keras

    inp = keras.Input((20, 2), name="input")
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling1D()(inp))
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(9, 20, 2)).astype("float32")
    y = np.arange(9) % 3
    rep = ev.evaluate(model, (x, y), tmp_path, "test", NAMES3, data_source="unit", plots=False)
    expected = model.predict(x, verbose=0).argmax(1)
    assert rep["confusion_matrix"] == ev.confusion_matrix(y, expected, 3).tolist()
    assert rep["backend"] == keras.backend.backend()


def test_bad_shapes_raise(tmp_path):
    with pytest.raises(ValueError, match="expected \\(n, 3\\)"):
        ev.evaluate(np.zeros((4, 2)), np.zeros(4, int), tmp_path, "test", NAMES3, plots=False)
    with pytest.raises(ValueError, match="4 predictions for 5 labels"):
        ev.evaluate(np.zeros((4, 3)), np.zeros(5, int), tmp_path, "test", NAMES3, plots=False)


def test_compare_table():
    r1 = {"split": "test", "num_test": 10, "class_names": NAMES3, "accuracy": 0.7, "macro_f1": 0.4889,
          "roc_auc_macro": 0.8, "binary": False,
          "per_class": {"N": {"recall": 1.0}, "S": {"recall": 0.0}, "V": {"recall": 0.5}}}
    r2 = dict(r1, accuracy=0.9, synthetic=True, per_class={"N": {"recall": 0.9}, "S": {"recall": None}})
    table = ev.compare_table({"cnn1d": r1, "lstm": r2})
    lines = table.splitlines()
    assert lines[0] == "| model | split | n | accuracy | macro-F1 | ROC-AUC | recall N | recall S | recall V |"
    assert lines[2] == "| cnn1d | test | 10 | 0.700 | 0.489 | 0.800 | 1.000 | 0.000 | 0.500 |"
    assert lines[3].startswith("| lstm ⚠️ | test | 10 | 0.900 |") and lines[3].endswith("| 0.900 | — | — |")
    assert "synthetic" in table


def test_package_attribute_is_a_plain_function(tmp_path):
    import inspect

    import keras_ecg
    import keras_ecg.evaluation  # importing the package does not shadow the function

    assert inspect.isfunction(keras_ecg.evaluate) and keras_ecg.evaluate is ev.evaluate
    rep = keras_ecg.evaluate(np.eye(2)[[0, 1]], np.array([0, 1]), tmp_path, "test", ["a", "b"], plots=False)
    assert rep["accuracy"] == 1.0
