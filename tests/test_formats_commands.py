"""predict, evaluate, annotate, explain and digitize on DICOM and EDF+ files, and no patient identifier in any output.

The recordings are the synthetic WFDB record written as DICOM and EDF+ objects by this package's
writers, with a fake patient (``DOE^JANE``) in their headers.
"""

import json
import os
import pathlib

import numpy as np
import pytest

import leak_check
from keras_ecg import cli
from keras_ecg.data import signal_files
from keras_ecg.data.formats import dicom, edf_plus

pytest.importorskip("pydicom")
pytest.importorskip("edfio")

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
PATIENT = {"name": "DOE^JANE", "id": "MRN-0042", "birth_date": "1950-01-02", "sex": "F"}
LEAKS = (b"DOE", b"JANE", b"MRN-0042", b"19500102", b"1950-01-02", b"02-JAN-1950")  # any trace of the fake patient


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The synthetic record (WFDB), and the same as DICOM and EDF+ with its reference beats and a fake patient."""
    folder = tmp_path_factory.mktemp("formats")
    base = folder / "synth"
    assert cli.main(["synth-record", str(base), "--minutes", "1.5", "--seed", "3"]) == 0
    rec = signal_files.read(base, annotations="atr")
    rows = list(zip(rec.ann_samples.tolist(), rec.ann_symbols.tolist()))
    rec.start_time = "2024-03-01T10:00:00"
    kw = {"annotations": rows, "identifiers": PATIENT}
    return {"wfdb": base, "dicom": dicom.write(folder / "holter.dcm", rec, **kw),
            "edf": edf_plus.write(folder / "holter.edf", rec, **kw)}


def _no_leak(folder: pathlib.Path, text: str = ""):
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = leak_check.file_bytes(f)
        assert not any(s in data for s in LEAKS), f"{f.name} carries a patient identifier"
    assert not any(s.decode() in text for s in LEAKS)


def test_the_files_carry_the_fake_patient(files):
    assert b"DOE^JANE" in files["dicom"].read_bytes() and b"DOE^JANE" in files["edf"].read_bytes()[:256]


def test_predict_reads_dicom_and_edf_as_the_wfdb_record(beat_model, files, capsys):
    from keras_ecg.deploy import predict as P

    model, card = P.load(beat_model)
    got = {k: P.predict_paths(model, card, [files[k]])[0] for k in ("wfdb", "dicom", "edf")}
    want = [it["class"] for it in got["wfdb"]["items"]]
    assert got["dicom"]["beats_from"] == "annotated beats (in the file)" == got["edf"]["beats_from"]
    assert [it["sample"] for it in got["dicom"]["items"]] == [it["sample"] for it in got["wfdb"]["items"]]
    assert [it["class"] for it in got["dicom"]["items"]] == want  # DICOM at 1 uV holds the record's 5 uV steps
    same = np.mean([a == b for a, b in zip(want, [it["class"] for it in got["edf"]["items"]])])
    assert len(got["edf"]["items"]) == len(want) and same > 0.97  # 16 bits over each lead's own range
    assert cli.main(["predict", str(beat_model), str(files["dicom"]), str(files["edf"]), "--json",
                     "--backend", BACKEND]) == 0
    out = capsys.readouterr().out
    assert [r["input"] for r in json.loads(out)["results"]] == [str(files["dicom"]), str(files["edf"])]
    _no_leak(files["dicom"].parent / "none", out)  # predict writes no file; its answer names no patient


def test_evaluate_scores_the_beats_a_dicom_file_carries(beat_model, files, tmp_path):
    assert cli.main(["evaluate", str(beat_model), str(files["dicom"]), "--out", str(tmp_path / "ev"),
                     "--backend", BACKEND]) == 0
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    n_ref = len(signal_files.read(files["wfdb"], annotations="atr").ann_samples)
    assert 0.9 * n_ref <= report["num_test"] <= n_ref and report["extra"]["items_scored"] == 1  # beats, one record
    assert "ec57" in report
    _no_leak(tmp_path / "ev")


def test_annotate_writes_edf_and_dicom_annotations_without_identifiers(beat_model, files, tmp_path):
    import pydicom
    import wfdb

    out = tmp_path / "ann"
    assert cli.main(["annotate", str(beat_model), str(files["dicom"]), "--out", str(out), "--backend", BACKEND,
                     "--format", "edf,dicom"]) == 0
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert {"holter.ann", "holter.hea", "holter.dat", "holter_annotations.edf",
            "holter_annotations.dcm"} <= set(names)
    ann = wfdb.rdann(str(out / "holter"), "ann")
    want = [(int(s), a or y) for s, y, a in zip(ann.sample, ann.symbol, ann.aux_note)]
    import edfio

    fs = 360.0
    edf_rows = [(int(round(a.onset * fs)), a.text) for a in edfio.read_edf(out / "holter_annotations.edf").annotations]
    assert edf_rows == want  # every beat, rhythm label and pause at its sample
    ds = pydicom.dcmread(out / "holter_annotations.dcm")
    dcm_rows = [(int(a.ReferencedSamplePositions) - 1, a.UnformattedTextValue) for a in ds.WaveformAnnotationSequence]
    assert dcm_rows == want
    back = signal_files.read(out / "holter_annotations.dcm", annotations="atr")
    beats = [(s, y) for s, y, a in zip(ann.sample, ann.symbol, ann.aux_note) if y not in '+"']
    assert list(zip(back.ann_samples.tolist(), back.ann_symbols.tolist())) == beats
    np.testing.assert_allclose(back.signal, signal_files.read(files["dicom"]).signal, atol=5e-4)
    assert back.start_time == "2024-03-01T10:00:00"
    _no_leak(out)


def test_annotate_keeps_identifiers_only_with_the_flag(beat_model, files, tmp_path):
    out = tmp_path / "keep"
    assert cli.main(["annotate", str(beat_model), str(files["edf"]), "--out", str(out), "--backend", BACKEND,
                     "--format", "dicom,edf", "--keep-identifiers"]) == 0
    got = signal_files.read(out / "holter_annotations.dcm", identifiers=True).identifiers
    assert got["name"] == "DOE^JANE" and got["id"] == "MRN-0042" and got["birth_date"] == "1950-01-02"
    assert signal_files.read(out / "holter_annotations.edf", identifiers=True).identifiers["id"] == "MRN-0042"
    carriers = {p.name for p in out.iterdir() if p.is_file() and any(s in p.read_bytes() for s in LEAKS)}
    assert carriers == {"holter_annotations.dcm", "holter_annotations.edf"}  # and nothing else


def test_explain_reads_an_edf_file(beat_model, files, tmp_path):
    out = tmp_path / "why"
    assert cli.main(["explain", str(beat_model), str(files["edf"]), "--out", str(out), "--max", "2",
                     "--backend", BACKEND]) == 0
    items = json.loads((out / "explanations.json").read_text())["items"]
    assert len(items) == 2 and items[0]["input"] == str(files["edf"])
    _no_leak(out)


def test_annotate_format_flag_refuses_unknown_formats(beat_model, files, tmp_path):
    with pytest.raises(SystemExit, match="unknown format 'hl7' \\(known: wfdb, edf, dicom\\)"):
        cli.main(["annotate", str(beat_model), str(files["edf"]), "--out", str(tmp_path / "x"), "--format", "edf,hl7"])


@pytest.mark.backend_free
def test_digitize_writes_the_12_leads_as_a_dicom_12_lead_object(tmp_path):
    import pydicom
    import wfdb
    from PIL import Image

    from keras_ecg.data.images import synthetic_pages

    page = tmp_path / "Page (1).png"
    Image.fromarray(synthetic_pages.render_page("mi", seed=4, layout="6x2+1")).save(page)
    out = tmp_path / "out"
    assert cli.main(["digitize", str(page), "--out", str(out), "--fs", "250", "--format", "wfdb,dicom"]) == 0
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == ["Page_1.csv", "Page_1.dat", "Page_1.dcm", "Page_1.hea", "Page_1.json", "Page_1_overlay.png"]
    assert pydicom.dcmread(out / "Page_1.dcm").SOPClassUID == dicom.TWELVE_LEAD
    d = signal_files.read(out / "Page_1.dcm")
    w = wfdb.rdrecord(str(out / "Page_1"))
    assert d.leads == w.sig_name[:12] and d.fs == 250.0 and d.signal.shape == (2500, 12)
    ref = w.p_signal[:, :12]
    assert (np.isnan(d.signal) == np.isnan(ref)).all()  # leads not printed: NaN in both
    ok = np.isfinite(ref)
    assert np.abs(d.signal[ok] - ref[ok]).max() <= 0.0055  # WFDB's and DICOM's quantisation together
