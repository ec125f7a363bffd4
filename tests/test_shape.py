"""Shape features: how a beat differs from the patient's causal template (keras_ecg.data.shape)."""

import numpy as np
import pytest

from keras_ecg import card as C
from keras_ecg.data import beats as B
from keras_ecg.data import shape as SH

pytestmark = pytest.mark.backend_free


def _beats(n=6, window=126, before=45, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(window)
    base = (np.exp(-0.5 * ((t - before) / 3.0) ** 2) + 0.2 * np.exp(-0.5 * ((t - 20) / 5.0) ** 2)
            + 0.3 * np.exp(-0.5 * ((t - before - 50) / 8.0) ** 2))
    return np.tile(base, (n, 1)) + 0.001 * rng.normal(size=(n, window))


def test_identical_and_scaled_beats():
    b = _beats()
    f = SH.shape_features(b, b, before=45, fs=180)
    assert f.shape == (6, len(SH.SHAPE_FEATURE_NAMES)) == (6, 8)
    np.testing.assert_allclose(f[:, 0::2], 1.0, atol=1e-6)  # correlations
    np.testing.assert_allclose(f[:, 1::2], 0.0, atol=1e-6)  # log amplitude ratios
    f2 = SH.shape_features(2 * b, b, before=45, fs=180)
    np.testing.assert_allclose(f2[:, 1::2], np.log(2.0), atol=1e-4)  # twice the amplitude in every region
    np.testing.assert_allclose(f2[:, 0::2], 1.0, atol=1e-6)


def test_a_changed_p_wave_moves_only_the_p_and_whole_window_figures():
    b = _beats()
    ectopic = b.copy()
    ectopic[:, 10:30] = b[:, 10:30][:, ::-1] * -1.0  # an inverted, shifted P wave
    f = SH.shape_features(ectopic, b, before=45, fs=180)
    names = list(SH.SHAPE_FEATURE_NAMES)
    assert (f[:, names.index("corr_p")] < 0.5).all()
    np.testing.assert_allclose(f[:, names.index("corr_qrs")], 1.0, atol=1e-6)
    np.testing.assert_allclose(f[:, names.index("corr_t")], 1.0, atol=1e-6)
    assert (f[:, names.index("corr_all")] < 1.0 - 1e-3).all()


def test_regions_without_a_p_wave_are_neutral():
    b = _beats(before=2)
    f = SH.shape_features(b * 3, b, before=2, fs=180)  # the window starts at the QRS: no P region
    names = list(SH.SHAPE_FEATURE_NAMES)
    assert f[0, names.index("corr_p")] == 1.0 and f[0, names.index("amp_p")] == 0.0
    assert SH.regions(126, 2, 180)["p"] == (0, 0)


def test_beat_inputs_append_shape_features_after_rr_and_round_trip_the_card():
    fs = 360
    x = np.sin(np.arange(30 * fs) / 30.0).astype(np.float32)
    peaks = np.arange(400, 29 * fs, 300)
    spec = B.BeatSpec(fs=180, filter=None, shape=True, template_beats=0)
    beats, feats, keep, _ = B.beat_inputs(x, fs, peaks, spec, ["MLII"])
    assert feats.shape == (int(keep.sum()), 16) and spec.extra_names[8:] == list(SH.SHAPE_FEATURE_NAMES)
    plain = B.beat_inputs(x, fs, peaks, B.BeatSpec(fs=180, filter=None), ["MLII"])[1]
    np.testing.assert_allclose(feats[:, :8], plain)  # the RR features are unchanged
    assert beats.shape[-1] == 1  # shape features need no template channel
    prep = C.preprocessing_from("waveform", {"input_kind": "waveform", **spec.to_card()})
    assert prep.shape_features == list(SH.SHAPE_FEATURE_NAMES)
    assert B.BeatSpec.from_card(prep) == spec
