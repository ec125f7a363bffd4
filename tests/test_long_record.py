"""Long recordings: read in ranges, detected and cut in chunks, classified in batches, as in one piece.

``annotate`` reads and processes a recording ``chunk_s`` seconds at a time
(:mod:`keras_ecg.data.chunked`); these tests force small chunks so that a few minutes
of synthetic ECG cross many chunk edges, and compare with the one-piece path.
"""

import numpy as np
import pytest

from keras_ecg import cli
from keras_ecg.data import beats as B
from keras_ecg.data import chunked, record_file, synthetic, wfdb_io
from keras_ecg.data import signal as S
from keras_ecg.errors import DataError

pytestmark = pytest.mark.backend_free


@pytest.fixture(scope="module")
def two_lead(tmp_path_factory):
    base = tmp_path_factory.mktemp("two_lead") / "rec"
    assert cli.main(["synth-record", str(base), "--minutes", "6", "--seed", "7", "--leads", "MLII,V1"]) == 0
    return base


def test_synth_record_writes_the_leads_asked_for(two_lead):
    import wfdb

    rec = wfdb.rdrecord(str(two_lead))
    assert rec.sig_name == ["MLII", "V1"] and rec.fs == 360 and rec.sig_len == 6 * 60 * 360
    mlii, v1 = rec.p_signal.T
    assert np.corrcoef(mlii, v1)[0, 1] > 0.9 and np.std(v1) < np.std(mlii)  # 0.6 x MLII plus its own noise
    with pytest.raises(SystemExit, match="distinct"):
        cli.main(["synth-record", str(two_lead.parent / "bad"), "--leads", "MLII,MLII"])


def test_record_file_reads_ranges_as_load_record_reads_the_whole(two_lead):
    whole = wfdb_io.load_record(two_lead, annotations=None)
    rec = record_file.open_recording(two_lead)
    assert (rec.name, rec.fs, rec.leads, rec.n_samples) == (whole.name, whole.fs, whole.leads, len(whole.signal))
    assert np.array_equal(rec.read(1000, 5000, [1]), whole.signal[1000:5000, [1]])
    assert np.array_equal(rec.read(-5, 10), whole.signal[:10])  # clipped to the recording
    assert np.array_equal(rec.signal, whole.signal) and np.array_equal(rec.lead("V1"), whole.signal[:, 1])


def test_a_corrupt_signal_file_is_refused_when_read_in_ranges(two_lead, tmp_path):
    for suffix in (".hea", ".dat"):
        (tmp_path / f"rec{suffix}").write_bytes(two_lead.with_suffix(suffix).read_bytes())
    dat = tmp_path / "rec.dat"
    raw = bytearray(dat.read_bytes())
    raw[40_000] ^= 0x10  # one sample changed: the header's checksum no longer holds
    dat.write_bytes(bytes(raw))
    with pytest.raises(DataError) as whole:
        wfdb_io.load_record(tmp_path / "rec", annotations=None)
    rec = record_file.open_recording(tmp_path / "rec")
    with pytest.raises(DataError) as chunks:
        for start in range(0, rec.n_samples, 10_800):  # 30 s pieces with 5 s before each, in order
            rec.read(start - 1800, start + 10_800, [0])
    assert str(chunks.value) == str(whole.value) and "checksum" in str(whole.value)
    dat.write_bytes(bytes(raw[:-10]))
    with pytest.raises(DataError, match="truncated"):
        record_file.open_recording(tmp_path / "rec")


def test_plan_covers_the_recording_on_the_block_grid():
    chunks = chunked.plan(100_000, 360.0, chunk_s=50.0, margin_s=7.0, align=2)
    assert chunks[0].start == 0 and chunks[-1].stop == 100_000
    assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:]))
    assert all(c.lo % 360 == 0 and c.start - c.lo in (c.start, 2520) for c in chunks)  # 7 blocks of 1 s
    assert all(c.hi == min(c.stop + 2520, 100_000) and c.stop - c.start in (18_000, 100_000 % 18_000) for c in chunks)


def test_chunked_detection_finds_the_peaks_of_the_whole_recording():
    x, _, _ = synthetic.record(duration_s=300, fs=360, seed=11, noise=0.05, wander=0.3)
    x[40_000:41_000] += np.linspace(0, 2.0, 1000, dtype=np.float32)  # a baseline step inside a chunk
    whole = S.detect_r_peaks(x, 360.0)
    chunks = chunked.plan(len(x), 360.0, chunk_s=20.0, margin_s=60.0)
    assert len(chunks) == 15
    peaks, refined = chunked.detect_r_peaks(lambda lo, hi: x[lo:hi], len(x), 360.0, chunks, align=True)
    assert np.array_equal(peaks, whole)
    assert np.array_equal(refined, S.refine_peaks(x, 360.0, whole))


