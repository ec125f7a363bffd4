"""The beat representation: RR features, lead policy, windows, templates, and the same inputs in
training and predict (records at other rates and with other lead names included)."""

import numpy as np
import pytest

from keras_ecg import card as C
from keras_ecg.data import beats as B
from keras_ecg.data import mitbih, rr
from keras_ecg.errors import DataError

pytestmark = pytest.mark.backend_free


wfdb = pytest.importorskip("wfdb")


def test_rr_features_by_hand():
    fs = 360
    peaks = np.array([0, 1, 2, 2.5, 4]) * fs
    f = rr.rr_features(peaks, fs, local_beats=2, baseline_s=1.5)
    pre, post, local, base = f[:, 0], f[:, 1], f[:, 2], f[:, 3]
    np.testing.assert_allclose(pre, [1, 1, 1, 0.5, 1.5])  # the first beat's pre-RR is its post-RR
    np.testing.assert_allclose(post, [1, 1, 0.5, 1.5, 1.5])  # the last beat's post-RR is its pre-RR
    np.testing.assert_allclose(local, [1, 1, 1, 0.75, 1.0])  # mean of this and the previous pre-RR
    np.testing.assert_allclose(base, [1, 1, 1, 0.75, 1.5])  # beats in (t - 1.5 s, t]
    np.testing.assert_allclose(f[:, 4], pre / base, rtol=1e-6)
    np.testing.assert_allclose(f[:, 7], pre / local, rtol=1e-6)
    assert list(rr.RR_FEATURE_NAMES)[4:] == ["pre_ratio", "post_ratio", "local_ratio", "pre_local"]


def test_rr_features_use_only_the_past_and_the_next_beat():
    rng = np.random.default_rng(0)
    peaks = np.cumsum(rng.integers(200, 400, 60))
    a = rr.rr_features(peaks, 360)
    moved = peaks.copy()
    moved[41:] += 50  # a change after beat 40 reaches beat 40 only through its post-RR
    b = rr.rr_features(moved, 360)
    np.testing.assert_array_equal(a[:40], b[:40])
    cols = [i for i, n in enumerate(rr.RR_FEATURE_NAMES) if not n.startswith("post")]
    np.testing.assert_array_equal(a[40, cols], b[40, cols])
    assert not np.array_equal(a[40], b[40])
    with pytest.raises(ValueError, match="increasing"):
        rr.rr_features([10, 5], 360)


@pytest.mark.parametrize("leads, wanted, expect", [
    (["V1", "MLII"], ["MLII"], [1]),
    (["V1", "II"], ["MLII"], [1]),
    (["ECG1", "ECG2"], ["MLII"], [0]),
    (["MLII", "V1"], ["MLII", "V1"], [0, 1]),
    (["V5", "MLII"], ["II", "V1"], None),  # no V1 and no fallback: refused
])
def test_lead_policy(leads, wanted, expect):
    if expect is None:
        with pytest.raises(DataError, match="no lead 'V1'"):
            B.choose_leads(leads, wanted, "rec")
        assert B.choose_leads(leads, wanted, "rec", fallback=True) == [1, 0]
    else:
        assert B.choose_leads(leads, wanted, "rec") == expect


def test_beat_inputs_window_template_and_edges():
    fs = 360
    x = np.sin(np.arange(20 * fs) / 30.0).astype(np.float32)
    peaks = np.array([10, 400, 900, 1400, 1900, 20 * fs - 20])
    spec = B.BeatSpec(fs=fs, filter=None, template_beats=2)
    beats, feats, keep, used = B.beat_inputs(x, fs, peaks, spec, ["MLII"])
    assert keep.tolist() == [False, True, True, True, True, False]  # windows past the edges are dropped
    assert beats.shape == (4, spec.window, 2) and spec.window == 90 + 162 and feats.shape == (4, 8)
    assert used == ["MLII"]
    raw = B.beat_inputs(x, fs, peaks, B.BeatSpec(fs=fs, filter=None), ["MLII"])[0][..., 0]
    np.testing.assert_allclose(beats[..., 0], raw)
    np.testing.assert_allclose(beats[0, :, 1], raw[0], atol=1e-6)  # the first beat's template is itself
    np.testing.assert_allclose(beats[3, :, 1], raw[1:3].mean(axis=0), atol=1e-5)  # mean of the 2 beats before
    np.testing.assert_allclose(feats, np.log(rr.rr_features(peaks, fs)[keep]), rtol=1e-6)
    bad = x.copy()
    bad[100] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        B.beat_inputs(bad, fs, peaks, spec, ["MLII"])


