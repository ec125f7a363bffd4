"""keras_ecg.evaluate's report: files, plots, warnings, keras models, the comparison table."""

import json

import numpy as np
import pytest

from keras_ecg import evaluation as ev

NAMES3 = ["N", "S", "V"]


@pytest.mark.backend_free
def test_synthetic_warning_in_both_files(tmp_path):
    from keras_ecg.data.dataset import Dataset

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 50, 1)).astype("float32")
    y = np.arange(12) % 3
    ds = Dataset(x, y, np.arange(12), NAMES3, {"synthetic": True, "source": "synthetic-beats"})
    hist = {"loss": [1.0, 0.7, 0.5], "val_loss": [1.1, 0.9, 0.8], "accuracy": [0.3, 0.5, 0.6]}
    rep = ev.evaluate(np.eye(3)[(y + (np.arange(12) % 4 == 0)) % 3] * 0.8 + 0.2 / 3, ds, tmp_path, "test", None,
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


@pytest.mark.backend_free
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
