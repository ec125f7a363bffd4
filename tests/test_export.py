"""keras_ecg.export on the current backend: formats, verification, atomicity, fallback.

Budget: about a minute per backend (jax2onnx alone takes ~15 s per model and
each TensorFlow fallback subprocess ~15 s on a shared 2-core machine).
"""

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("onnxruntime")

from keras_ecg.deploy import export as ex  # noqa: E402
from keras_ecg.deploy.export import tf_fallback, verify, writers  # noqa: E402

FINAL_NAMES = ("model.keras", "saved_model", "model.onnx", "model_card.json")


def _conv_model():
    inp = keras.Input((64, 2), name="input")
    h = keras.layers.Conv1D(4, 5, activation="relu")(inp)
    h = keras.layers.MaxPooling1D(2)(h)
    h = keras.layers.Conv1D(4, 3, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax")(h), name="tiny_cnn")


def _lstm_model():
    """The registry's LSTM (custom FusedLSTM layer, sigmoid risk head), small widths."""
    import keras_ecg

    return keras_ecg.build("lstm", input_shape=(32, 1), num_classes=2, binary=True,
                           units=(4,), dense_units=(4,))


def _expected_path(fmt, backend):
    if fmt == "saved_model" and backend == "torch":
        return "tensorflow-subprocess"
    return f"native:{backend}"


def _check_export(res, out, model, x, backend):
    assert sorted(p.name for p in out.iterdir()) == sorted(FINAL_NAMES)  # no temp/staging left
    card = json.loads((out / "model_card.json").read_text())
    assert card["card_version"] == 1 and card["backend"] == backend
    assert card["inputs"] == [{"name": model.inputs[0].name, "shape": [None, *model.inputs[0].shape[1:]],
                               "dtype": "float32"}]
    for fmt in ex.FORMATS:
        r = card["export"]["formats"][fmt]
        assert r["status"] == "ok" and r["batch_sizes"] == [1, len(x)]
        assert 0 <= r["max_abs_error"] <= 1e-4
        assert r["path"] == _expected_path(fmt, backend), (fmt, r)
        assert r["file"] == card["files"][fmt]
    assert card["versions"]["keras"] == keras.__version__ and card["versions"][backend]
    assert res["paths"]["onnx"] == str((out / "model.onnx").resolve())

    # Independent check of the ONNX file at a third batch size.
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.name == model.inputs[0].name and not isinstance(inp.shape[0], int)
    xb = np.concatenate([x, x[:1]])
    got = sess.run(None, {inp.name: xb})[0]
    np.testing.assert_allclose(got, model.predict(xb, verbose=0), atol=1e-4)


def test_export_conv_all_formats(tmp_path, backend_name):
    model = _conv_model()
    x = np.random.default_rng(0).normal(size=(5, 64, 2)).astype("float32")
    card = {"class_names": ["N", "S", "V"], "input_kind": "waveform",
            "preprocessing": {"fs": 360, "before": 32, "after": 32, "leads": ["MLII", "V1"]},
            "training_data": {"source": "synthetic beats", "synthetic": True, "split": "test"},
            "metrics": {"accuracy": 0.5}}
    res = ex.export(model, tmp_path / "cnn", sample_inputs=x, card=card)
    _check_export(res, tmp_path / "cnn", model, x, backend_name)
    assert res["class_names"] == ["N", "S", "V"] and res["binary"] is False
    assert res["preprocessing"]["fs"] == 360.0 and res["preprocessing"]["leads"] == ["MLII", "V1"]
    assert res["training_data"] == {"source": "synthetic beats", "synthetic": True, "split": "test"}
    assert res["metrics"] == {"accuracy": 0.5} and res["output"] == {"shape": [None, 3], "kind": "softmax"}
    assert res["export"]["verified_on"].startswith("caller-provided inputs, 5")


def test_export_lstm_all_formats(tmp_path, backend_name):
    model = _lstm_model()
    res = ex.export(model, tmp_path / "lstm", card={"class_names": ["normal", "abnormal"]})
    (x,), _ = verify.sample_inputs(None, verify.model_inputs(model))
    _check_export(res, tmp_path / "lstm", model, x, backend_name)
    assert res["output"]["kind"] == "sigmoid" and res["binary"] is True
    assert res["export"]["verified_on"].startswith("random")


def test_interrupted_export_leaves_no_final_artefacts(tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_write = writers.write

    def write_then_die(model, fmt, path):
        if fmt == "onnx":
            path.write_bytes(b"half an onnx file")
            raise KeyboardInterrupt("simulated interruption mid-export")
        return real_write(model, fmt, path)

    monkeypatch.setattr(writers, "write", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        ex.export(_conv_model(), out, formats=("keras", "saved_model", "onnx"))
    assert out.is_dir() and list(out.iterdir()) == []  # no final names, no staging folder


def test_failed_verification_raises_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ex.ExportVerificationError, match="keras: outputs differ"):
        ex.export(_conv_model(), out, formats=("keras",), atol=-1.0, fallback=False)
    assert list(out.iterdir()) == []


def test_fallback_to_tensorflow_subprocess(tmp_path, backend_name):
    if backend_name == "tensorflow":
        pytest.skip("TensorFlow exports these layers natively; no fallback")
    if backend_name == "jax":
        inp = keras.Input((16, 2), name="input")
        h = keras.layers.Bidirectional(keras.layers.LSTM(3))(inp)
        layer = "Bidirectional"
    else:
        inp = keras.Input((4, 8, 8, 1), name="input")
        h = keras.layers.GlobalAveragePooling3D()(keras.layers.Conv3D(2, 3)(inp))
        layer = "Conv3D"
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(h))
    res = ex.export(model, tmp_path, formats=("onnx",))
    r = res["export"]["formats"]["onnx"]
    assert r["path"] == "tensorflow-subprocess" and layer in r["native_error"]
    assert r["max_abs_error"] <= 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model_card.json"]
    assert "tensorflow" in res["versions"] and "tf2onnx" in res["versions"]


def test_cli_exports_keras_file(tmp_path, backend_name):
    """``python -m keras_ecg.deploy.export.tf_fallback`` logic, run in-process (TensorFlow only)."""
    if backend_name != "tensorflow":
        pytest.skip("the CLI is the TensorFlow fallback; tested in-process on tensorflow")
    model = _conv_model()
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(1).normal(size=(3, 64, 2)).astype("float32")
    np.savez(tmp_path / "in.npz", x_0=x, ref=model.predict(x, verbose=0))
    rc = tf_fallback.main(["--keras", str(tmp_path / "m.keras"), "--out", str(tmp_path / "o"),
                   "--formats", "saved_model", "onnx", "--inputs", str(tmp_path / "in.npz"),
                   "--result", str(tmp_path / "r.json")])
    res = json.loads((tmp_path / "r.json").read_text())
    assert rc == 0 and res["backend"] == "tensorflow"
    assert all(r["status"] == "ok" and r["max_abs_error"] <= 1e-4 for r in res["formats"].values())
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["model.onnx", "saved_model"]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="Unknown export format"):
        ex.export(_conv_model(), tmp_path, formats=("tflite",))
    with pytest.raises(ValueError, match="the model takes"):
        ex.export(_conv_model(), tmp_path, sample_inputs=np.zeros((2, 10, 2), "float32"))


@pytest.mark.slow
def test_export_registry_model(tmp_path, backend_name):
    import keras_ecg

    model = keras_ecg.build("cnn1d", input_shape=(128, 1), num_classes=3)
    res = ex.export(model, tmp_path)
    assert all(r["max_abs_error"] <= 1e-4 for r in res["export"]["formats"].values())


def test_package_attribute_is_a_plain_function(tmp_path):
    import inspect

    import keras_ecg

    assert inspect.isfunction(keras_ecg.export) and keras_ecg.export is ex.export
    res = keras_ecg.export(_conv_model(), tmp_path, formats=("keras",), fallback=False)
    assert res["export"]["formats"]["keras"]["status"] == "ok"
    import keras_ecg.deploy.export  # noqa: F401  (importing the package does not shadow the function)

    assert inspect.isfunction(keras_ecg.export)