def test_spec_round_trips_through_the_model_card():
    spec = B.BeatSpec(fs=180, leads=("MLII", "V1"), template_beats=20)
    prep = C.preprocessing_from("waveform", {"input_kind": "waveform", **spec.to_card()})
    assert B.BeatSpec.from_card(prep) == spec
    assert spec.input_shape == (126, 4)


def test_rhythm_context_features():
    fs = 360
    rrs = np.full(60, 0.8)
    rrs[30], rrs[31] = 0.5, 1.1  # one premature beat (beat 31) and its compensatory pause
    rng = np.random.default_rng(0)
    af = 0.7 * np.exp(0.25 * rng.standard_normal(60))
    peaks = np.round(np.cumsum(np.concatenate([[0.5], rrs, af])) * fs).astype(np.int64)
    c = rr.rr_context(peaks, fs)
    assert c.shape == (len(peaks), 3) and list(rr.RR_CONTEXT_NAMES) == ["pre_prev", "pre_median", "irregularity"]
    assert c[31, 0] == pytest.approx(0.5 / 0.8, rel=1e-3) and c[31, 1] == pytest.approx(0.5 / 0.8, rel=1e-3)
    assert c[20, 0] == pytest.approx(1.0) and c[20, 2] == pytest.approx(0.01)  # regular sinus rhythm
    assert c[-1, 2] > 0.1  # sixteen beats into AF the local irregularity is high
    # past only (and the next beat): moving later peaks changes nothing before them
    later = peaks.copy()
    later[50:] += 40
    np.testing.assert_allclose(rr.rr_context(later, fs)[:49], c[:49])
    spec = B.BeatSpec(fs=180, rr_context=True, template_beats=20)
    prep = C.preprocessing_from("waveform", {"input_kind": "waveform", **spec.to_card()})
    assert B.BeatSpec.from_card(prep) == spec and len(spec.rr_names) == 11
    x = np.sin(np.arange(int(peaks[-1]) + fs) / 30.0).astype(np.float32)
    feats = B.beat_inputs(x, fs, peaks, spec, ["MLII"])[1]
    assert feats.shape[1] == 11 and np.isfinite(feats).all()


def _write(folder, name, fs, leads, seconds=30, seed=3):
    from keras_ecg.data import synthetic

    folder.mkdir(parents=True, exist_ok=True)
    sig, peaks, labels = synthetic.record(seconds, 360, seed=seed, class_probs=[0.6, 0.2, 0.2, 0, 0])
    from keras_ecg.data import signal as S

    if fs != 360:
        sig = S.resample(sig, 360, fs)
        peaks = S.resample_index(peaks, 360, fs)
    two = np.stack([sig, 0.5 * sig], axis=1).astype(np.float64)
    wfdb.wrsamp(name, fs=fs, units=["mV", "mV"], sig_name=list(leads), p_signal=two, fmt=["16", "16"],
                adc_gain=[1000, 1000], baseline=[0, 0], write_dir=str(folder))
    sym = np.array(["N", "A", "V"])[labels]
    wfdb.wrann(name, "atr", peaks, list(sym), write_dir=str(folder))
    return peaks


def test_predict_builds_the_training_inputs(tmp_path):
    """data.model_inputs.record_inputs (predict) and mitbih.load_beats (training) give the same arrays."""
    from keras_ecg.data.model_inputs import record_inputs

    _write(tmp_path, "r1", 360, ["MLII", "V1"])
    spec = B.BeatSpec(fs=180, template_beats=5)
    ds = mitbih.load_beats(tmp_path, spec=spec, cache=False)
    prep = C.preprocessing_from("waveform", {"input_kind": "waveform", **spec.to_card()})
    got = record_inputs(tmp_path / "r1", prep)
    np.testing.assert_array_equal(got.inputs[0], ds.x[0])
    np.testing.assert_array_equal(got.inputs[1], ds.x[1])
    assert got.leads_used == ["MLII"] and ds.meta["leads_used"] == {"r1": ["MLII"]}


