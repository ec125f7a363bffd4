"""Filtering, baseline removal, resampling, normalisation and R-peak detection."""

import time

import numpy as np
import pytest

from keras_ecg.data import signal, synthetic

pytestmark = pytest.mark.backend_free


def tone(freq, fs, seconds=10.0):
    t = np.arange(int(fs * seconds)) / fs
    return np.sin(2 * np.pi * freq * t).astype(np.float32)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def test_bandpass_keeps_the_band():
    fs = 360
    x = tone(0.1, fs) + tone(10, fs) + tone(120, fs)
    y = signal.bandpass(x, fs, 0.5, 40)
    assert y.dtype == np.float32 and y.shape == x.shape
    core = slice(fs, -fs)
    np.testing.assert_allclose(rms(y[core]), rms(tone(10, fs)[core]), rtol=0.05)
    assert rms((y - tone(10, fs))[core]) < 0.1
    with pytest.raises(ValueError, match="fs/2"):
        signal.bandpass(x, fs, 10, 500)


@pytest.mark.parametrize("method", ["highpass", "median"])
def test_remove_baseline(method):
    fs = 250
    sig, _, _ = synthetic.record(20, fs, seed=1, wander=0.0, noise=0.0)
    drift = (1.5 * np.sin(2 * np.pi * 0.15 * np.arange(len(sig)) / fs)).astype(np.float32)
    clean = signal.remove_baseline(sig + drift, fs, method=method)
    # the QRS complexes survive, the slow drift is gone
    assert abs(np.median(clean)) < 0.1
    assert rms(clean - np.median(clean) - (sig - np.median(sig))) < 0.3 * rms(drift)
    with pytest.raises(ValueError, match="baseline method"):
        signal.remove_baseline(sig, fs, method="spline")


def test_resample_keeps_frequency():
    x = tone(5, 360)
    y = signal.resample(x, 360, 125)
    assert y.shape == (1250,) and y.dtype == np.float32
    np.testing.assert_allclose(y[50:-50], tone(5, 125)[50:-50], atol=0.02)
    two = signal.resample(np.stack([x, x]), 360, 500, axis=-1)
    assert two.shape == (2, 5000)
    np.testing.assert_array_equal(signal.resample_index([0, 360, 720], 360, 125), [0, 125, 250])
    with pytest.raises(ValueError, match="positive"):
        signal.resample(x, 0, 125)


def test_normalisation(rng):
    x = rng.normal(3, 2, (4, 50)).astype(np.float32)
    z = signal.zscore(x)
    np.testing.assert_allclose(z.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(1), 1, atol=1e-3)
    m = signal.minmax(x)
    np.testing.assert_allclose(m.min(1), 0, atol=1e-6)
    np.testing.assert_allclose(m.max(1), 1, atol=1e-5)
    np.testing.assert_array_equal(signal.normalize(x, None), x)
    with pytest.raises(ValueError, match="normalisation"):
        signal.normalize(x, "l2")


def test_nan_is_refused_with_its_position():
    x = np.zeros(100, np.float32)
    x[[7, 9]] = np.nan
    with pytest.raises(ValueError, match=r"2 NaN/infinite samples \(first at index \(7,\)\)"):
        signal.bandpass(x, 100, 1, 10)
    with pytest.raises(ValueError, match="NaN"):
        signal.detect_r_peaks(x, 100)


def test_match_peaks():
    assert signal.match_peaks([100, 200, 300], [102, 260, 301, 500], 10) == (2, 1, 2)
    # one detection cannot match two references
    assert signal.match_peaks([100, 105], [103], 10) == (1, 1, 0)
    assert signal.match_peaks([], [5], 10) == (0, 0, 1)


@pytest.mark.parametrize("fs", [125, 250, 360, 500])
def test_detector_on_synthetic_records(fs):
    sig, peaks, labels = synthetic.record(60, fs, seed=fs)
    det = signal.detect_r_peaks(sig, fs)
    tp, fn, fp = signal.match_peaks(peaks, det, int(0.15 * fs))
    assert tp / (tp + fn) >= 0.98 and tp / (tp + fp) >= 0.98
    assert det.dtype == np.int64


def test_detector_is_fast_on_a_30_minute_record():
    sig, peaks, _ = synthetic.record(1800, 360, seed=7)
    signal.detect_r_peaks(sig[:3600], 360)  # imports
    t0 = time.perf_counter()
    det = signal.detect_r_peaks(sig, 360)
    took = time.perf_counter() - t0
    assert len(sig) == 648000 and took < 1.0  # about 0.1 s here; generous for busy machines
    tp, fn, fp = signal.match_peaks(peaks, det, 54)
    assert tp / len(peaks) > 0.98


def test_detector_on_real_records(mitdb_dir):
    from keras_ecg.data import mitbih

    for name in ("100", "208"):
        rec = mitbih.load_record(mitdb_dir / name)
        ref = rec.ann_samples[np.isin(rec.ann_symbols, list(mitbih.AAMI_MAP))]
        det = signal.detect_r_peaks(rec.lead("MLII"), rec.fs)
        tp, fn, fp = signal.match_peaks(ref, det, 54)
        assert tp / (tp + fn) > 0.98 and tp / (tp + fp) > 0.99, name
