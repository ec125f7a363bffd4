"""DICOM ECG waveform objects: read, write, round trip, ranged reading and hostile files (all made here with pydicom)."""

import numpy as np
import pytest

from keras_ecg.data import record_file, signal_files
from keras_ecg.data.formats import dicom
from keras_ecg.errors import DataError

pytestmark = pytest.mark.backend_free


pydicom = pytest.importorskip("pydicom")

LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def _rec(x, fs, leads, start=None):
    from keras_ecg.data.wfdb_io import Record

    return Record("rec", np.asarray(x, dtype=np.float32), float(fs), list(leads), start_time=start)


def _signal(n=5000, k=12, seed=0):
    t = np.arange(n) / 500.0
    rng = np.random.default_rng(seed)
    return (np.sin(2 * np.pi * 1.2 * t)[:, None] * rng.uniform(0.3, 2.0, k) + 0.05 * rng.standard_normal((n, k)))


def test_round_trip_gives_the_samples_within_the_quantisation(tmp_path):
    x = _signal()
    x[3000, 0] = 40.0  # one lead past +-32 mV: written at a coarser sensitivity
    x[100:120, 4] = np.nan  # a lead not printed there: the padding value, read back as NaN
    p = dicom.write(tmp_path / "ecg.dcm", _rec(x, 500.0, LEADS, start="2024-03-01T10:20:30"))
    ds = pydicom.dcmread(p)
    assert ds.SOPClassUID == dicom.TWELVE_LEAD and ds.Modality == "ECG"
    sens = [float(ch.ChannelSensitivity) for ch in ds.WaveformSequence[0].ChannelDefinitionSequence]
    assert sens[0] > 1.0 and sens[1:] == [1.0] * 11  # uV per step
    r = signal_files.read(p)
    assert r.fs == 500.0 and r.leads == LEADS and r.signal.shape == x.shape and r.signal.dtype == np.float32
    assert r.start_time == "2024-03-01T10:20:30" and r.path == str(p) and r.name == "ecg"
    ok = np.isfinite(x)
    err = np.abs(r.signal[ok] - x[ok]).reshape(-1)
    assert err.max() <= max(sens) / 2000 + 1e-6  # half a step, in mV
    assert np.abs(r.signal[:, 1:] - x[:, 1:])[np.isfinite(x[:, 1:])].max() <= 0.0005 + 1e-6
    assert np.isnan(r.signal[100:120, 4]).all() and np.isfinite(r.signal[120:, 4]).all()


def test_sop_class_follows_duration_rate_and_leads():
    assert dicom.sop_class(5000, 500, 12) == dicom.TWELVE_LEAD
    assert dicom.sop_class(500 * 60, 500, 12) == dicom.GENERAL
    assert dicom.sop_class(128 * 3600, 128, 3) == dicom.AMBULATORY
    with pytest.raises(DataError, match="fit no DICOM ECG waveform object"):
        dicom.sop_class(5000, 2000, 12)


def test_beat_annotations_are_read_and_written_as_a_waveform_annotation_sequence(tmp_path):
    x = _signal(k=2)
    rows = [(50, "+"), (100, "N"), (600, "V"), (610, "(AFIB"), (900, "A"), (2000, "PAUSE 2.4s")]
    p = dicom.write(tmp_path / "a.dcm", _rec(x, 500.0, ["II", "V1"]), annotations=rows, annotation_channel=1)
    ds = pydicom.dcmread(p)
    items = ds.WaveformAnnotationSequence
    assert [a.UnformattedTextValue for a in items] == [t for _, t in rows]
    assert [int(a.ReferencedSamplePositions) for a in items] == [s + 1 for s, _ in rows]  # 1-based
    assert list(items[0].ReferencedWaveformChannels) == [1, 2]
    r = signal_files.read(p, annotations="atr")  # annotations asked for: the beats the file carries
    assert r.ann_samples.tolist() == [100, 600, 900] and r.ann_symbols.tolist() == ["N", "V", "A"]
    assert signal_files.read(p).ann_samples is None  # not asked for


def test_ranges_read_as_the_whole_file_reads_without_holding_it(tmp_path):
    fs, n = 128.0, 128 * 3600  # an hour's ambulatory object, 3 leads
    x = np.sin(np.arange(n)[:, None] / np.array([30.0, 40.0, 50.0])) * np.array([1.0, 0.5, 2.0])
    p = dicom.write(tmp_path / "holter.dcm", _rec(x, fs, ["II", "V1", "V5"]))
    assert pydicom.dcmread(p).SOPClassUID == dicom.AMBULATORY
    rf = record_file.open_recording(p)
    whole = signal_files.read(p)
    assert rf._signal is None and rf.n_samples == n and rf.fs == fs and rf.leads == ["II", "V1", "V5"]
    for a, b, idx in ((0, 1000, None), (123_456, 130_000, [2]), (n - 500, n + 10, [0, 2])):
        want = whole.signal[a:b] if idx is None else whole.signal[a:b][:, idx]
        np.testing.assert_array_equal(rf.read(a, b, idx), want)
    assert rf._signal is None  # nothing read whole