@pytest.mark.parametrize("fs, leads", [(250, ["II", "V1"]), (500, ["ECG1", "ECG2"]), (200, ["V1", "MLII"])])
def test_other_rates_and_lead_names_give_nearly_the_same_inputs(tmp_path, fs, leads):
    from keras_ecg.data.model_inputs import record_inputs

    _write(tmp_path / "native", "r", 360, ["MLII", "V1"])
    _write(tmp_path / "other", "r", fs, leads)
    spec = B.BeatSpec(fs=180, template_beats=5)
    prep = C.preprocessing_from("waveform", {"input_kind": "waveform", **spec.to_card()})
    a, b = record_inputs(tmp_path / "native" / "r", prep), record_inputs(tmp_path / "other" / "r", prep)
    assert len(a.peaks) == len(b.peaks)
    corr = [np.corrcoef(u[:, 0], v[:, 0])[0, 1] for u, v in zip(a.inputs[0], b.inputs[0])]
    # R peaks at another rate round to other samples: a few windows shift by one sample (5.6 ms at 180 Hz)
    assert np.median(corr) > 0.999 and np.mean(np.array(corr) > 0.99) >= 0.8 and min(corr) > 0.9, sorted(corr)[:3]
    np.testing.assert_allclose(a.inputs[1], b.inputs[1], atol=0.02)  # RR features (log) agree to rounding
    assert b.leads_used == [leads[1] if leads[0] == "V1" else leads[0]]


def test_training_beats_at_detected_peaks_take_the_matched_reference_labels(tmp_path):
    """load_beats(peaks="detected"): beats cut where the detector finds them (as deployed), each labelled by
    the reference beat within 150 ms; the same arrays as beat_inputs on those detections."""
    from keras_ecg.data import signal as S

    ref_peaks = _write(tmp_path, "r1", 360, ["MLII", "V1"], seconds=60)
    spec = B.BeatSpec(fs=180, template_beats=5)
    ref = mitbih.load_beats(tmp_path, spec=spec, cache=False)
    det = mitbih.load_beats(tmp_path, spec=spec, cache=False, peaks="detected")
    assert det.meta["peaks"] == "detected" and ref.meta["peaks"] == "reference"
    assert abs(len(det) - len(ref)) <= 3 and len(det) >= 0.95 * len(ref)
    rec = mitbih.load_record(tmp_path / "r1")
    ref_labels = [mitbih.AAMI_CLASSES.index(mitbih.AAMI_MAP[s]) for s in rec.ann_symbols]
    at = S.detect_r_peaks(rec.signal[:, 0], rec.fs)
    ri, di = S.match_pairs(ref_peaks, at, int(0.15 * 360))
    label_of = {int(at[d]): ref_labels[r] for r, d in zip(ri, di)}
    got = [label_of[int(p)] for p in _detected_samples(det, tmp_path)]
    np.testing.assert_array_equal(det.y, got)
    x, rr, keep, _ = B.beat_inputs(rec.signal, rec.fs, at, spec, rec.leads)
    sel = np.isin(at[keep], list(label_of))
    np.testing.assert_array_equal(det.x[0], x[sel])
    np.testing.assert_array_equal(det.x[1], rr[sel])
    with pytest.raises(ValueError, match="peaks"):
        mitbih.load_beats(tmp_path, spec=spec, cache=False, peaks="nearby")


def _detected_samples(ds, folder):
    """Sample positions of a detected-peak dataset's beats (the builder keeps them per record)."""
    from keras_ecg.data.mitbih import _spec_record_beats

    return _spec_record_beats(folder / "r1", ds.meta["beat_spec"], "atr", peaks="detected")["samples"]


def test_inter_split_trains_at_detected_peaks_and_tests_at_reference_ones(tmp_path):
    """--train-peaks detected: the DS1 side is re-cut at detections; DS2 keeps the reference beats."""
    from keras_ecg.training import sources

    _write(tmp_path, "101", 360, ["MLII", "V1"], seconds=60, seed=1)
    _write(tmp_path, "100", 360, ["MLII", "V1"], seconds=60, seed=2)
    cfg = {"task": "mitbih", "split": "inter", "source": "wfdb", "fs": 180, "template_beats": 5}
    ref = sources.load_mitbih(cfg, str(tmp_path), log=lambda *_: None)
    det = sources.load_mitbih({**cfg, "train_peaks": "detected"}, str(tmp_path), log=lambda *_: None)
    assert det.train.meta["peaks"] == "detected" and det.test.meta["peaks"] == "reference"
    assert det.train.meta["split"] == ref.train.meta["split"] and set(det.train.groups) == {"101"}
    np.testing.assert_array_equal(det.test.x[0], ref.test.x[0])  # the test side is untouched
    assert abs(len(det.train) - len(ref.train)) <= 3 and not np.array_equal(det.train.x[1], ref.train.x[1])


