"""``keras-ecg predict``: images, folders, WFDB records, CSVs of beats; text and JSON output; errors.

Tiny untrained models (the point is the input handling), exported with the
package's own ``export`` so the model card is the real one.
"""

import json
import os

import numpy as np
import pytest

from keras_ecg import cli
from keras_ecg.deploy import predict as P

WINDOW, FS = 64, 125
BEAT_CLASSES = ["N", "S", "V", "F", "Q"]


def _export(model, out, card):
    from keras_ecg import export

    export(model, out, formats=("keras",), card=card)
    return out / "model.keras"


@pytest.fixture(scope="module")
def beat_model(tmp_path_factory):
    from keras_ecg import registry

    out = tmp_path_factory.mktemp("beat_model")
    model = registry.build("cnn1d", (WINDOW, 1), 5, filters=(4,), dense_units=(4,))
    card = {"class_names": BEAT_CLASSES, "binary": False, "input_kind": "waveform", "model": "cnn1d",
            "model_args": {"filters": [4], "dense_units": [4]},
            "preprocessing": {"fs": FS, "before": WINDOW // 2, "after": WINDOW - WINDOW // 2, "leads": ["MLII"],
                              "normalize": "zscore"}}
    return _export(model, out, card)


@pytest.fixture(scope="module")
def risk_model(tmp_path_factory):
    from keras_ecg import registry

    out = tmp_path_factory.mktemp("risk_model")
    model = registry.build("cnn2d", (32, 32, 3), 2, filters=(4, 4), dense_units=(4,), binary=True)
    card = {"class_names": ["normal", "risky"], "binary": True, "input_kind": "image",
            "preprocessing": {"preprocess": "page", "image_size": 32}}
    return _export(model, out, card)


def _run(capsys, *argv):
    assert cli.main(["predict", *map(str, argv), "--backend", os.environ.get("KERAS_BACKEND", "tensorflow")]) == 0
    return capsys.readouterr().out


def _write_record(folder, name="rec1", annotate=True):
    import wfdb

    from keras_ecg.data import synthetic

    sig, peaks, labels = synthetic.record(duration_s=12, fs=360, seed=1)
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=360, units=["mV"], sig_name=["MLII"], p_signal=sig[:, None].astype(np.float64),
                fmt=["212"], adc_gain=[200.0], baseline=[0], write_dir=str(folder))
    if annotate:
        wfdb.wrann(name, "atr", peaks, np.array(["N", "A", "V", "F", "Q"])[labels], write_dir=str(folder))
    return folder / name, len(peaks)


def test_csv_of_beats_json(beat_model, tmp_path, capsys):
    rows = np.random.default_rng(0).normal(size=(3, WINDOW + 1)).astype(np.float32)
    rows[:, -1] = [0, 1, 2]  # Kaggle-style label column is dropped
    path = tmp_path / "beats.csv"
    np.savetxt(path, rows, delimiter=",")
    out = json.loads(_run(capsys, beat_model, path, "--json"))
    res = out["results"][0]
    assert res["type"] == "csv" and res["beats"] == 3
    probs = res["items"][0]["probabilities"]
    assert list(probs) == BEAT_CLASSES and abs(sum(probs.values()) - 1) < 1e-4
    assert res["items"][0]["class"] in BEAT_CLASSES


def test_wfdb_record_with_and_without_annotations(beat_model, tmp_path, capsys):
    base, n = _write_record(tmp_path / "a")
    out = json.loads(_run(capsys, beat_model, base, str(base) + ".hea", "--json"))
    assert [r["type"] for r in out["results"]] == ["record", "record"]
    r = out["results"][0]
    assert r["beats_from"].startswith("annotated") and n - 2 <= r["beats"] <= n
    assert sum(r["counts"].values()) == r["beats"]
    base2, n2 = _write_record(tmp_path / "b", annotate=False)
    r2 = json.loads(_run(capsys, beat_model, base2, "--json"))["results"][0]
    assert r2["beats_from"] == "detected R peaks" and abs(r2["beats"] - n2) <= 3
    text = _run(capsys, beat_model, base)
    assert "beats (annotated beats (.atr); lead MLII)" in text and "beat 0 @" in text


def test_images_and_folder_binary_risk(risk_model, tmp_path, capsys):
    from PIL import Image

    d = tmp_path / "pages"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(d / f"p{i}.png")
    out = json.loads(_run(capsys, risk_model, d / "p0.png", d, "--json"))
    assert out["binary"] is True and len(out["results"]) == 4
    for r in out["results"]:
        assert r["type"] == "image" and 0.0 <= r["risk"] <= 1.0 and r["class"] in ("normal", "risky")
    text = _run(capsys, risk_model, d / "p1.png")
    assert "p1.png: " in text and "(risk " in text


def test_bad_inputs(beat_model, risk_model, tmp_path):
    def fails(*argv):
        with pytest.raises(SystemExit) as e:
            cli.main(["predict", *map(str, argv)])
        msg = str(e.value)
        assert "\n" not in msg
        return msg

    assert "no such file, folder or WFDB record" in fails(beat_model, tmp_path / "missing")
    img = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(img)
    assert "takes waveform input" in fails(beat_model, img)
    csv = tmp_path / "short.csv"
    np.savetxt(csv, np.zeros((2, 10)), delimiter=",")
    assert "beats of 64 samples" in fails(beat_model, csv)
    assert "takes image input" in fails(risk_model, csv)
    assert "no such model file" in fails(tmp_path / "nope.keras", csv)
    other = tmp_path / "other.txt"
    other.write_text("hello")
    assert "cannot tell what this input is" in fails(beat_model, other)


def test_card_lookup(beat_model):
    card = P.read_card(beat_model)
    assert card.input_kind == "waveform" and card.preprocessing.window == WINDOW
    assert P.find_model(beat_model.parent) == beat_model


def test_old_or_broken_card_is_one_line_error(beat_model, tmp_path):
    import shutil

    model = tmp_path / "m" / "model.keras"
    model.parent.mkdir()
    shutil.copy(beat_model, model)
    card = json.loads((beat_model.parent / "model_card.json").read_text())
    old = {k: v for k, v in card.items() if k != "card_version"}
    for bad, expect in ((old, "re-export the model"), (dict(card, preprocessing=None), "field preprocessing: missing"),
                        (dict(card, binary="no"), "field binary: expected true/false")):
        (model.parent / "model_card.json").write_text(json.dumps(bad))
        with pytest.raises(SystemExit) as e:
            cli.main(["predict", str(model), str(tmp_path / "any.csv")])
        msg = str(e.value)
        assert "\n" not in msg and str(model.parent / "model_card.json") in msg and expect in msg, msg


def test_one_batch_skips_the_data_pipeline_and_gives_predicts_outputs():
    """``runtime.predict_fn``: up to one batch goes through ``predict_on_batch`` (a live stream's few beats),
    more through ``predict``; both give ``predict``'s probabilities."""
    import keras

    from keras_ecg.deploy import runtime

    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 1))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inp)))
    calls = []
    for name in ("predict", "predict_on_batch"):
        real = getattr(model, name)
        setattr(model, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    run = runtime.predict_fn(model)
    x = np.random.default_rng(0).normal(size=(5, 16, 1)).astype(np.float32)
    want = np.asarray(keras.Model(inp, model.outputs).predict(x, verbose=0), np.float64)
    np.testing.assert_allclose(run([x]), want, rtol=1e-6, atol=1e-7)
    assert calls == ["predict_on_batch"]
    np.testing.assert_allclose(run([x], batch=2), want, rtol=1e-6, atol=1e-7)
    assert calls == ["predict_on_batch", "predict"]
