"""Classical baseline: features from beat windows and RR features, fit/predict, save/load."""

import numpy as np
import pytest

from keras_ecg.errors import DataError
from keras_ecg.evaluation import baseline

pytestmark = pytest.mark.backend_free


pytest.importorskip("sklearn")

FS, BEFORE, WINDOW = 100.0, 25, 70


def toy(n_per_class=60, seed=0):
    """Three classes: 0 normal, 1 premature (short pre-RR), 2 wide QRS; noisy beats, R peak at BEFORE."""
    rng = np.random.default_rng(seed)
    t = (np.arange(WINDOW) - BEFORE) / FS
    beats, rr, y = [], [], []
    for c in range(3):
        for _ in range(n_per_class):
            width = 0.05 if c == 2 else 0.015
            x = np.exp(-0.5 * (t / width) ** 2) + 0.2 * rng.standard_normal(WINDOW)
            x = (x - x.mean()) / x.std()
            pre = rng.normal(0.5 if c == 1 else 0.8, 0.05)
            base = rng.normal(0.8, 0.03)
            post, local = rng.normal(0.8, 0.05), rng.normal(0.8, 0.03)
            rr.append([pre, post, local, base, pre / base, post / base, local / base, pre / local])
            beats.append(x[:, None])
            y.append(c)
    return np.array(beats, np.float32), np.log(np.abs(np.array(rr, np.float32))), np.array(y)


def test_features_shape_and_what_they_measure():
    beats, rr, _ = toy(5)
    f = baseline.features(beats, rr, FS, BEFORE)
    assert f.shape == (15, 8 + 27)
    assert np.allclose(f[:, :8], rr)  # logs already (BeatSpec's rr_log)
    raw = baseline.features(beats, np.exp(rr), FS, BEFORE, rr_log=False)
    assert np.allclose(raw, f, atol=1e-5)
    with pytest.raises(DataError, match="must be > 0"):
        baseline.features(beats, rr - 10, FS, BEFORE, rr_log=False)
    # a two-lead beat gives the per-lead block twice; the second lead equal to the first repeats it
    f2 = baseline.features(np.concatenate([beats, beats], axis=2), rr, FS, BEFORE)
    assert f2.shape == (15, 8 + 54) and np.allclose(f2[:, 8:35], f2[:, 35:])
    # QRS width: a wide beat (class 2) is wider than a narrow one, in seconds
    clean_t = (np.arange(WINDOW) - BEFORE) / FS
    narrow = np.exp(-0.5 * (clean_t / 0.01) ** 2)[None, :, None]
    wide = np.exp(-0.5 * (clean_t / 0.04) ** 2)[None, :, None]
    one = rr[:1]
    w_narrow = baseline.features(narrow, one, FS, BEFORE)[0, 8 + 20 + 5]
    w_wide = baseline.features(wide, one, FS, BEFORE)[0, 8 + 20 + 5]
    # half-maximum width of a Gaussian is 2.355 sigma; sampled at 10 ms, within a sample or two
    assert abs(w_wide - 2.355 * 0.04) <= 0.02 and w_narrow < w_wide / 2
    # the amplitude at the R peak and the maximum's time from it
    assert baseline.features(narrow, one, FS, BEFORE)[0, 8 + 20] == pytest.approx(1.0)
    assert baseline.features(narrow, one, FS, BEFORE)[0, 8 + 20 + 2] == 0.0


@pytest.mark.parametrize("kind", ["lda", "logreg", "svm"])
def test_learns_a_separable_toy_task(kind):
    beats, rr, y = toy(60, seed=0)
    model = baseline.FeatureBaseline(kind, fs=FS, before=BEFORE).fit(beats, rr, y)
    tb, tr, ty = toy(40, seed=1)
    pred = model.predict(tb, tr)
    acc = float((pred == ty).mean())
    assert acc > 0.9  # chance is 1/3
    p = model.predict_proba(tb, tr)
    assert p.shape == (120, 3) and np.allclose(p.sum(axis=1), 1.0)
    assert list(model.classes_) == [0, 1, 2]


def test_string_labels_and_max_per_class():
    beats, rr, y = toy(30)
    names = np.array(["N", "S", "V"])[y]
    model = baseline.FeatureBaseline("logreg", fs=FS, before=BEFORE, max_per_class=10).fit(beats, rr, names)
    assert set(model.predict(beats, rr)) <= {"N", "S", "V"}
    assert model.model[0].n_samples_seen_ == 30 and model.model[-1].n_features_in_ == 35


@pytest.mark.parametrize("kind", ["lda", "svm"])
def test_save_load_round_trip(tmp_path, kind):
    beats, rr, y = toy(30)
    model = baseline.FeatureBaseline(kind, fs=FS, before=BEFORE).fit(beats, rr, y)
    path = tmp_path / "sub" / "baseline.pkl"
    model.save(path)
    back = baseline.FeatureBaseline.load(path)
    assert back.params() == model.params()
    tb, tr, _ = toy(10, seed=3)
    assert np.array_equal(back.predict_proba(tb, tr), model.predict_proba(tb, tr))
    assert np.array_equal(back.predict(tb, tr), model.predict(tb, tr))
    assert [p.name for p in path.parent.iterdir()] == ["baseline.pkl"]  # no temporary left


def test_load_refuses_other_pickles(tmp_path):
    import pickle

    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"something": 1}))
    with pytest.raises(DataError, match="not a saved FeatureBaseline"):
        baseline.FeatureBaseline.load(path)


def test_bad_inputs():
    beats, rr, y = toy(5)
    with pytest.raises(DataError, match="15 beats but 14 rows"):
        baseline.features(beats, rr[:14], FS, BEFORE)
    with pytest.raises(DataError, match="rr must be"):
        baseline.features(beats, rr[:, :5], FS, BEFORE)
    with pytest.raises(DataError, match="labels"):
        baseline.FeatureBaseline(fs=FS, before=BEFORE).fit(beats, rr, y[:3])
    with pytest.raises(DataError, match="two classes"):
        baseline.FeatureBaseline(fs=FS, before=BEFORE).fit(beats, rr, np.zeros(15))
    with pytest.raises(DataError, match="outside"):
        baseline.features(beats, rr, FS, before=WINDOW)
    with pytest.raises(DataError, match="not fitted"):
        baseline.FeatureBaseline().predict(beats, rr)
    with pytest.raises(ValueError, match="kind"):
        baseline.FeatureBaseline("tree")
    bad = beats.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        baseline.features(bad, rr, FS, BEFORE)
