"""Issue 26 item 4: rates, units, spans and names. Each class of bad input is refused in one line naming the
file and the problem (or, for names, simply works) in every command that reads it."""

import json
import os
import shutil
import struct

import numpy as np
import pytest

import tiny_beat_model
from keras_ecg import cli
from keras_ecg.data import rates, signal_files, synthetic_wfdb
from keras_ecg.errors import DataError

BACKEND = os.environ.get("KERAS_BACKEND", "jax")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_beat_model.make(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    base = tmp_path_factory.mktemp("rec") / "rec"
    synthetic_wfdb.write_record(base, 1.0, 360.0, 2, ["MLII"])
    return base


def _run(*argv):
    """``(exit code, one-line message)`` of a command; a traceback fails the test."""
    try:
        return cli.main([str(a) for a in argv]), ""
    except SystemExit as e:
        msg = str(e.code if e.code is not None else "")
        assert "\n" not in msg and "Traceback" not in msg
        return 1, msg


def _samples(rec):
    import wfdb

    return wfdb.rdrecord(str(rec)).p_signal[:, 0].astype(np.float32)


# ----------------------------------------------------------------------------- sampling rates


@pytest.mark.parametrize("fs", ["nan", "inf", "-inf", "0", "-360", "40", "1e9", "abc"])
def test_bad_fs_is_refused_in_one_line_by_every_command(model, rec, tmp_path, fs):
    csv = tmp_path / "rec.csv"
    np.savetxt(csv, _samples(rec), fmt="%.6f")
    code, msg = _run("annotate", model, csv, f"--fs={fs}", "--out", tmp_path / "o", "--backend", BACKEND)
    assert code == 1 and "--fs" in msg and ("positive finite" in msg or rates.RANGE_TEXT in msg or "number" in msg)
    assert not (tmp_path / "o" / "rec_beats.csv").exists()
    code, msg = _run("synth-record", tmp_path / "s", f"--fs={fs}")
    assert code == 1 and "--fs" in msg
    with pytest.raises(DataError, match=r"rec\.csv: --fs: sampling rate"):
        signal_files.read(csv, fs=float(fs) if fs != "abc" else fs)


def test_a_record_below_the_supported_rate_gets_the_same_line_in_every_command(model, tmp_path):
    import wfdb

    low = tmp_path / "low"
    x = np.sin(np.arange(50 * 60) / 5.0)[:, None]
    wfdb.wrsamp("low", fs=50, units=["mV"], sig_name=["MLII"], p_signal=x, fmt=["16"], write_dir=str(tmp_path))
    wfdb.wrann("low", "atr", np.arange(25, 50 * 60, 50), symbol=["N"] * 60, write_dir=str(tmp_path))
    line = f"{low}.hea: header: sampling rate 50 Hz is outside the range keras_ecg supports ({rates.RANGE_TEXT})"
    for argv in (["predict", model, low], ["annotate", model, low, "--out", tmp_path / "o"],
                 ["evaluate", model, low, "--out", tmp_path / "e"]):
        code, msg = _run(*argv, "--backend", BACKEND)
        assert code == 1 and line in msg, (argv[0], msg)


# ----------------------------------------------------------------------------- spans


@pytest.mark.parametrize("span,why", [("100:200", "must end within it"), ("50:70", "must end within it"),
                                      ("0:100000", "at most 600 s"), ("10:5", "START < END"),
                                      ("nan:5", "START < END"), ("0:inf", "START < END"), ("0:nan", "START < END"),
                                      ("-5:5", "START < END")])
def test_bad_spans_are_refused(model, rec, tmp_path, span, why):
    code, msg = _run("annotate", model, rec, "--out", tmp_path / "o", f"--span={span}", "--backend", BACKEND)
    assert code == 1 and why in msg and span.split(":")[0] in msg
    assert not (tmp_path / "o" / "rec_strip.png").exists()


@pytest.mark.parametrize("chunk_s", [None, 30.0])
def test_a_bad_span_fails_once_the_header_is_read_before_any_beat_is_classified(model, rec, chunk_s):
    import dataclasses

    from keras_ecg.deploy import annotate as A
    from keras_ecg.deploy import runtime

    clf = runtime.load(str(model), "keras")
    calls = []

    def counting(inputs):
        calls.append(len(inputs[0]))
        return clf.predict(inputs)

    counted = dataclasses.replace(clf, predict=counting)
    with pytest.raises(DataError, match=r"rec.*--span 50:70: the record is 60 s long") as e:
        A.annotate(counted, rec, chunk_s=chunk_s, spans=[(50.0, 70.0, "late")])
    assert "\n" not in str(e.value) and calls == []  # refused before any beat is classified
    A.annotate(counted, rec, chunk_s=chunk_s, spans=[(10.0, 20.0, "ok")])  # a good span: classified as before
    assert calls


def test_spans_together_are_bounded(rec, tmp_path):
    from keras_ecg.deploy.strip_chart import check_spans

    check_spans([(0, 30, ""), (30, 60, "")], 60.0, "rec")
    with pytest.raises(DataError, match="rec: --span: 700 s of strips"):
        check_spans([(0, 350, "")] * 2, 3600.0, "rec")


# ----------------------------------------------------------------------------- EDF


def _edf(path, channels, duration=1.0):
    """A minimal EDF writer: ``channels`` = [(label, rate, samples float, unit, (pmin, pmax))]."""
    n_rec = int(len(channels[0][2]) / (channels[0][1] * duration))
    ns = len(channels)

    def f(v, w):
        return str(v).ljust(w)[:w].encode("latin-1")

    head = f("0", 8) + f("X", 80) + f("X", 80) + f("01.01.01", 8) + f("00.00.00", 8) + f(256 * (ns + 1), 8)
    head += f("", 44) + f(n_rec, 8) + f(duration, 8) + f(ns, 4)
    cols = [[f(c[0], 16) for c in channels], [f("", 80)] * ns, [f(c[3], 8) for c in channels],
            [f(c[4][0], 8) for c in channels], [f(c[4][1], 8) for c in channels], [f(-32768, 8)] * ns,
            [f(32767, 8)] * ns, [f("", 80)] * ns, [f(int(c[1] * duration), 8) for c in channels], [f("", 32)] * ns]
    head += b"".join(b"".join(c) for c in cols)
    digital = []
    for _, _, x, _, (lo, hi) in channels:
        d = np.round((np.asarray(x, np.float64) - lo) / (hi - lo) * 65535 - 32768).astype("<i2")
        digital.append(d.reshape(n_rec, -1))
    path.write_bytes(head + np.concatenate(digital, axis=1).tobytes())


def test_edf_channels_at_mixed_rates_are_read_at_the_ecg_rate_in_mv(rec, tmp_path):
    ecg = _samples(rec)[:256 * 30]  # 30 s, read as if at 256 Hz
    resp = np.sin(np.arange(8 * 30) / 3.0)
    path = tmp_path / "mixed rates (1).edf"
    _edf(path, [("Resp", 8, resp, "Ohm", (-2, 2)), ("ECG II", 256, ecg * 1000, "uV", (-5000, 5000))])
    r = signal_files.read(path)
    assert r.fs == 256.0 and r.leads == ["ECG II"] and r.signal.shape == (256 * 30, 1)
    np.testing.assert_allclose(r.signal[:, 0], ecg, atol=2e-4)  # uV read back in mV, one digital step apart
    assert r.path == str(path)


def test_edf_problems_are_one_line(tmp_path):
    bad = tmp_path / "short.edf"
    bad.write_bytes(b"0" * 100)
    with pytest.raises(DataError, match=r"short.edf: named as EDF/EDF\+/BDF \(.edf\) but holds none of the formats"):
        signal_files.read(bad)
    low = tmp_path / "low.edf"
    _edf(low, [("ECG", 50, np.zeros(500), "mV", (-5, 5))])
    with pytest.raises(DataError, match=r"low.edf: EDF channel 'ECG': sampling rate 50 Hz is outside"):
        signal_files.read(low)


# ----------------------------------------------------------------------------- CSV columns and samples


def test_a_time_column_first_is_not_read_as_the_ecg(rec, tmp_path):
    x = _samples(rec)
    t = np.arange(len(x)) / 360.0
    for name, col in (("s.csv", t), ("ms.csv", t * 1000), ("n.csv", np.arange(len(x)))):
        np.savetxt(tmp_path / name, np.c_[col, x], delimiter=",", fmt="%.6f")
        r = signal_files.read(tmp_path / name, fs=360)
        assert r.signal.shape == (len(x), 1) and np.allclose(r.signal[:, 0], x, atol=1e-5)
    with pytest.raises(DataError, match=r"s.csv: the time column \(first column\) steps by .* not at --fs 250"):
        signal_files.read(tmp_path / "s.csv", fs=250)
    np.savetxt(tmp_path / "named.csv", np.c_[t, x], delimiter=",", fmt="%.3f", header="time,MLII", comments="")
    assert signal_files.read(tmp_path / "named.csv", fs=360).leads == ["MLII"]  # ms-rounded times still step evenly
    with pytest.raises(DataError, match="named.csv: the time column steps by"):
        signal_files.read(tmp_path / "named.csv", fs=500)


def test_nan_samples_are_refused_naming_the_file(model, rec, tmp_path):
    x = _samples(rec)[:, None].copy()
    x[1000:1010] = np.nan
    csv = tmp_path / "holter nan.csv"
    np.savetxt(csv, x, fmt="%.6f")
    code, msg = _run("annotate", model, csv, "--fs", "360", "--out", tmp_path / "o", "--backend", BACKEND)
    assert code == 1 and str(csv) in msg and "non-finite" in msg and "1000" in msg
    beats = tmp_path / "beats (nan).csv"
    rows = np.ones((3, 87))
    rows[1, 5] = np.nan
    np.savetxt(beats, rows, delimiter=",")
    code, msg = _run("predict", model, beats, "--backend", BACKEND)
    assert code == 1 and str(beats) in msg and "non-finite" in msg and "first row 2" in msg


# ----------------------------------------------------------------------------- file names

NAMES = ["holter 1", "holter (1)", "it's \"q\"", "é日本 ecg", "x" * 240]


@pytest.mark.parametrize("name", NAMES)
def test_any_file_name_works_in_predict_and_annotate(model, rec, tmp_path, name, capsys):
    from keras_ecg.deploy.output_folder import safe_name

    (tmp_path / "in").mkdir()
    csv = tmp_path / "in" / f"{name}.csv"
    np.savetxt(csv, _samples(rec), fmt="%.6f")
    code, msg = _run("annotate", model, csv, "--fs", "360", "--out", tmp_path / "o", "--backend", BACKEND)
    assert code == 0, msg
    out = safe_name(name)
    assert len(out.encode()) <= 120 and (tmp_path / "o" / f"{out}_summary.json").is_file()
    assert json.loads((tmp_path / "o" / f"{out}_summary.json").read_text())["record"] == str(csv)
    import wfdb

    assert len(wfdb.rdann(str(tmp_path / "o" / out), "ann").sample) > 40
    base = tmp_path / "in" / name  # the WFDB record under that name (its header names its signal file rec.dat)
    for ext in ("hea", "dat", "atr"):
        shutil.copy(f"{rec}.{ext}", f"{base}.{ext}")
    shutil.copy(f"{rec}.dat", tmp_path / "in" / "rec.dat")
    capsys.readouterr()
    code, msg = _run("predict", model, base, "--json", "--backend", BACKEND)
    assert code == 0, msg
    assert json.loads(capsys.readouterr().out)["results"][0]["input"] == str(base)


def test_a_csv_recording_is_never_given_the_header_of_a_wfdb_record_beside_it(model, rec, tmp_path):
    for ext in ("hea", "dat"):
        shutil.copy(f"{rec}.{ext}", tmp_path / f"other.{ext}")
    csv = tmp_path / "other.csv"  # a different recording that shares the WFDB record's name
    np.savetxt(csv, _samples(rec)[::-1].copy(), fmt="%.6f")
    code, msg = _run("annotate", model, csv, "--fs", "360", "--out", tmp_path / "o", "--backend", BACKEND)
    assert code == 0, msg
    assert (tmp_path / "o" / "other.dat").is_file()  # its own WFDB copy, not the other record's header
    assert "WFDB copy of" in (tmp_path / "o" / "other.hea").read_text()
