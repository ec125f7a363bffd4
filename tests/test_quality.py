"""Signal quality per segment: flat, saturated and noise segments marked; real ECG readable."""

import numpy as np
import pytest

from keras_ecg.data import quality as Q
from keras_ecg.data import synthetic

pytestmark = pytest.mark.backend_free


def _ecg(seconds=60, fs=360, seed=0):
    sig, peaks, _ = synthetic.record(seconds, fs, seed=seed, class_probs=[1, 0, 0, 0, 0])
    return np.asarray(sig, dtype=np.float64), peaks


def test_ecg_is_readable_and_bad_segments_are_named(rng):
    fs = 360
    x, peaks = _ecg(60, fs)
    assert Q.assess(x, fs).analysable_fraction == 1.0
    bad = x.copy()
    bad[10 * fs:20 * fs] = 0.3  # lead off: a constant
    bad[30 * fs:40 * fs] = rng.standard_normal(10 * fs)  # broadband noise
    bad[40 * fs:50 * fs] = np.clip(bad[40 * fs:50 * fs], -0.05, 0.05)  # clipped amplifier
    q = Q.assess(bad, fs)
    assert q.reasons == ["", "flat", "", "noise", "saturated", ""]
    assert q.analysable_fraction == pytest.approx(0.5)
    assert q.spans() == [(10.0, 20.0, "flat"), (30.0, 40.0, "noise"), (40.0, 50.0, "saturated")]
    t = peaks / fs
    ok = q.readable_at(t)
    assert not ok[(t >= 10) & (t < 20)].any() and ok[t < 10].all()
    d = q.to_dict()
    assert d["unreadable_segments"] == {"flat": 1, "saturated": 1, "noise": 1} and len(d["unreadable"]) == 3


@pytest.mark.parametrize("fs", [200, 250, 500])
def test_white_noise_and_constants_have_nothing_analysable(rng, fs):
    assert Q.assess(rng.standard_normal(60 * fs), fs).analysable_fraction == 0.0
    assert Q.assess(np.full(60 * fs, 1.5), fs).analysable_fraction == 0.0
    assert Q.assess(np.arange(600 * fs) / fs, fs).analysable_fraction < 0.05  # a time column read as ECG


def test_low_rates_skip_the_noise_test(rng):
    x, _ = _ecg(60, 360)
    from keras_ecg.data import signal as S

    low = S.resample(x, 360, 90)
    assert Q.assess(low, 90).analysable_fraction == 1.0


def test_mitbih_is_readable(mitdb_dir):
    import wfdb

    for r in ("100", "105", "203", "207"):  # 105 is noisy, 203 and 207 hold VT and ventricular flutter
        rec = wfdb.rdrecord(str(mitdb_dir / r), channels=[0])
        assert Q.assess(rec.p_signal[:, 0], rec.fs).analysable_fraction > 0.99, r
