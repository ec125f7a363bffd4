"""Predict refuses what would give a silent wrong answer: inputs built exactly as the card says (the same beats
as a CSV and as a record give the same outputs), a card that disagrees with its model, the lead policy,
non-finite samples, model files that are truncated or carry code, bad flags, a closed stdout.

Tiny untrained models exported with the package's own ``export`` (the card is the real one).
"""

import json
import os
import shutil

import numpy as np
import pytest

from keras_ecg import cli
from keras_ecg.data import beats as B
from keras_ecg.deploy import predict as P
from keras_ecg.errors import CardError, DataError, KerasECGError

WINDOW, FS = 64, 125
PREP = {"fs": FS, "before": 24, "after": WINDOW - 24, "leads": ["MLII"], "normalize": "zscore"}


@pytest.fixture(scope="module")
def beat_model(tmp_path_factory):
    from keras_ecg import export, registry

    out = tmp_path_factory.mktemp("beat_model")
    model = registry.build("cnn1d", (WINDOW, 1), 5, filters=(4,), dense_units=(4,))
    export(model, out, formats=("keras",), card={
        "class_names": ["N", "S", "V", "F", "Q"], "binary": False, "input_kind": "waveform", "model": "cnn1d",
        "model_args": {"filters": [4], "dense_units": [4]}, "preprocessing": PREP})
    return out


def _record(folder, leads=("MLII",), nan_at=None, name="rec"):
    import wfdb

    from keras_ecg.data import synthetic

    sig, peaks, labels = synthetic.record(duration_s=10, fs=360, seed=3)
    sig = np.repeat(sig[:, None], len(leads), axis=1).astype(np.float64)
    if nan_at is not None:
        sig[nan_at:nan_at + 40, 0] = np.nan
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=360, units=["mV"] * len(leads), sig_name=list(leads), p_signal=sig,
                fmt=["212"] * len(leads), adc_gain=[200.0] * len(leads), baseline=[0] * len(leads),
                write_dir=str(folder))
    wfdb.wrann(name, "atr", peaks, np.array(["N", "A", "V", "F", "Q"])[labels], write_dir=str(folder))
    return folder / name


def _errs(fn, *a, **k):
    with pytest.raises(KerasECGError) as e:
        fn(*a, **k)
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


def test_same_beats_as_csv_and_as_record_give_the_same_outputs(beat_model, tmp_path):
    model, card = P.load(beat_model)
    rec = _record(tmp_path / "db")
    from_record = P.predict_paths(model, card, [rec])[0]
    # the record's beat windows as a CSV: cut and filtered as the card says, not yet normalised
    from keras_ecg.data import mitbih

    r = mitbih.load_record(rec)
    spec = B.BeatSpec.from_card(card.preprocessing)
    raw, _, keep, _ = B.beat_inputs(r.signal, r.fs, r.ann_samples, B.BeatSpec(**{
        **{f: getattr(spec, f) for f in ("fs", "before_s", "after_s", "leads", "filter", "rr")}, "normalize": None}),
        r.leads)
    assert np.abs(raw.mean(axis=1)).max() > 0.01  # not z-scored yet: skipping the normalisation would show
    csv = tmp_path / "beats.csv"
    np.savetxt(csv, raw[..., 0], delimiter=",", fmt="%.9g")
    from_csv = P.predict_paths(model, card, [csv])[0]
    assert from_csv["beats"] == from_record["beats"] == int(keep.sum())
    a = np.array([list(it["probabilities"].values()) for it in from_record["items"]])
    b = np.array([list(it["probabilities"].values()) for it in from_csv["items"]])
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert from_csv["counts"] == from_record["counts"]
    assert from_record["leads_used"] == ["MLII"]


def _edited(beat_model, tmp_path, edit):
    d = tmp_path / "edited"
    shutil.copytree(beat_model, d)
    card = json.loads((d / "model_card.json").read_text())
    edit(card)
    (d / "model_card.json").write_text(json.dumps(card))
    return d


@pytest.mark.parametrize("edit, field", [
    (lambda c: c["preprocessing"].update(after=c["preprocessing"]["after"] + 10), "preprocessing.before + after"),
    (lambda c: (c.update(class_names=["N", "S", "V"]), c["output"].update(shape=[None, 3])), "class_names"),
    (lambda c: c["inputs"][0].update(name="beats_v2"), "inputs[0].name"),
    (lambda c: c["preprocessing"].update(leads=["MLII", "V1"]), "preprocessing.leads"),
    (lambda c: c["preprocessing"].update(rr_features=["pre_rr"]), "preprocessing.rr_features"),
])
def test_a_card_that_disagrees_with_its_model_is_refused(beat_model, tmp_path, edit, field):
    msg = _errs(P.load, _edited(beat_model, tmp_path, edit))
    assert f"field {field}:" in msg and "model_card.json" in msg


