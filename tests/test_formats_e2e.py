"""HL7 aECG, GE MUSE XML and ISHNE files through the commands: recognised by content, refused when misnamed,
annotated and predicted like a WFDB record, and their header's patient identifiers in no output.

The files hold a synthetic record (``synth-record``) and the made-up patient DOE^JANE.
"""

import datetime
import os

import numpy as np
import pytest

import format_builders as fb
import leak_check
from keras_ecg import cli
from keras_ecg.data import formats, signal_files, wfdb_io
from keras_ecg.data.formats import aecg, ishne, muse
from keras_ecg.errors import DataError

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
SECRETS = ("DOE", "JANE", fb.PATIENT_ID, "1951-03-17", "03-17-1951", "19510317")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The same 90 s of synthetic ECG (lead II at 360 Hz, 500 Hz for MUSE) as WFDB, ISHNE, aECG and MUSE."""
    d = tmp_path_factory.mktemp("formats")
    base = d / "synth"
    assert cli.main(["synth-record", str(base), "--minutes", "1.5", "--seed", "3"]) == 0
    rec = wfdb_io.load_record(base, annotations=None)
    ii = wfdb_io.Record("r", rec.signal[:, :1], rec.fs, ["II"])
    out = {"wfdb": base, "ishne": ishne.write(d / "holter.ecg", ii, identifiers={
        "first_name": "JANE", "last_name": "DOE", "id": fb.PATIENT_ID, "sex": "F",
        "birth_date": datetime.date(1951, 3, 17)})}
    digits = np.rint(rec.signal[:, 0] * 1000 / 5).astype(int)  # 5 uV per digit
    out["aecg"] = d / "trial.xml"
    out["aecg"].write_text(fb.aecg_text({"MDC_ECG_LEAD_II": digits}, step=repr(1 / 360)))
    x500 = np.interp(np.arange(0, len(rec.signal) / 360, 1 / 500), np.arange(len(rec.signal)) / 360, rec.signal[:, 0])
    i_ii = {"I": np.rint(0.4 * x500 / 4.88e-3), "II": np.rint(x500 / 4.88e-3)}
    leads = dict(i_ii, **{f"V{k}": np.rint((0.2 + 0.1 * k) * x500 / 4.88e-3) for k in range(1, 7)})
    out["muse"] = d / "resting.xml"
    out["muse"].write_bytes(fb.muse_text(fb.muse_waveform("Rhythm", leads)).encode("latin-1"))
    return out


def test_formats_are_recognised_by_content_whatever_the_name(files, tmp_path):
    assert formats.detect(files["ishne"]) == "ishne" and formats.detect(files["aecg"]) == "aecg"
    assert formats.detect(files["muse"]) == "muse" and formats.detect(files["wfdb"].with_suffix(".hea")) is None
    for k in ("ishne", "aecg", "muse"):
        plain = tmp_path / f"recording_{k}"  # no suffix: read by content
        plain.write_bytes(files[k].read_bytes())
        assert signal_files.kind(plain) == k
        a, b = signal_files.read(plain), formats.module(k).read(files[k])
        assert a.fs == b.fs and a.leads == b.leads and np.array_equal(a.signal, b.signal, equal_nan=True)


@pytest.mark.parametrize("src, name, claims, holds", [
    ("aecg", "x.ecg", "ISHNE Holter", "HL7 aECG"),
    ("ishne", "x.xml", "HL7 aECG or GE MUSE XML", "ISHNE Holter"),
    ("muse", "x.csv", "a CSV of samples", "GE MUSE XML"),
])
def test_a_file_named_as_one_format_holding_another_is_refused_in_one_line(files, tmp_path, src, name, claims, holds):
    p = tmp_path / name
    p.write_bytes(files[src].read_bytes())
    with pytest.raises(DataError) as e:
        signal_files.read(p, fs=360)
    msg = str(e.value)
    assert msg.startswith(str(p)) and claims in msg and f"{holds} content" in msg and "\n" not in msg


@pytest.fixture(scope="module")
def reference_beats(beat_model, files, tmp_path_factory):
    """The beats annotate finds in the WFDB record itself."""
    import wfdb

    ref = tmp_path_factory.mktemp("ref")
    assert cli.main(["annotate", str(beat_model), str(files["wfdb"]), "--out", str(ref), "--backend", BACKEND]) == 0
    return [s for s in wfdb.rdann(str(ref / "synth"), "ann").symbol if s not in '+"']


def _outputs(folder) -> str:
    return "\n".join(leak_check.file_bytes(p).decode("latin-1") for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.mark.parametrize("kind", ["ishne", "aecg", "muse"])
def test_annotate_and_predict_read_the_file_as_a_recording_and_leak_no_identifier(beat_model, files, reference_beats,
                                                                                 tmp_path, capsys, kind):
    import wfdb

    src = files[kind]
    assert any(s in src.read_bytes().decode("latin-1") for s in SECRETS)  # the file does hold them
    out = tmp_path / "out"
    assert cli.main(["annotate", str(beat_model), str(src), "--out", str(out), "--backend", BACKEND]) == 0
    assert cli.main(["predict", str(beat_model), str(src), "--json", "--backend", BACKEND]) == 0
    printed = capsys.readouterr()
    written = _outputs(out)
    for s in SECRETS:
        assert s not in written and s not in printed.out and s not in printed.err, s
    ann = wfdb.rdann(str(out / src.stem), "ann")
    beats = [s for s in ann.symbol if s not in '+"']
    if kind != "muse":  # the same samples as the WFDB record at 360 Hz (within the files' quantisation)
        assert abs(len(beats) - len(reference_beats)) <= 1
    assert len(beats) > 60  # 90 s of ECG


def test_identifiers_are_read_when_asked(files):
    for k in ("ishne", "aecg", "muse"):
        assert signal_files.read(files[k]).identifiers is None
        ids = signal_files.read(files[k], identifiers=True).identifiers
        assert "DOE" in repr(ids) and fb.PATIENT_ID in repr(ids) and "1951" in repr(ids)
        assert {"name", "id", "birth_date", "sex"} <= set(ids), k  # the keys every reader gives (DICOM's, EDF's)
        assert "DOE" in ids["name"] and ids["id"] == fb.PATIENT_ID, k
    assert muse.read(files["muse"]).derived_leads == ["III", "aVR", "aVL", "aVF"]
    assert aecg.read(files["aecg"]).fs == 360.0
