"""Verification of exported artefacts against the Keras model's outputs.

Each artefact is reloaded (``.keras``), run in onnxruntime (ONNX) or loaded with
``tf.saved_model.load`` and called through its ``serving_default`` signature
(SavedModel), at batch sizes 1 and N, and compared with the Keras outputs
(max abs error <= ``atol``). The graph's inputs must carry the Keras input
names and a dynamic batch axis.

Inputs travel as a list of arrays, one per model input, in the model's order.
"""

from __future__ import annotations

import contextlib

import numpy as np

from keras_ecg.errors import ExportError

__all__ = ["ExportVerificationError", "model_inputs", "sample_inputs", "predict", "load_keras", "VERIFY"]

MAX_VERIFY_EXAMPLES = 16


class ExportVerificationError(ExportError):
    """An exported artefact does not reproduce the Keras outputs (or has a wrong signature)."""


def require(module: str, extra: str = "export"):
    """Import an optional dependency, or an ImportError naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"keras_ecg.export needs {module!r} for this format: pip install keras-ecg[{extra}]  ({e})"
        ) from e


def model_inputs(model) -> list:
    """``[(name, shape, dtype)]`` of every model input, in order."""
    inputs = list(model.inputs or [])
    if not inputs:
        raise ValueError(f"keras_ecg.export: model {model.name!r} has no inputs (build it first).")
    out = []
    for i, t in enumerate(inputs):
        out.append((getattr(t, "name", None) or f"input_{i}", tuple(t.shape), str(t.dtype)))
    names = [n for n, _, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"keras_ecg.export: model {model.name!r} has repeated input names {names}.")
    return out


def sample_inputs(sample, specs) -> tuple:
    """(x: list of arrays with n >= 2 rows each, description) to verify on.

    ``sample``: ``None`` (random normal, seed 0, 4 examples), an array (one
    input), a list/tuple of arrays (one per input), a dict by input name, or a
    Dataset (its ``x``).
    """
    if sample is None:
        rng = np.random.default_rng(0)
        x = [rng.normal(size=(4, *[int(d) for d in shape[1:]])).astype(dtype) for _, shape, dtype in specs]
        return x, "random normal inputs (seed 0), 4 examples"
    if hasattr(sample, "x") and hasattr(sample, "y"):  # a Dataset
        sample = sample.x
    if isinstance(sample, dict):
        missing = [n for n, _, _ in specs if n not in sample]
        if missing:
            raise ValueError(f"sample_inputs has no input named {missing[0]!r}; the model takes "
                             f"{[n for n, _, _ in specs]}.")
        sample = [sample[n] for n, _, _ in specs]
    xs = list(sample) if isinstance(sample, (list, tuple)) else [sample]
    if len(xs) != len(specs):
        raise ValueError(f"sample_inputs holds {len(xs)} input(s); the model takes {len(specs)}.")
    out = []
    for a, (name, shape, dtype) in zip(xs, specs):
        a = np.asarray(a)
        if a.dtype == object:
            raise ValueError("sample_inputs holds objects (file paths?); pass loaded arrays.")
        if a.ndim == len(shape) - 1:
            a = a[None]
        if a.ndim != len(shape) or any(d is not None and int(d) != s for d, s in zip(shape[1:], a.shape[1:])):
            raise ValueError(f"sample_inputs for {name!r} have shape {a.shape[1:]}, the model takes {shape[1:]}.")
        out.append(a[:MAX_VERIFY_EXAMPLES].astype(dtype))
    n = len(out[0])
    if n == 0 or any(len(a) != n for a in out):
        raise ValueError("sample_inputs is empty or its inputs differ in length.")
    if n == 1:
        out = [np.concatenate([a, a]) for a in out]
    return out, f"caller-provided inputs, {n} example(s)"


def _feed(x):
    return x[0] if len(x) == 1 else list(x)


def predict(model, x) -> np.ndarray:
    """The model's (first) output for the list of inputs ``x``, as NumPy."""
    out = model.predict(_feed(x), batch_size=len(x[0]), verbose=0)
    if isinstance(out, (list, tuple)):
        out = out[0]
    return np.asarray(out)


def load_keras(path):
    """Load a ``.keras`` file with keras_ecg's custom layers registered."""
    try:
        from keras_ecg.models import load_model
    except ImportError:
        import keras

        with contextlib.suppress(ImportError):
            import keras_ecg.layers  # noqa: F401  (registers the custom layers)
        load_model = keras.saving.load_model
    return load_model(str(path))


def batches(x):
    """The verified batches: the first example alone, then all of them."""
    return ([a[:1] for a in x], x)


def compare(fmt, outs, ref, atol) -> float:
    err = 0.0
    for o, r in zip(outs, (ref[:1], ref)):
        o = np.asarray(o).reshape(r.shape)
        if not np.all(np.isfinite(o)):
            raise ExportVerificationError(f"{fmt}: the exported model returns NaN/inf.")
        err = max(err, float(np.max(np.abs(o.astype(np.float64) - r.astype(np.float64)))))
    if not err <= atol:
        raise ExportVerificationError(
            f"{fmt}: outputs differ from the Keras model by up to {err:.3g} (> atol={atol:g}) "
            f"on batch sizes 1 and {len(ref)}."
        )
    return err


def _check_names(fmt, got, names):
    if sorted(got) != sorted(names):
        raise ExportVerificationError(f"{fmt}: graph inputs are named {list(got)}, expected the Keras input "
                                      f"names {list(names)}.")


def verify_keras(path, x, ref, atol, names):
    reloaded = load_keras(path)
    return compare("keras", [predict(reloaded, b) for b in batches(x)], ref, atol)


def verify_onnx(path, x, ref, atol, names):
    ort = require("onnxruntime")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ins = sess.get_inputs()
    _check_names("onnx", [i.name for i in ins], names)
    for i in ins:
        if isinstance(i.shape[0], int):
            raise ExportVerificationError(f"onnx: batch axis of {i.name!r} is fixed ({i.shape}), expected dynamic.")
    outs = [sess.run(None, dict(zip(names, b)))[0] for b in batches(x)]
    return compare("onnx", outs, ref, atol)


def verify_saved_model(path, x, ref, atol, names):
    tf = require("tensorflow", "tensorflow")
    loaded = tf.saved_model.load(str(path))
    if "serving_default" not in loaded.signatures:
        raise ExportVerificationError("saved_model: no 'serving_default' signature.")
    fn = loaded.signatures["serving_default"]
    specs = fn.structured_input_signature[1]
    _check_names("saved_model", list(specs), names)
    for n in names:
        if specs[n].shape[0] is not None:
            raise ExportVerificationError(f"saved_model: batch axis of {n!r} is fixed ({specs[n].shape}), "
                                          "expected dynamic.")
    outs = []
    for b in batches(x):
        res = fn(**{n: tf.constant(a) for n, a in zip(names, b)})
        outs.append(next(iter(res.values())).numpy())
    return compare("saved_model", outs, ref, atol)


VERIFY = {"keras": verify_keras, "onnx": verify_onnx, "saved_model": verify_saved_model}