@pytest.mark.parametrize("spec", [
    B.BeatSpec(fs=180.0, before_s=0.25, after_s=0.45, template_beats=20),  # the shipped card's kind
    B.BeatSpec(fs=250.0, leads=("MLII", "V1"), template_beats=5, shape=True, align=True, rr_log=False,
               rr_context=True),
    B.BeatSpec(fs=360.0, filter=None, normalize=None, rr=False),
])
def test_chunked_beat_inputs_are_beat_inputs(spec):
    x, peaks, _ = synthetic.record(duration_s=240, fs=360, seed=3)
    signal = np.stack([x, 0.6 * x + 0.01], axis=1)
    peaks = np.r_[20, peaks, len(x) - 30]  # windows past both edges: not classified
    want, want_extra, keep, _ = B.beat_inputs(signal, 360.0, peaks, spec, ["MLII", "V1"])
    refined = S.refine_peaks(x, 360.0, peaks) if spec.align else peaks
    idx = B.choose_leads(["MLII", "V1"], spec.leads)
    down = S.resample_ratio(360.0, spec.fs)[1]
    chunks = chunked.plan(len(x), 360.0, chunk_s=25.0, margin_s=60.0, align=down)
    got = list(chunked.beat_inputs(lambda lo, hi: signal[lo:hi][:, idx], len(x), 360.0, peaks, refined, spec, chunks))
    assert len(got) >= 9
    sel = np.concatenate([g[0] for g in got])
    assert np.array_equal(sel, np.flatnonzero(keep)) and not keep[0] and not keep[-1]
    np.testing.assert_allclose(np.concatenate([g[1] for g in got]), want, atol=1e-5)
    if want_extra is None:
        assert all(g[2] is None for g in got)
    else:
        np.testing.assert_allclose(np.concatenate([g[2] for g in got]), want_extra, atol=1e-5)


@pytest.fixture(scope="module")
def beats_onnx():
    pytest.importorskip("onnxruntime")
    from keras_ecg.deploy import runtime

    return runtime.load("pretrained:mitbih_beats", runtime="onnx")


def test_annotate_in_chunks_matches_annotate_in_one_piece(beats_onnx, two_lead, monkeypatch):
    from keras_ecg.deploy import annotate as A
    from keras_ecg.deploy import beat_stream

    whole = A.annotate(beats_onnx, two_lead, chunk_s=None)
    monkeypatch.setattr(beat_stream, "BATCH", 100)  # several classifier calls, one cut inside a chunk
    calls = []
    clf = type(beats_onnx)(lambda inputs: calls.append(len(inputs[0])) or beats_onnx(inputs), beats_onnx.card,
                           beats_onnx.path, beats_onnx.runtime)
    a = A.annotate(clf, two_lead, chunk_s=45.0)  # 8 chunks
    assert len(whole.samples) > 300 and np.array_equal(a.samples, whole.samples)
    assert a.edge_skipped == whole.edge_skipped and a.classes == whole.classes
    np.testing.assert_allclose(a.probs, whole.probs, atol=1e-5)
    assert np.array_equal(a.uncertain, whole.uncertain)
    assert calls[:-1] == [100] * (len(calls) - 1) and sum(calls) == len(a.samples)
    assert set(a.seconds) == {"read", "detect", "segment", "classify"} and a.lead == "MLII"
    assert isinstance(a.record, record_file.RecordFile) and a.record.n_samples == len(whole.record.signal)
    assert np.array_equal(a.record.signal, whole.record.signal)  # read when first asked for, as write() does
    assert np.allclose(a.times_s, whole.times_s)
    import inspect

    assert inspect.signature(A.annotate).parameters["chunk_s"].default == chunked.CHUNK_S


def test_annotate_in_chunks_refuses_non_finite_samples_in_one_line(beats_onnx, two_lead, tmp_path):
    import wfdb

    from keras_ecg.deploy import annotate as A

    sig = wfdb_io.load_record(two_lead, annotations=None).signal.astype(np.float64)
    sig[50_000:50_010, 0] = np.nan  # written as format 16's invalid sample, read back as NaN
    wfdb.wrsamp("nan", fs=360, units=["mV", "mV"], sig_name=["MLII", "V1"], p_signal=sig, fmt=["16", "16"],
                write_dir=str(tmp_path))
    with pytest.raises(DataError) as e:
        A.annotate(beats_onnx, tmp_path / "nan", chunk_s=60.0)
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / "nan")) and "first at sample 50000 of lead MLII" in msg and "\n" not in msg


def test_long_record_benchmark_writes_its_results(tmp_path, monkeypatch):
    import json
    import pathlib
    import sys

    monkeypatch.setenv("KERAS_ECG_CACHE", str(tmp_path / "cache"))
    bench = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
    monkeypatch.syspath_prepend(str(bench))
    sys.modules.pop("long_record", None)
    import long_record

    assert long_record.main(["--minutes", "2", "--repeats", "1", "--out", str(tmp_path / "lr")]) == 0
    res = json.loads((tmp_path / "lr.json").read_text())
    run = res["runs"][0]["repeats"][0]
    assert set(run["stages_s"]) == {"read", "detect", "segment", "classify"} and 100 < run["beats"] < 300
    assert run["peak_rss_mb"] > 50 and 0 < run["parent_rss_mb"] <= run["peak_rss_mb"] and run["wall_s"] <= run["process_s"]
    assert run["leads"] == ["MLII", "V1"]
    assert res["runs"][0]["summary"]["meets_wall_target"] and res["machine"]["cores"]
    assert "| this checkout |" in (tmp_path / "lr.md").read_text()
