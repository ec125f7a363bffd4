"""The typed, versioned model card: round trip, errors naming the file and the field, rebuilding the model."""

import dataclasses
import json

import numpy as np
import pytest

from keras_ecg import card as C
from keras_ecg.errors import CardError, KerasECGError


def _card_dict(**over):
    d = {
        "card_version": 1,
        "name": "beat_cnn",
        "inputs": [{"name": "beats", "shape": [None, 64, 1], "dtype": "float32"},
                   {"name": "rr", "shape": [None, 4], "dtype": "float32"}],
        "output": {"shape": [None, 5], "kind": "softmax"},
        "backend": "jax",
        "versions": {"keras": "3.0", "jax": None},
        "files": {"keras": "model.keras"},
        "export": {"atol": 1e-4, "verified_on": "random", "seconds": 1.5, "formats": {"keras": {
            "status": "ok", "file": "model.keras", "path": "native:jax", "max_abs_error": 0.0,
            "batch_sizes": [1, 4], "seconds": 0.5}}},
        "created": "2026-01-01T00:00:00+00:00",
        "class_names": ["N", "S", "V", "F", "Q"],
        "input_kind": "waveform",
        "preprocessing": {"fs": 125, "before": 32, "after": 32, "leads": ["MLII"], "normalize": "zscore",
                          "rr_features": ["pre", "post", "local", "ratio"]},
        "model": "cnn1d",
        "model_args": {"input_shape": [64, 1], "num_classes": 5},
        "training_data": {"source": "synthetic beats", "synthetic": True, "split": "group_split"},
        "metrics": {"accuracy": 0.5, "roc_auc_risk": None},
    }
    d.update(over)
    return d