def test_lead_policy():
    twelve = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    assert B.choose_leads(twelve, ["MLII"]) == [1]  # II, never lead I
    assert B.choose_leads(["V1", "ECG MLII"], ["MLII"]) == [1]  # the closest-named lead
    assert B.choose_leads(["V1", "MLII_1"], ["MLII"]) == [1]
    with pytest.raises(DataError, match="--lead"):
        B.choose_leads(["V1"], ["MLII"])  # another lead is never taken silently
    with pytest.raises(DataError):
        B.choose_leads(["I", "III"], ["II"])  # III is a lead of its own, not "close" to II


def test_a_record_without_the_lead_needs_lead_flag(beat_model, tmp_path, capsys):
    model, card = P.load(beat_model)
    rec = _record(tmp_path / "db", leads=("V1",))
    assert "--lead" in _errs(P.predict_paths, model, card, [rec])
    res = P.predict_paths(model, card, [rec], lead="V1")[0]
    assert res["leads_used"] == ["V1"] and res["leads_wanted"] == ["MLII"] and res["beats"] > 0
    assert "lead V1 for MLII" in P.format_text([res], card)
    assert "no such lead" in _errs(P.predict_paths, model, card, [rec], lead="V9")


def test_non_finite_samples_are_refused_by_one_rule(beat_model, tmp_path):
    model, card = P.load(beat_model)
    rec = _record(tmp_path / "db", nan_at=1000)
    msg = _errs(P.predict_paths, model, card, [rec])
    assert "non-finite samples" in msg and "first at sample 1000" in msg and "rec" in msg
    csv = tmp_path / "beats.csv"
    rows = np.random.default_rng(0).normal(size=(4, WINDOW))
    rows[2, 5] = np.inf
    np.savetxt(csv, rows, delimiter=",")
    msg = _errs(P.predict_paths, model, card, [csv])
    assert "non-finite" in msg and "first row 3" in msg and "beats.csv" in msg


def test_model_files_truncated_or_with_code_are_refused(beat_model, tmp_path):
    import keras

    trunc = tmp_path / "trunc" / "model.keras"
    shutil.copytree(beat_model, trunc.parent)
    data = trunc.read_bytes()
    trunc.write_bytes(data[: len(data) // 2])
    msg = _errs(P.load, trunc)
    assert "not a complete .keras file" in msg and "File not found" not in msg

    x = keras.Input((WINDOW, 1), name="beats")
    lam = keras.Model(x, keras.layers.Dense(5)(keras.layers.Lambda(lambda t: t * 2)(keras.layers.Flatten()(x))))
    lam.save(tmp_path / "lambda.keras")
    from keras_ecg.models import load_model

    assert "Lambda layer" in _errs(load_model, tmp_path / "lambda.keras")

    @keras.saving.register_keras_serializable("issue11test")
    class Unregistered(keras.layers.Layer):
        def call(self, t):
            return t

    keras.Model(x, Unregistered()(x)).save(tmp_path / "custom.keras")
    keras.saving.get_custom_objects().pop("issue11test>Unregistered")
    assert "unknown custom object 'issue11test>Unregistered'" in _errs(load_model, tmp_path / "custom.keras")
    with pytest.raises(CardError):  # DataError and CardError are both one-line KerasECGErrors
        raise CardError("x")


def _cli(*argv):
    return cli.main(["predict", *map(str, argv), "--backend", os.environ.get("KERAS_BACKEND", "tensorflow")])


def test_bad_flags_and_a_closed_stdout_are_one_line(beat_model, tmp_path, monkeypatch):
    csv = tmp_path / "beats.csv"
    np.savetxt(csv, np.random.default_rng(0).normal(size=(3, WINDOW)), delimiter=",")
    with pytest.raises(SystemExit) as e:
        _cli(beat_model, csv, "--batch-size", "-3")
    assert "--batch-size" in str(e.value) and "must be >= 1" in str(e.value) and "\n" not in str(e.value)

    class ClosedPipe:
        def __init__(self, fd):
            self.fd = fd

        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

        def fileno(self):
            return self.fd

    fd = os.open(tmp_path / "stdout", os.O_WRONLY | os.O_CREAT)
    try:
        monkeypatch.setattr("sys.stdout", ClosedPipe(fd))
        with pytest.raises(SystemExit) as e:
            _cli(beat_model, csv)
    finally:
        os.close(fd)
    assert "broken pipe" in str(e.value) and "\n" not in str(e.value)


def test_an_empty_csv_is_one_line(beat_model, tmp_path):
    model, card = P.load(beat_model)
    csv = tmp_path / "empty.csv"
    csv.write_text("")
    assert "no beats" in _errs(P.predict_paths, model, card, [csv])
