"""``keras-ecg evaluate``: a saved model scored on WFDB records, image folders and labelled CSVs it never saw."""

import json
import os

import numpy as np
import pytest

from keras_ecg import cli
from keras_ecg.data import synthetic, synthetic_wfdb

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


def _export(model, out, card):
    from keras_ecg import export

    export(model, out, formats=("keras",), card=card)
    return out / "model.keras"


@pytest.fixture(scope="module")
def csv_model(tmp_path_factory):
    from keras_ecg import registry

    model = registry.build("cnn1d", (64, 1), 5, filters=(4,), dense_units=(4,))
    return _export(model, tmp_path_factory.mktemp("csv_model"), {
        "class_names": list(synthetic.CLASSES), "binary": False, "input_kind": "waveform",
        "preprocessing": {"fs": 125, "before": 32, "after": 32, "leads": ["MLII"], "normalize": "zscore"}})


def _image_model(tmp_path_factory, names, binary):
    from keras_ecg import registry

    model = registry.build("cnn2d", (32, 32, 3), 2, filters=(4,), dense_units=(4,), binary=binary)
    return _export(model, tmp_path_factory.mktemp("img_model"), {
        "class_names": names, "binary": binary, "input_kind": "image",
        "preprocessing": {"preprocess": "page", "image_size": 32}})


def _evaluate(model, out, *data):
    return cli.main(["evaluate", str(model), *map(str, data), "--out", str(out), "--backend", BACKEND])


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Three synthetic records at 250 Hz whose lead is called ECG1, and one whose header is garbage."""
    folder = tmp_path_factory.mktemp("records")
    for i in range(3):
        sig, peaks, labels = synthetic.record(60, fs=250, seed=20 + i)
        files = synthetic_wfdb.wfdb_files(f"r{i}", sig, 250, ["ECG1"], peaks,
                                          [synthetic_wfdb.SYMBOLS[synthetic.CLASSES[k]] for k in labels],
                                          write_dir=folder)
        assert set(files) == {"hea", "dat", "atr"}
    (folder / "r9.hea").write_text("this is not a header\n")
    return folder


def test_wfdb_folder_scored_with_ec57_and_bad_record_named(beat_model, records, tmp_path):
    from keras_ecg.deploy import predict as P
    from keras_ecg.data import model_inputs as W
    from keras_ecg.evaluation.metrics import classification_metrics, confusion_matrix

    out = tmp_path / "ev"
    assert _evaluate(beat_model, out, records) == 0
    report = json.loads((out / "report.json").read_text())
    assert [s["item"] for s in report["extra"]["skipped"]] == [str(records / "r9")]
    assert "cannot parse WFDB header" in report["extra"]["skipped"][0]["reason"]
    assert str(records) in report["split"] and report["data_source"] == str(records)
    assert {"reference", "detected"} <= set(report["ec57"]) and report["ec57"]["records"] == [
        str(records / f"r{i}") for i in range(3)]
    # the figures are the model's on the reference beats, labels from the .atr files
    model, card = P.load(beat_model)
    import wfdb

    ys, preds = [], []
    for i in range(3):
        rec = W.record_inputs(records / f"r{i}", card.preprocessing)
        ann = wfdb.rdann(str(records / f"r{i}"), "atr")
        sym = dict(zip(ann.sample, ann.symbol))
        inv = {v: k for k, v in synthetic_wfdb.SYMBOLS.items()}
        ys += [card.class_names.index(inv[sym[s]]) for s in rec.peaks]
        preds += list(np.asarray(model.predict(rec.inputs, verbose=0)).argmax(axis=1))
    m = classification_metrics(confusion_matrix(np.array(ys), np.array(preds), 5), card.class_names)
    assert report["num_test"] == len(ys) and report["accuracy"] == pytest.approx(m["accuracy"], abs=1e-9)
    assert (out / "confusion_matrix.png").is_file() and "AAMI EC57" in (out / "report.md").read_text()


def _png(path, seed):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    for i in range(3):
        _png(root / "Normal Person ECG Images (859)" / f"Normal ({i}).png", i)
        _png(root / "mi" / f"MI({i}).png", 10 + i)
        _png(root / "covid19" / f"c{i}.png", 20 + i)
    (root / "mi" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def test_image_folder_classes_by_name(tmp_path_factory, pages, tmp_path):
    model = _image_model(tmp_path_factory, ["normal", "mi"], binary=False)
    assert _evaluate(model, tmp_path / "ev", pages) == 0
    r = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert r["num_test"] == 6 and r["per_class"]["normal"]["support"] == 3 and r["per_class"]["mi"]["support"] == 3
    reasons = {os.path.basename(s["item"]): s["reason"] for s in r["extra"]["skipped"]}
    assert set(reasons) == {"broken.jpg", "c0.png", "c1.png", "c2.png"}
    assert "not among the model's" in reasons["c0.png"] and "broken.jpg" in reasons["broken.jpg"]


def test_image_folder_binary_normal_vs_rest(tmp_path_factory, pages, tmp_path):
    model = _image_model(tmp_path_factory, ["normal", "risky"], binary=True)
    assert _evaluate(model, tmp_path / "ev", pages) == 0
    r = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert r["binary"] and r["per_class"]["normal"]["support"] == 3 and r["per_class"]["risky"]["support"] == 6
    assert [os.path.basename(s["item"]) for s in r["extra"]["skipped"]] == ["broken.jpg"]


def test_labelled_csv(csv_model, tmp_path):
    ds = synthetic.beats(n_per_class=4, fs=125, window=64, seed=0)
    good = tmp_path / "beats.csv"
    np.savetxt(good, np.c_[ds.x[..., 0] if ds.x.ndim == 3 else ds.x, ds.y], delimiter=",", fmt="%.5f")
    named = tmp_path / "named.csv"
    named.write_text("".join(",".join(f"{v:.5f}" for v in row) + f",{synthetic.CLASSES[y]}\n"
                             for row, y in zip(ds.x.reshape(len(ds.y), -1), ds.y)))
    short = tmp_path / "short.csv"
    np.savetxt(short, np.zeros((3, 10)), delimiter=",")
    assert _evaluate(csv_model, tmp_path / "ev", good, named, short) == 0
    r = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert r["num_test"] == 2 * len(ds.y) and all(r["per_class"][c]["support"] == 8 for c in synthetic.CLASSES)
    assert [s["item"] for s in r["extra"]["skipped"]] == [str(short)] and "10 values" in r["extra"]["skipped"][0][
        "reason"]


def test_errors_are_one_line(csv_model, records, pages, tmp_path):
    with pytest.raises(SystemExit) as e:
        _evaluate(csv_model, tmp_path / "ev", pages)
    assert str(e.value).startswith("keras-ecg evaluate: error: ") and "takes waveform input" in str(e.value)
    with pytest.raises(SystemExit) as e:
        _evaluate(csv_model, tmp_path / "ev", records / "r9")
    assert "nothing could be scored" in str(e.value) and "r9" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.backend_free
def test_real_mitbih_records(mitdb_dir, tmp_path):
    """The shipped DS1 model on two DS2 records: figures on reference and on detected beats."""
    assert _evaluate("pretrained:mitbih_beats", tmp_path / "ev", mitdb_dir / "100", mitdb_dir / "103") == 0
    r = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert 4300 < r["num_test"] <= 2273 + 2091  # every reference beat whose window fits in the record
    assert r["accuracy"] > 0.8 and r["ec57"]["detected"]["accuracy"] > 0.8
    assert r["ec57"]["detected"]["detector_se"] > 0.99
