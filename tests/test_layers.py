"""Custom layers: the fused recurrent layers match Keras's own on every backend."""

import keras
import numpy as np
import pytest

from keras_ecg import layers as custom
from keras_ecg.layers import fused_rnn

BACKEND = keras.backend.backend()
PAIRS = [(keras.layers.LSTM, custom.FusedLSTM), (keras.layers.GRU, custom.FusedGRU)]
VARIANTS = [dict(), dict(return_sequences=True), dict(return_sequences=True, go_backwards=True)]


def _pair(base, fused, x, **kwargs):
    ref, new = base(12, **kwargs), fused(12, **kwargs)
    ref.build(x.shape)
    new.build(x.shape)
    new.set_weights(ref.get_weights())
    return ref, new


def _np(t):
    return keras.ops.convert_to_numpy(t)


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(5, 17, 3)).astype("float32")


@pytest.mark.parametrize("kwargs", VARIANTS)
@pytest.mark.parametrize("base, fused", PAIRS)
def test_fused_layer_matches_keras(base, fused, kwargs, x):
    ref, new = _pair(base, fused, x, **kwargs)
    np.testing.assert_allclose(_np(new(x)), _np(ref(x)), atol=1e-5)
    config = new.get_config()
    assert fused.from_config(config).get_config() == config


@pytest.mark.parametrize("base, fused", PAIRS)
def test_fused_layer_inside_bidirectional(base, fused, x):
    ref = keras.layers.Bidirectional(base(8))
    new = keras.layers.Bidirectional(fused(8))
    ref.build(x.shape)
    new.build(x.shape)
    new.set_weights(ref.get_weights())
    np.testing.assert_allclose(_np(new(x)), _np(ref(x)), atol=1e-5)


@pytest.mark.skipif(BACKEND != "torch", reason="the fused kernel path exists on the torch backend only")
@pytest.mark.parametrize("base, fused", PAIRS)
def test_torch_takes_the_fused_path_with_equal_gradients(base, fused, x, monkeypatch):
    import torch

    calls = []
    original = fused_rnn.torch_run
    monkeypatch.setattr(fused_rnn, "torch_run", lambda *a, **k: calls.append(1) or original(*a, **k))
    ref, new = _pair(base, fused, x)
    xt = torch.tensor(x)
    for layer in (ref, new):
        layer(xt, training=True).pow(2).sum().backward()
    assert calls, "the fused kernel was not used"
    for a, b in zip(ref.trainable_weights, new.trainable_weights):
        np.testing.assert_allclose(b.value.grad.numpy(), a.value.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_non_default_activation_falls_back_to_keras(x):
    ref, new = _pair(keras.layers.LSTM, custom.FusedLSTM, x, activation="relu")
    np.testing.assert_allclose(_np(new(x)), _np(ref(x)), atol=1e-5)
