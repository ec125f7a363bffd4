"""One writer per export format, and the exporter gaps known per backend.

:func:`export_one` writes a format under a temporary name, verifies it and
renames it into the staging folder.
"""

from __future__ import annotations

import time

from keras_ecg import _atomic
from keras_ecg.deploy.export import verify as V

__all__ = ["FORMATS", "FILE_NAMES", "known_failure", "write", "export_one"]

FORMATS = ("keras", "saved_model", "onnx")
FILE_NAMES = {"keras": "model.keras", "saved_model": "saved_model", "onnx": "model.onnx"}

# Layers whose ONNX export is known to fail on a backend (measured, Keras 3.15).
_KNOWN_ONNX_FAILURES = {
    "jax": ("Bidirectional", "Conv3D", "backward RNN"),
    "torch": ("Conv3D",),
}


def _iter_layers(model):
    for layer in getattr(model, "layers", []):
        yield layer
        if hasattr(layer, "layers"):
            yield from _iter_layers(layer)
        for attr in ("forward_layer", "backward_layer", "layer"):
            sub = getattr(layer, attr, None)
            if sub is not None and hasattr(sub, "get_config"):
                yield sub


def known_failure(model, fmt: str, backend: str) -> str | None:
    """Why the backend's own exporter cannot write ``fmt`` for ``model`` (``None`` if it should)."""
    if fmt == "saved_model" and backend == "torch":
        return "skipped: the torch backend cannot export a TF SavedModel"
    if fmt == "onnx":
        kinds = _KNOWN_ONNX_FAILURES.get(backend, ())
        for layer in _iter_layers(model):
            cls = type(layer).__name__
            if cls in kinds:
                return f"skipped: {cls} layers do not export to ONNX on {backend}"
            if "backward RNN" in kinds and getattr(layer, "go_backwards", False):
                return f"skipped: backward RNN layers do not export to ONNX on {backend}"
    return None


def write(model, fmt, path):
    import keras

    backend = keras.backend.backend()
    if fmt == "keras":
        model.save(str(path))
    elif fmt == "saved_model":
        if backend == "torch":
            raise NotImplementedError("SavedModel export is not supported on the torch backend.")
        V.require("tensorflow", "tensorflow")
        model.export(str(path), format="tf_saved_model", verbose=False)
    elif fmt == "onnx":
        V.require("onnx")
        V.require({"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "torch"}[backend])
        model.export(str(path), format="onnx", verbose=False)
    else:  # pragma: no cover - checked by the caller
        raise ValueError(fmt)


def export_one(model, fmt, stage, x, ref, atol, names) -> dict:
    """Write ``fmt`` under a temporary name in ``stage``, verify, rename. Returns its facts."""
    final = stage / FILE_NAMES[fmt]
    t0 = time.perf_counter()
    with _atomic.atomic_path(final) as tmp:
        write(model, fmt, tmp)
        err = V.VERIFY[fmt](tmp, x, ref, atol, names)
    return {
        "status": "ok",
        "file": FILE_NAMES[fmt],
        "max_abs_error": err,
        "batch_sizes": [1, int(len(x[0]))],
        "seconds": round(time.perf_counter() - t0, 2),
    }


def short(e: BaseException, n: int = 400) -> str:
    """``Type: message`` on one line, at most ``n`` characters."""
    s = f"{type(e).__name__}: {e}".strip().replace("\n", " ")
    return s if len(s) <= n else s[: n - 3] + "..."