def test_second_lead_falls_back_to_the_first_unused_lead_and_says_so(tmp_path):
    """A two-lead model on a record without V1 (MIT-BIH 100, 103, 117, 123): the second lead falls back
    (recorded per record, in training and predict); the first lead never does in predict."""
    from keras_ecg.data.model_inputs import record_inputs

    assert B.choose_leads(["MLII", "V5"], ["MLII", "V1"], "rec", secondary_fallback=True) == [0, 1]
    with pytest.raises(DataError, match="no lead 'MLII'"):
        B.choose_leads(["V2", "V5"], ["MLII", "V1"], "rec", secondary_fallback=True)
    _write(tmp_path, "100", 360, ["MLII", "V5"])
    _write(tmp_path, "101", 360, ["MLII", "V1"], seed=1)
    spec = B.BeatSpec(fs=180, leads=("MLII", "V1"), secondary_fallback=True)
    ds = mitbih.load_beats(tmp_path, spec=spec, cache=False)
    assert ds.meta["leads_used"] == {"100": ["MLII", "V5"], "101": ["MLII", "V1"]}
    assert ds.meta["lead_fallback"] == {"100": ["MLII", "V5"]}
    prep = C.preprocessing_from("waveform", {"input_kind": "waveform", **spec.to_card()})
    assert prep.secondary_lead_fallback and B.BeatSpec.from_card(prep) == spec
    got = record_inputs(tmp_path / "100", prep)
    assert got.leads_used == ["MLII", "V5"] and got.inputs[0].shape[-1] == 2
    np.testing.assert_array_equal(got.inputs[0], ds.x[0][ds.groups == "100"])
    strict = C.preprocessing_from("waveform", {"input_kind": "waveform",
                                               **B.BeatSpec(fs=180, leads=("MLII", "V1")).to_card()})
    with pytest.raises(DataError, match="no lead 'V1'"):
        record_inputs(tmp_path / "100", strict)


def test_refine_peaks_moves_reference_beats_to_the_detectors_fiducial(tmp_path):
    from keras_ecg.data import signal as S

    ref = _write(tmp_path, "r1", 360, ["MLII", "V1"], seconds=60)
    rec = mitbih.load_record(tmp_path / "r1")
    det = S.detect_r_peaks(rec.signal[:, 0], rec.fs)
    shifted = np.asarray(ref) + 12  # annotations placed 33 ms after the R peak
    ri, di = S.match_pairs(shifted, det, 54)
    assert np.median(np.abs(det[di] - shifted[ri])) >= 8
    moved = S.refine_peaks(rec.signal[:, 0], rec.fs, shifted)
    ri, di = S.match_pairs(moved, det, 54)
    assert len(ri) >= 0.95 * len(det) and np.median(np.abs(det[di] - moved[ri])) <= 1
    assert np.all(np.diff(moved) > 0)
    assert np.all(np.diff(S.refine_peaks(rec.signal[:, 0], rec.fs, [1000, 1001, 1002])) > 0)


def test_aligned_beats_are_the_same_from_shifted_annotations_and_in_predict(tmp_path):
    """align_peaks: beats cut at the fiducial point, so annotations a few samples off give the same inputs,
    and predict (from the card) reproduces the training loader's arrays."""
    from keras_ecg.data.model_inputs import record_inputs

    ref = _write(tmp_path, "r1", 360, ["MLII", "V1"], seconds=60)
    rec = mitbih.load_record(tmp_path / "r1")
    spec = B.BeatSpec(fs=180, template_beats=5, align=True)
    a = B.beat_inputs(rec.signal, rec.fs, ref, spec, rec.leads)
    b = B.beat_inputs(rec.signal, rec.fs, np.asarray(ref) + 5, spec, rec.leads)
    same = np.mean([np.array_equal(u, v) for u, v in zip(a[0][:, :, 0], b[0][:, :, 0])])
    assert same >= 0.9, same
    plain = B.beat_inputs(rec.signal, rec.fs, np.asarray(ref) + 5, B.BeatSpec(fs=180, template_beats=5), rec.leads)
    assert np.mean([np.array_equal(u, v) for u, v in zip(a[0][:, :, 0], plain[0][:, :, 0])]) < 0.1
    ds = mitbih.load_beats(tmp_path, spec=spec, cache=False)
    prep = C.preprocessing_from("waveform", {"input_kind": "waveform", **spec.to_card()})
    assert prep.align_peaks and B.BeatSpec.from_card(prep).align
    got = record_inputs(tmp_path / "r1", prep)
    np.testing.assert_array_equal(got.inputs[0], ds.x[0])
    np.testing.assert_array_equal(got.inputs[1], ds.x[1])
