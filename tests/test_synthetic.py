"""Synthetic AAMI beats and records: shapes, determinism, morphology, learnability."""

import numpy as np
import pytest

from keras_ecg.data import splits, synthetic

pytestmark = pytest.mark.backend_free


def test_beats_contract_and_determinism():
    ds = synthetic.beats(n_per_class=30, seed=3)
    assert ds.x.shape == (150, 187) and ds.x.dtype == np.float32
    assert ds.class_names == ["N", "S", "V", "F", "Q"]
    assert ds.class_counts() == {c: 30 for c in ds.class_names}
    assert ds.meta["synthetic"] is True and ds.meta["source"] == "synthetic"
    assert 10 <= len(np.unique(ds.groups)) <= 20
    again = synthetic.beats(n_per_class=30, seed=3)
    np.testing.assert_array_equal(ds.x, again.x)
    np.testing.assert_array_equal(ds.groups, again.groups)
    assert not np.array_equal(ds.x, synthetic.beats(n_per_class=30, seed=4).x)


def test_any_rate_and_rr_features():
    ds = synthetic.beats(10, fs=360, window=540, rr_features=True)
    beats, rr = ds.x
    assert beats.shape == (50, 540) and rr.shape == (50, 3)
    # the R peak is the window centre: the largest deflection within +-0.2 s
    n = beats[ds.y == 0][:, 270 - 72:270 + 72]
    assert np.all(np.abs(np.argmax(n, axis=1) - 72) <= 2)
    # S and V beats come early: previous RR shorter than the local mean
    for c in (1, 2):
        assert np.all(rr[ds.y == c, 0] < 0.8 * rr[ds.y == c, 2])
    assert np.all(np.abs(rr[ds.y == 0, 0] / rr[ds.y == 0, 2] - 1) < 0.1)


def test_class_morphology():
    ds = synthetic.beats(40, fs=500, window=500, noise=0.0)
    x = ds.x - np.median(ds.x, axis=1, keepdims=True)
    c = 250

    def qrs_width(b):  # samples above half the R amplitude around the peak
        return np.sum(b[c - 60:c + 60] > 0.5 * b[c])

    widths = {k: np.median([qrs_width(b) for b in x[ds.y == k]]) for k in range(5)}
    assert widths[2] > 2 * widths[0]  # V: wide QRS
    # Q (paced): a sharp spike before the QRS, bigger than anything in N beats there
    pre = slice(c - 40, c - 12)
    assert np.median(x[ds.y == 4][:, pre].max(1)) > 1.0 > np.median(x[ds.y == 0][:, pre].max(1))
    # P wave: positive before N, negative before S, absent before V
    p_n = x[ds.y == 0][:, c - 110:c - 90].mean()
    p_s = x[ds.y == 1][:, c - 85:c - 65].mean()
    assert p_n > 0.05 and p_s < -0.03


def test_learnable_far_above_chance():
    sklearn = pytest.importorskip("sklearn.linear_model")
    ds = synthetic.beats(60, seed=1)
    train, test = splits.group_split(ds, test_size=0.3, seed=0)
    model = sklearn.LogisticRegression(max_iter=500).fit(train.x, train.y)
    assert model.score(test.x, test.y) > 0.8


def test_record():
    sig, peaks, labels = synthetic.record(duration_s=30, fs=250, seed=2)
    assert sig.dtype == np.float32 and sig.shape == (7500,)
    assert peaks.dtype.kind == "i" and len(peaks) == len(labels)
    assert np.all(np.diff(peaks) > 0.25 * 250) and 20 < len(peaks) < 60
    # R peaks sit on local maxima of the signal
    assert np.mean([sig[p] >= sig[max(p - 5, 0):p + 6].max() - 0.05 for p in peaks]) > 0.9
    again = synthetic.record(duration_s=30, fs=250, seed=2)
    np.testing.assert_array_equal(sig, again[0])
    only_v = synthetic.record(20, 360, seed=0, class_probs=[0, 0, 1, 0, 0])[2]
    assert set(only_v) == {2}
    with pytest.raises(ValueError, match="class_probs"):
        synthetic.record(10, 360, class_probs=[1, 2])


def test_pages_wrapper_is_lazy():
    assert callable(synthetic.pages)
    assert "synthetic_pages" in (synthetic.pages.__doc__ or "")
