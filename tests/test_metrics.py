"""keras_ecg.evaluation metrics against hand-computed values (through evaluate and directly)."""

import itertools
import json

import numpy as np
import pytest

from keras_ecg import evaluation as ev

pytestmark = pytest.mark.backend_free


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