def test_start_time_and_identifiers_only_when_asked(tmp_path):
    ids = {"name": "DOE^JANE", "id": "MRN-0042", "birth_date": "1950-01-02", "sex": "F"}
    p = dicom.write(tmp_path / "id.dcm", _rec(_signal(k=2), 500.0, ["II", "V1"]), identifiers=ids)
    assert signal_files.read(p).identifiers is None
    assert signal_files.read(p, identifiers=True).identifiers == ids
    bare = dicom.write(tmp_path / "bare.dcm", _rec(_signal(k=2), 500.0, ["II", "V1"]))
    raw = bare.read_bytes()
    assert b"DOE" not in raw and str(pydicom.dcmread(bare).PatientName) == ""


# ----------------------------------------------------------------------------- hostile files


def _rewrite(tmp_path, name, change):
    p = dicom.write(tmp_path / "ok.dcm", _rec(_signal(n=1000, k=2), 500.0, ["II", "V1"]))
    ds = pydicom.dcmread(p)
    change(ds)
    out = tmp_path / name
    ds.save_as(out, enforce_file_format=True)
    return out


def _refused(path, match):
    with pytest.raises(DataError, match=match) as e:
        signal_files.read(path)
    assert "\n" not in str(e.value) and str(path.name) in str(e.value)
    with pytest.raises(DataError, match=match):
        record_file.open_recording(path)


def test_truncated_object_is_refused(tmp_path):
    p = dicom.write(tmp_path / "ok.dcm", _rec(_signal(n=1000, k=2), 500.0, ["II", "V1"]))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(p.read_bytes()[:-1500])
    _refused(cut, "cut.dcm: (truncated DICOM waveform|cannot read the DICOM file)")


def test_channel_count_that_disagrees_is_refused(tmp_path):
    def more_channels(ds):
        ds.WaveformSequence[0].NumberOfWaveformChannels = 3

    def fewer_samples(ds):
        ds.WaveformSequence[0].NumberOfWaveformSamples = 500  # the data holds twice that

    _refused(_rewrite(tmp_path, "ch.dcm", more_channels), "ch.dcm: DICOM multiplex group 1: 3 channels of 1000 samples, 2")
    _refused(_rewrite(tmp_path, "n.dcm", fewer_samples), "n.dcm: DICOM WaveformData of 4000 bytes.*count is wrong")


@pytest.mark.parametrize("rate, match", [(0, "not a positive finite number"), (5e6, "outside the range"),
                                         (50, "outside the range")])
def test_zero_or_absurd_rate_is_refused(tmp_path, rate, match):
    def set_rate(ds):
        ds.WaveformSequence[0].SamplingFrequency = rate

    _refused(_rewrite(tmp_path, "rate.dcm", set_rate), f"rate.dcm: DICOM multiplex group 1: sampling rate .*{match}")


def test_dicom_without_waveform_and_other_objects_are_refused(tmp_path):
    def drop(ds):
        del ds.WaveformSequence

    _refused(_rewrite(tmp_path, "nowave.dcm", drop), "nowave.dcm: a DICOM 12-Lead ECG object without waveform data")

    def ct(ds):
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage

    _refused(_rewrite(tmp_path, "ct.dcm", ct), r"ct.dcm: a DICOM object of SOP class 1.2.840.10008.5.1.4.1.1.2, "
             "not an ECG waveform")

    def pressure(ds):
        for ch in ds.WaveformSequence[0].ChannelDefinitionSequence:
            ch.ChannelSensitivityUnitsSequence[0].CodeValue = "mm[Hg]"

    _refused(_rewrite(tmp_path, "mmhg.dcm", pressure), r"mmhg.dcm: DICOM multiplex group 1: no channel in uV, mV or V")

    def uncalibrated(ds):
        del ds.WaveformSequence[0].ChannelDefinitionSequence[0].ChannelSensitivity

    _refused(_rewrite(tmp_path, "nosens.dcm", uncalibrated), "nosens.dcm: DICOM channel 'II' has no ChannelSensitivity")


def test_name_and_content_disagree_in_one_line(tmp_path):
    p = dicom.write(tmp_path / "ok.dcm", _rec(_signal(n=1000, k=2), 500.0, ["II", "V1"]))
    edf = tmp_path / "really_dicom.edf"
    edf.write_bytes(p.read_bytes())
    with pytest.raises(DataError, match=r"really_dicom.edf: named as EDF/EDF\+/BDF \(.edf\) but holds DICOM content"):
        signal_files.read(edf)
    csv = tmp_path / "really_dicom.csv"
    csv.write_bytes(p.read_bytes())
    with pytest.raises(DataError, match=r"really_dicom.csv: named as a CSV of samples \(.csv\) but holds DICOM"):
        signal_files.read(csv, fs=500)
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\0" * 4000)
    with pytest.raises(DataError, match=r"junk.dcm: named as DICOM \(.dcm\) but holds none of the formats"):
        signal_files.read(junk)
    noname = tmp_path / "noext"
    noname.write_bytes(p.read_bytes())
    assert signal_files.kind(noname) == "dicom"  # the content decides, not the name
    other = tmp_path / "what.bin"
    other.write_bytes(b"hello")
    with pytest.raises(DataError, match=r"what.bin: not a recording keras_ecg reads.*DICOM.*EDF"):
        signal_files.read(other)
