"""Versions of the software a result was produced with, in one place.

Used by the evaluation reports, the model card and the benchmarks. Versions are
read from the installed distributions' metadata, so nothing heavy is imported
(asking for TensorFlow's version does not import TensorFlow).
"""

from __future__ import annotations

import platform

__all__ = ["DISTRIBUTIONS", "BACKEND_PACKAGES", "version", "package_versions"]

# Import name -> distribution names that may provide it, most usual first.
DISTRIBUTIONS = {
    "keras": ("keras",),
    "numpy": ("numpy",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "jax": ("jax",),
    "jaxlib": ("jaxlib",),
    "torch": ("torch",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "tf2onnx": ("tf2onnx",),
    "jax2onnx": ("jax2onnx",),
    "wfdb": ("wfdb",),
    "matplotlib": ("matplotlib",),
}

# The framework package behind each Keras backend.
BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def version(name: str) -> str | None:
    """Installed version of the package imported as ``name`` (``None`` if not installed)."""
    from importlib import metadata

    for dist in DISTRIBUTIONS.get(name, (name,)):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def package_versions(backend: str | None = None, extra=()) -> dict:
    """``{python, keras_ecg, keras, numpy, <backend framework>, *extra}`` -> version string or ``None``.

    Args:
        backend: a Keras backend name (``tensorflow``, ``jax``, ``torch``); its
            framework's version is added. Default: the backend in use
            (:func:`keras_ecg.backend.current`), without importing keras.
        extra: more packages to report (e.g. ``("tf2onnx", "onnxruntime")``).
    """
    import keras_ecg

    if backend is None:
        from keras_ecg import backend as _backend

        backend = _backend.current()
    out = {
        "python": platform.python_version(),
        "keras_ecg": keras_ecg.__version__,
        "keras": version("keras"),
        "numpy": version("numpy"),
    }
    for name in (BACKEND_PACKAGES.get(backend, backend), *extra):
        out.setdefault(name, version(name))
    return out
