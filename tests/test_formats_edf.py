"""EDF, EDF+ and BDF: read (edfio after our header check), EDF+ annotations, the EDF+ writer, hostile headers."""

import datetime

import numpy as np
import pytest

from keras_ecg.data import record_file, signal_files
from keras_ecg.data.formats import edf_plus
from keras_ecg.errors import DataError

pytestmark = pytest.mark.backend_free


edfio = pytest.importorskip("edfio")


def _rec(x, fs, leads, start=None):
    from keras_ecg.data.wfdb_io import Record

    return Record("rec", np.asarray(x, dtype=np.float32), float(fs), list(leads), start_time=start)


def _signal(n, k=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 360.0
    return np.sin(2 * np.pi * 1.1 * t)[:, None] * rng.uniform(0.5, 2.0, k) + 0.05 * rng.standard_normal((n, k))


def test_round_trip_with_annotations_start_time_and_no_identifiers(tmp_path):
    x = _signal(360 * 12 + 77)  # not a whole number of 1 s records: the last one is filled up
    rows = [(0, "+"), (100, "N"), (333, "V"), (340, "(AFIB"), (3000, "PAUSE 2.4s"), (4000, "A")]
    p = edf_plus.write(tmp_path / "rec.edf", _rec(x, 360.0, ["MLII", "V1"], start="2024-03-01T10:20:30"),
                       annotations=rows)
    r = signal_files.read(p, annotations="atr")
    assert r.fs == 360.0 and r.leads == ["MLII", "V1"] and r.start_time == "2024-03-01T10:20:30"
    assert len(r.signal) == 360 * 13 and np.all(r.signal[len(x):] == r.signal[len(x) - 1])  # filled: last sample
    step = (np.ceil(x.max(axis=0) * 1000) - np.floor(x.min(axis=0) * 1000)) / 1000 / 65535
    assert (np.abs(r.signal[:len(x)] - x) <= step / 2 + 1e-6).all()  # within half a 16-bit step of each lead
    assert r.ann_samples.tolist() == [100, 333, 4000] and r.ann_symbols.tolist() == ["N", "V", "A"]
    anns = edfio.read_edf(p).annotations
    assert [a.text for a in anns] == [t for _, t in rows]  # the rhythm and pause texts are there too
    assert r.identifiers is None and p.read_bytes()[8:88].strip() == b"X X X X"


def test_identifiers_only_when_asked(tmp_path):
    ids = {"name": "DOE JANE", "id": "MRN-0042", "birth_date": "1950-01-02", "sex": "F"}
    p = edf_plus.write(tmp_path / "id.edf", _rec(_signal(720), 360.0, ["MLII", "V1"]), identifiers=ids)
    assert signal_files.read(p).identifiers is None
    got = signal_files.read(p, identifiers=True).identifiers
    assert got["name"] == "DOE_JANE" and got["id"] == "MRN-0042" and got["birth_date"] == "1950-01-02"
    assert "DOE_JANE" in got["patient"]


def test_ranges_match_the_whole_read_and_read_nothing_whole(tmp_path):
    x = _signal(360 * 600, k=3)
    p = edf_plus.write(tmp_path / "long.edf", _rec(x, 360.0, ["ECG I", "ECG II", "ECG V1"]))
    rf = record_file.open_recording(p)
    whole = signal_files.read(p)
    for a, b, idx in ((0, 500, None), (99_999, 120_000, [1]), (len(x) - 10, len(x) + 5, [0, 2])):
        np.testing.assert_array_equal(rf.read(a, b, idx), whole.signal[a:b] if idx is None else whole.signal[a:b][:, idx])
    assert rf._signal is None


def test_bdf_is_read(tmp_path):
    x = _signal(256 * 10, k=1)
    sig = edfio.BdfSignal(x[:, 0] * 1000, sampling_frequency=256, label="ECG II", physical_dimension="uV",
                          physical_range=(-5000, 5000))
    p = tmp_path / "rec.bdf"
    edfio.Bdf([sig]).write(p)
    r = signal_files.read(p)
    assert r.fs == 256.0 and r.leads == ["ECG II"]
    assert np.abs(r.signal[:, 0] - x[:, 0]).max() < 1e-5  # 24 bits over +-5 mV, read in mV


def test_discontinuous_edf_plus_is_refused(tmp_path):
    p = edf_plus.write(tmp_path / "c.edf", _rec(_signal(720), 360.0, ["MLII", "V1"]))
    raw = bytearray(p.read_bytes())
    raw[192:197] = b"EDF+D"
    d = tmp_path / "d.edf"
    d.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="d.edf: a discontinuous EDF\\+ file \\(EDF\\+D\\)"):
        signal_files.read(d)


def _with_field(tmp_path, name, at, width, value):
    p = edf_plus.write(tmp_path / "ok.edf", _rec(_signal(3600), 360.0, ["MLII", "V1"]))
    raw = bytearray(p.read_bytes())
    raw[at:at + width] = str(value).ljust(width).encode()
    out = tmp_path / name
    out.write_bytes(bytes(raw))
    return out


@pytest.mark.parametrize("records, why", [(20, "truncated"), (5, "more than the header says")])
def test_header_lying_about_its_record_count_is_refused(tmp_path, records, why):
    p = _with_field(tmp_path, "lie.edf", 236, 8, records)
    for read in (signal_files.read, record_file.open_recording):
        with pytest.raises(DataError, match=f"lie.edf: the EDF header promises {records} data records .*{why}") as e:
            read(p)
        assert "\n" not in str(e.value)


def test_truncated_file_and_recording_in_progress(tmp_path):
    p = edf_plus.write(tmp_path / "ok.edf", _rec(_signal(3600), 360.0, ["MLII", "V1"]))
    cut = tmp_path / "cut.edf"
    cut.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(DataError, match="cut.edf: the EDF header promises 10 data records.*truncated"):
        signal_files.read(cut)
    head = tmp_path / "head.edf"
    head.write_bytes(p.read_bytes()[:300])
    with pytest.raises(DataError, match="head.edf: truncated EDF header"):
        signal_files.read(head)
    live = _with_field(tmp_path, "live.edf", 236, 8, -1)  # -1: still recording; the whole records count
    assert len(signal_files.read(live).signal) == 3600


@pytest.mark.parametrize("at, width, value, match", [
    (244, 8, 0, "EDF data records of 0 s: no sampling rate"),
    (244, 8, "abc", "header field data record duration is 'abc'"),
    (244, 8, 1e-6, "sampling rate 3.6e\\+08 Hz is outside"),
    (252, 4, 0, "not an EDF file \\(0 signals\\)"),
])
def test_zero_or_absurd_rates_are_refused(tmp_path, at, width, value, match):
    p = _with_field(tmp_path, "bad.edf", at, width, value)
    with pytest.raises(DataError, match=f"bad.edf: .*{match}"):
        signal_files.read(p)


def test_wrong_channel_count_is_refused(tmp_path):
    p = _with_field(tmp_path, "ns.edf", 252, 4, 2)  # the file holds 3 signals (2 + annotations)
    with pytest.raises(DataError, match="ns.edf: .*(promises|not an EDF)"):
        signal_files.read(p)


def test_start_time_from_the_header():
    class F:
        startdate, starttime = datetime.date(2020, 1, 2), datetime.time(3, 4, 5)

    assert edf_plus._start_time(F()) == "2020-01-02T03:04:05"
