"""--backend auto: measure each backend once, pick the fastest, cache the choice."""

import keras
import pytest

from keras_ecg import autobackend


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_ECG_CACHE", str(tmp_path))
    return tmp_path / "backend_choice.json"


def test_picks_the_fastest_and_caches_the_choice(cache, monkeypatch):
    rates = {"tensorflow": 100.0, "jax": 300.0, "torch": 200.0}
    measured = []
    monkeypatch.setattr(autobackend, "measure", lambda b, *a, **k: measured.append(b) or rates[b])
    kwargs = dict(backends=list(rates), log=lambda m: None)
    assert autobackend.choose("cnn_lstm", (187, 1), **kwargs) == "jax"
    assert measured == list(rates)
    assert cache.exists()
    rates["torch"] = 1000.0  # a later call must not measure again
    assert autobackend.choose("cnn_lstm", (187, 1), **kwargs) == "jax"
    assert len(measured) == 3
    assert autobackend.choose("cnn_lstm", (187, 1), refresh=True, **kwargs) == "torch"
    # another model or input shape is measured on its own
    assert autobackend.choose("cnn1d", (187, 1), **kwargs) == "torch"
    assert len(measured) == 9


def test_a_failing_backend_is_skipped_and_all_failing_is_an_error(cache, monkeypatch):
    monkeypatch.setattr(autobackend, "measure", lambda b, *a, **k: None if b == "jax" else 50.0)
    assert autobackend.choose("lstm", (50, 1), backends=["jax", "torch"], log=lambda m: None) == "torch"
    monkeypatch.setattr(autobackend, "measure", lambda *a, **k: None)
    with pytest.raises(RuntimeError, match="no backend could train"):
        autobackend.choose("gru", (50, 1), backends=["jax"], log=lambda m: None)


def test_measure_trains_in_a_subprocess_on_this_backend():
    rate = autobackend.measure(keras.backend.backend(), "cnn1d", (32, 1), batch_size=16, steps=4)
    assert rate is not None and rate > 0
