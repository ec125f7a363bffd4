"""Datasets, splits and input pipelines. Importing this never imports keras."""

from keras_ecg.data.dataset import Dataset

_SUBMODULES = ("cache", "features", "formats", "mitbih", "pipeline", "signal", "signal_files", "splits", "synthetic")

__all__ = ["Dataset", *_SUBMODULES]


def __getattr__(name):
    # submodules load on first use: ``keras_ecg.data.mitbih.load_beats(...)``
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"keras_ecg.data.{name}")
    raise AttributeError(f"module 'keras_ecg.data' has no attribute {name!r}")
