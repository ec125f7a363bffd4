"""Every registered model on the current backend (KERAS_BACKEND)."""

import copy
import functools
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_ecg
from keras_ecg.registry import input_kind
from model_specs import BACKENDS, NUM_CLASSES, SHAPES, sample_input, small_model

MODELS = keras_ecg.list_models()
BACKEND = keras.backend.backend()


def outputs(model, x):
    if BACKEND == "jax":
        # predict() compiles the graph once: much faster than op-by-op eager JAX.
        return model.predict(x, verbose=0, batch_size=len(x))
    return keras.ops.convert_to_numpy(model(x, training=False))


def test_registry_covers_the_product():
    expected = {
        "cnn1d", "lstm", "bilstm", "gru", "attention_lstm", "cnn_lstm", "cnn_bilstm", "cnn_attention_lstm",
        "resnet1d", "cnn2d", "cnn_lstm2d", "attention_vgg", "td_cnn", "cnn3d",
    }
    assert expected <= set(MODELS)
    assert keras_ecg.list_models("cnn_*") == sorted(m for m in MODELS if m.startswith("cnn_"))
    assert set(keras_ecg.list_models(input_kind="panels")) >= {"td_cnn", "cnn3d"}


@functools.cache
def first_size(name):
    """The model of ``name`` at the first input size, an input and its outputs: built and run once for the tests
    that check or compare with them."""
    model = small_model(name)
    x = sample_input(name, batch=3)
    return model, x, outputs(model, x)


@pytest.mark.parametrize("name", MODELS)
def test_builds_at_two_sizes_with_finite_probabilities(name):
    for index in (0, 1):
        if index == 0:
            model, x, y = first_size(name)
        else:
            model = small_model(name, index)
            x = sample_input(name, batch=3, shape_index=index)
            y = outputs(model, x)
        assert isinstance(model, keras.Model)
        assert not model.compiled, "build() must return an uncompiled model"
        assert y.shape == (3, NUM_CLASSES)
        assert np.all(np.isfinite(y))
        np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_binary_head_gives_one_risk_probability(name):
    model = small_model(name, binary=True)
    y = outputs(model, sample_input(name, batch=3))
    assert y.shape == (3, 1)
    assert np.all((y >= 0) & (y <= 1))


def learnable_problem(name, n=48):
    """Class k has a bump of amplitude 2 on the k-th third of the last axis-1 range."""
    shape = SHAPES[input_kind(name)][0]
    rng = np.random.default_rng(1)
    y = np.arange(n) % NUM_CLASSES
    x = rng.normal(scale=0.3, size=(n, *shape)).astype("float32")
    axis_len = shape[1] if input_kind(name) == "panels" else shape[0]
    third = axis_len // NUM_CLASSES
    for k in range(NUM_CLASSES):
        sl = slice(k * third, (k + 1) * third)
        if input_kind(name) == "panels":
            x[y == k, :, sl] += 2.0
        else:
            x[y == k, sl] += 2.0
    return x, y


