"""keras_ecg: ECG classifiers on any Keras 3 backend.

Importing this package does not import keras, so the backend can still be
chosen with ``KERAS_BACKEND`` or :func:`keras_ecg.backend.use` first.
"""



def _version() -> str:
    """The installed distribution's version (pyproject.toml's ``version``), read from its metadata."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("keras-ecg")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


__version__ = _version()

_LAZY = {
    "build": ("keras_ecg.registry", "build"),
    "list_models": ("keras_ecg.registry", "list_models"),
    "register_model": ("keras_ecg.registry", "register_model"),
    "load_model": ("keras_ecg.models", "load_model"),
    "export": ("keras_ecg.deploy.export", "export"),
    "evaluate": ("keras_ecg.evaluation", "evaluate"),
    "KerasECGError": ("keras_ecg.errors", "KerasECGError"),
    "pretrained": ("keras_ecg.deploy.pretrained", "pretrained"),
    "list_pretrained": ("keras_ecg.deploy.pretrained", "list_pretrained"),
}

__all__ = ["backend", "data", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in ("backend", "data", "registry"):
        import importlib

        return importlib.import_module(f"keras_ecg.{name}")
    raise AttributeError(f"module 'keras_ecg' has no attribute {name!r}")