def _error(d, tmp_path, name="model_card.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(d) if not isinstance(d, str) else d)
    with pytest.raises(CardError) as e:
        C.read(path)
    msg = str(e.value)
    assert msg.startswith(str(path)) and "\n" not in msg
    return msg


def test_round_trip_and_typed_parts(tmp_path):
    card = C.ModelCard.from_dict(_card_dict())
    assert isinstance(card.preprocessing, C.WaveformPreprocessing) and card.preprocessing.window == 64
    assert card.preprocessing.fs == 125.0 and isinstance(card.preprocessing.fs, float)
    assert [i.name for i in card.inputs] == ["beats", "rr"]
    assert card.export.formats["keras"].path == "native:jax" and card.training_data.synthetic is True
    C.write(tmp_path / "model_card.json", card)
    assert [p.name for p in tmp_path.iterdir()] == ["model_card.json"]  # no temporary left
    again = C.read(tmp_path / "model_card.json")
    assert again == card
    assert next(iter(json.loads((tmp_path / "model_card.json").read_text()))) == "card_version"


def test_image_preprocessing_by_input_kind():
    d = _card_dict(input_kind="panels", preprocessing={"preprocess": "panels", "panel_size": [64, 64],
                                                       "layout": "3x4+1"})
    card = C.ModelCard.from_dict(d)
    assert isinstance(card.preprocessing, C.ImagePreprocessing) and card.preprocessing.panel_size == [64, 64]


@pytest.mark.parametrize("change, field, problem", [
    ({"binary": "yes"}, "field binary", "expected true/false"),
    ({"inputs": [{"name": "x", "shape": [None, "64"]}]}, "field inputs[0].shape[1]", "expected an integer"),
    ({"classes": ["N"]}, "field classes", "unknown field"),
    ({"preprocessing": {"fs": 125, "before": 32, "after": 32, "lead": "MLII"}},
     "field preprocessing.lead", "did you mean 'leads'"),
    ({"preprocessing": {"fs": 125, "before": 32}}, "field preprocessing.after", "missing"),
    ({"export": {"atol": 1e-4, "verified_on": "r", "seconds": 1, "formats": {"onnx": {"status": "ok"}}}},
     "field export.formats.onnx.file", "missing"),
    ({"class_names": ["N", "S"]}, "field class_names", "2 names for a model with 5 output columns"),
    ({"binary": True}, "field binary", "outputs 5 column"),
    ({"input_kind": "audio"}, "field input_kind", "not one of waveform, image, panels"),
    ({"metrics": {"accuracy": "high"}}, "field metrics.accuracy", "expected a number or null"),
])
def test_malformed_card_names_file_and_field(tmp_path, change, field, problem):
    msg = _error(_card_dict(**change), tmp_path)
    assert field in msg and problem in msg, msg


def test_other_schemas_and_broken_files(tmp_path):
    old = {k: v for k, v in _card_dict().items() if k != "card_version"}
    old.update(classes=["N"], input={"name": "input"})  # the unversioned card export wrote before
    assert "re-export the model" in _error(old, tmp_path)
    assert "newer keras_ecg" in _error(_card_dict(card_version=2), tmp_path)
    assert "field card_version" in _error(_card_dict(card_version="1"), tmp_path)
    assert "not valid JSON" in _error("{not json", tmp_path)
    assert "expected a JSON object" in _error([1, 2], tmp_path)
    with pytest.raises(CardError, match="model card missing"):
        C.find(tmp_path / "a" / "b" / "model.keras")
    assert issubclass(CardError, KerasECGError)


def test_preprocessing_from_a_loader_dict():
    prep = C.preprocessing_from("waveform", {"input_kind": "waveform", "window": 187, "fs": 125, "lead": "MLII",
                                             "normalize": None, "r_offset": 90, "mi_top": 2, "mi_indices": [3, 9]})
    assert (prep.before, prep.after, prep.leads, prep.window, prep.num_samples) == (90, 97, ["MLII"], 187, 2)
    img = C.preprocessing_from("image", {"input_kind": "image", "preprocess": "page", "image_size": 224,
                                         "classes": None, "binary": True})
    assert img == C.ImagePreprocessing(preprocess="page", image_size=224)
    with pytest.raises(CardError, match="preprocessing.sampling_rate: unknown field for WaveformPreprocessing"):
        C.preprocessing_from("waveform", {"window": 10, "fs": 1, "sampling_rate": 1})


def test_every_field_has_one_line_of_help():
    for cls in (C.ModelCard, C.InputSpec, C.OutputSpec, C.WaveformPreprocessing, C.ImagePreprocessing,
                C.TrainingData, C.ExportInfo, C.FormatResult):
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help") and "\n" not in f.metadata["help"], (cls.__name__, f.name)


def test_import_card_imports_neither_keras_nor_numpy():
    import subprocess
    import sys

    code = "import sys, keras_ecg.card; print('keras' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# ----------------------------------------------------------------------------- with keras: export writes it


@pytest.mark.parametrize("name, shape, k, args, binary", [
    ("cnn1d", (64, 1), 5, {"filters": (4, 8), "dense_units": (8,)}, False),
    ("cnn2d", (32, 32, 3), 2, {"filters": (4, 4), "dense_units": (4,), "binary": True}, True),
])
def test_export_card_rebuilds_the_architecture(tmp_path, name, shape, k, args, binary):
    import keras_ecg

    model = keras_ecg.build(name, shape, k, **args)
    names = ["normal", "risky"] if binary else list("NSVFQ")
    kind = "image" if len(shape) == 3 else "waveform"
    prep = {"preprocess": "page", "image_size": 32} if binary else {"fs": 125, "window": 64, "lead": "MLII"}
    keras_ecg.export(model, tmp_path, formats=("keras",), card={
        "model": name, "model_args": args, "class_names": names, "binary": binary, "input_kind": kind,
        "preprocessing": prep, "training_data": {"source": "unit test", "synthetic": True}})
    card = C.read(tmp_path / C.CARD_NAME)
    assert card.model_args["input_shape"] == list(shape) and card.model_args["num_classes"] == k
    rebuilt = keras_ecg.build(card.model, **card.model_args)
    assert rebuilt.count_params() == model.count_params()
    assert [type(la).__name__ for la in rebuilt.layers] == [type(la).__name__ for la in model.layers]
    assert [tuple(t.shape) for t in rebuilt.outputs] == [tuple(t.shape) for t in model.outputs]
    assert card.binary is binary and card.output.kind == ("sigmoid" if binary else "softmax")


def test_export_refuses_a_bad_card_before_writing(tmp_path):
    import keras_ecg

    model = keras_ecg.build("cnn1d", (32, 1), 3, filters=(4,), dense_units=(4,))
    with pytest.raises(CardError, match="field classes: not a field the caller gives"):
        keras_ecg.export(model, tmp_path / "a", formats=("keras",), card={"classes": ["a", "b", "c"]})
    with pytest.raises(CardError, match="field class_names: 2 names for a model with 3 output columns"):
        keras_ecg.export(model, tmp_path / "b", formats=("keras",), card={"class_names": ["a", "b"]})
    for d in ("a", "b"):
        assert not (tmp_path / d).exists() or list((tmp_path / d).iterdir()) == []


def test_export_of_two_inputs_lists_both(tmp_path):
    import keras

    import keras_ecg

    beats, rr = keras.Input((32, 1), name="beats"), keras.Input((4,), name="rr")
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.Conv1D(4, 3)(beats))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Concatenate()([h, rr]))
    model = keras.Model([beats, rr], out)
    rng = np.random.default_rng(0)
    sample = {"rr": rng.normal(size=(3, 4)), "beats": rng.normal(size=(3, 32, 1))}
    res = keras_ecg.export(model, tmp_path, formats=("keras", "onnx"), sample_inputs=sample)
    card = C.read(tmp_path / C.CARD_NAME)
    assert [(i.name, i.shape) for i in card.inputs] == [("beats", [None, 32, 1]), ("rr", [None, 4])]
    assert all(r.max_abs_error <= 1e-4 for r in card.export.formats.values())
    assert res["export"]["verified_on"].startswith("caller-provided inputs, 3")


def test_bare_list_and_dict_fields_take_any_json():
    @dataclasses.dataclass
    class Part:
        seen: dict | None = None
        names: list = dataclasses.field(default_factory=list)

    assert C._build(Part, {"seen": {"100": ["MLII"]}, "names": ("a",)}, "card.json", "p") == Part({"100": ["MLII"]},
                                                                                                  ["a"])
    with pytest.raises(CardError, match="card.json: field p.seen: expected an object, got"):
        C._build(Part, {"seen": ["MLII"]}, "card.json", "p")