@pytest.mark.parametrize("name", MODELS)
def test_a_few_training_steps_lower_the_loss(name):
    keras.utils.set_random_seed(0)
    model = small_model(name, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    x, y = learnable_problem(name)
    # Training-mode losses from the history: batch-norm moving statistics lag
    # behind after a few steps, so evaluate() would not show the progress.
    losses = model.fit(x, y, epochs=6, batch_size=16, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0] * 0.97, f"{name}: loss {losses[0]:.4f} -> {losses[-1]:.4f}"


@pytest.mark.parametrize("name", MODELS)
def test_config_round_trip(name):
    model, x, y = first_size(name)
    config = model.get_config()
    clone = type(model).from_config(copy.deepcopy(config))  # from_config consumes its dict
    assert clone.get_config() == config
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(outputs(clone, x), y, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_keras_file_reload_gives_identical_outputs(name, tmp_path):
    model, x, y = first_size(name)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras_ecg.load_model(path)
    np.testing.assert_array_equal(outputs(loaded, x), y)


def test_no_lambda_layers_and_custom_layers_are_registered():
    from keras_ecg import layers as custom

    for cls in (custom.TemporalAttention, custom.AttentionGate):
        assert keras.saving.get_registered_name(cls) == f"keras_ecg>{cls.__name__}"
        layer = cls(name="x")
        assert cls.from_config(layer.get_config()).get_config() == layer.get_config()
    for name in MODELS:
        stack = list(first_size(name)[0].layers)
        while stack:
            layer = stack.pop()
            assert not isinstance(layer, keras.layers.Lambda), f"{name} uses a Lambda layer"
            stack.extend(getattr(layer, "layers", []))
            if hasattr(layer, "layer"):
                stack.append(layer.layer)


# -- Cross-backend portability ------------------------------------------------


# The xbackend_files fixture (conftest.py) saves each backend's files once.


@pytest.mark.parametrize("source", [b for b in BACKENDS if b != BACKEND])
@pytest.mark.parametrize("name", MODELS)
def test_keras_file_from_another_backend_loads_here(name, source, xbackend_files):
    folder = xbackend_files[source]
    model = keras_ecg.load_model(folder / f"{name}.keras")
    ref = np.load(folder / f"{name}.npz")
    np.testing.assert_allclose(outputs(model, ref["x"]), ref["y"], atol=1e-5, rtol=0)


# -- Errors -------------------------------------------------------------------


def test_unknown_name_suggests_close_names():
    with pytest.raises(KeyError, match="Did you mean 'cnn_lstm'"):
        keras_ecg.build("cnn_lstmm", (187, 1), 5)


@pytest.mark.parametrize(
    "name, shape",
    [("cnn1d", (187,)), ("lstm", (1, 187, 1)), ("attention_vgg", (224, 224)), ("td_cnn", (64, 64, 1))],
)
def test_wrong_input_rank_is_a_clear_error(name, shape):
    with pytest.raises(ValueError, match=rf"Model '{name}' takes .* input of shape"):
        keras_ecg.build(name, shape, 5)


@pytest.mark.parametrize(
    "name, shape",
    [
        ("cnn1d", (4, 1)),
        ("cnn_lstm", (3, 1)),
        ("resnet1d", (20, 1)),
        ("cnn2d", (8, 64, 3)),
        ("attention_vgg", (16, 16, 3)),
        ("cnn3d", (13, 4, 4, 1)),
    ],
)
def test_more_pooling_than_the_input_allows_is_a_clear_error(name, shape):
    with pytest.raises(ValueError, match="too small for .* pooling stages"):
        keras_ecg.build(name, shape, 5)


def test_one_class_without_binary_is_refused():
    with pytest.raises(ValueError, match="num_classes must be at least 2"):
        keras_ecg.build("cnn1d", (187, 1), 1)


def test_register_model_adds_a_builder():
    @keras_ecg.register_model("tiny_test_model")
    def tiny(input_shape, num_classes, binary=False):
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, keras.layers.Dense(num_classes)(keras.layers.Flatten()(inputs)))

    assert "tiny_test_model" in keras_ecg.list_models("tiny_*")
    assert keras_ecg.build("tiny_test_model", (10, 1), 4).output_shape == (None, 4)


def _python(code, backend):
    env = {**os.environ, "KERAS_BACKEND": backend}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_import_does_not_import_keras_and_use_selects_the_backend():
    other = "jax" if BACKEND != "jax" else "torch"
    code = (
        "import sys, keras_ecg\n"
        "assert 'keras' not in sys.modules, 'import keras_ecg imported keras'\n"
        f"keras_ecg.backend.use('{other}')\n"
        "import keras\n"
        f"assert keras.backend.backend() == '{other}', keras.backend.backend()\n"
        "print('ok')\n"
    )
    result = _python(code, BACKEND)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_switching_backend_after_keras_import_is_refused():
    with pytest.raises(RuntimeError, match="already imported with the"):
        keras_ecg.backend.use("jax" if BACKEND != "jax" else "torch")
    assert keras_ecg.backend.use(BACKEND) == BACKEND
    with pytest.raises(ValueError, match="Unknown backend 'mxnet'"):
        keras_ecg.backend.use("mxnet")


def test_devices_on_a_cpu_machine_have_no_accelerators():
    devices = keras_ecg.backend.list_devices()
    assert devices and all(isinstance(d, str) for d in devices)
    expected = sum(1 for d in devices if "gpu" in d.lower() or "cuda" in d.lower() or "tpu" in d.lower())
    assert keras_ecg.backend.num_accelerators() == expected
