"""Custom layers: each one's config round trip, dtype policy, masking and a file
saved under another backend; the fused recurrent layers match Keras's own."""

import keras
import numpy as np
import pytest

import keras_ecg
from keras_ecg import layers as custom
from keras_ecg.layers import fused_rnn
from model_specs import BACKENDS, CUSTOM_LAYERS, layer_input

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


# -- Every custom layer: config, dtype policy, masking, across backends --------

CONFIGS = {
    "TemporalAttention": dict(units=7, return_attention=True),
    "AttentionGate": dict(normalize="sigmoid", return_attention=True),
    "FusedLSTM": dict(units=6, return_sequences=True, go_backwards=True, dropout=0.1),
    "FusedGRU": dict(units=6, reset_after=False, return_state=True),
}


def _make(name, **kwargs):
    """The layer with small settings, and a function calling it on a float32 input."""
    cls = getattr(custom, name)
    if name == "AttentionGate":
        layer = cls(**kwargs)
        x = np.random.default_rng(2).normal(size=(2, 4, 5, 3)).astype("float32")
        g = np.random.default_rng(3).normal(size=(2, 6)).astype("float32")
        return layer, lambda: layer([x, g])
    layer = cls(5, **kwargs) if name != "TemporalAttention" else cls(units=5, **kwargs)
    x = np.random.default_rng(2).normal(size=(2, 7, 3)).astype("float32")
    return layer, lambda: layer(x)


@pytest.mark.parametrize("name", CUSTOM_LAYERS)
def test_config_round_trip_keeps_every_argument(name):
    cls = getattr(custom, name)
    assert keras.saving.get_registered_name(cls) == f"keras_ecg>{name}"  # what saved files name
    layer = cls(**CONFIGS[name], name="x")
    config = layer.get_config()
    assert {k: config[k] for k in CONFIGS[name]} == CONFIGS[name]
    assert cls.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is cls and restored.get_config() == config


@pytest.mark.parametrize("name", CUSTOM_LAYERS)
def test_mixed_bfloat16_policy_computes_in_bfloat16_with_float32_weights(name):
    ref, run_ref = _make(name)
    mixed, run_mixed = _make(name, dtype="mixed_bfloat16")
    want = _np(run_ref())
    run_mixed()  # builds the weights
    mixed.set_weights(ref.get_weights())
    out = run_mixed()
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert {keras.backend.standardize_dtype(w.dtype) for w in mixed.weights} == {"float32"}
    np.testing.assert_allclose(_np(out).astype("float32"), want, atol=0.06, rtol=0.05)


def _mask_and_lengths():
    x = layer_input("TemporalAttention")  # rows 0 and 1 zero-padded after 6 and 3 steps
    lengths = [6, 3, x.shape[1]]
    mask = np.arange(x.shape[1])[None, :] < np.array(lengths)[:, None]
    return x, mask, lengths


def test_temporal_attention_gives_masked_steps_no_weight():
    x, mask, lengths = _mask_and_lengths()
    layer = custom.TemporalAttention(units=5, return_attention=True)
    pooled, weights = (_np(t) for t in layer(x, mask=mask))
    assert np.all(weights[~mask] == 0) and np.allclose(weights.sum(-1), 1, atol=1e-5)
    for i, n in enumerate(lengths):  # the same as attending over the unpadded sequence
        alone, _ = layer(x[i:i + 1, :n])
        np.testing.assert_allclose(pooled[i], _np(alone)[0], atol=1e-5)
    unmasked, _ = layer(x)
    assert not np.allclose(_np(unmasked)[1], pooled[1], atol=1e-3)  # the mask matters


def test_temporal_attention_reads_the_mask_of_a_masking_layer():
    x, mask, _ = _mask_and_lengths()
    inp = keras.Input(x.shape[1:])
    att = custom.TemporalAttention(units=5)
    model = keras.Model(inp, att(keras.layers.Masking(0.0)(inp)))
    np.testing.assert_allclose(_np(model(x)), _np(att(x, mask=mask)), atol=1e-6)


@pytest.mark.parametrize("base, fused", PAIRS)
def test_fused_layer_with_a_mask_matches_keras_and_the_unpadded_sequence(base, fused):
    x, mask, lengths = _mask_and_lengths()
    ref, new = _pair(base, fused, x)
    out = _np(new(x, mask=mask))
    np.testing.assert_allclose(out, _np(ref(x, mask=mask)), atol=1e-5)
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(out[i], _np(new(x[i:i + 1, :n]))[0], atol=1e-5)


@pytest.mark.parametrize("source", [b for b in BACKENDS if b != BACKEND])
@pytest.mark.parametrize("name", CUSTOM_LAYERS)
def test_layer_saved_under_another_backend_loads_here(name, source, xbackend_files):
    folder = xbackend_files[source]
    model = keras_ecg.load_model(folder / f"layer_{name}.keras")
    assert any(type(layer) is getattr(custom, name) for layer in model.layers)
    ref = np.load(folder / f"layer_{name}.npz")
    np.testing.assert_allclose(_np(model(ref["x"], training=False)), ref["y"], atol=1e-5, rtol=0)
