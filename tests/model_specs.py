"""Small configurations of every registered model, shared by the model tests
and by ``make_xbackend_files.py`` (which saves them under each backend)."""

import functools
import hashlib
import os
import pathlib

import numpy as np

from keras_ecg.models.presets import TINY

# Two input sizes per input kind; the first is the one saved across backends.
SHAPES = {
    "waveform": [(48, 1), (80, 2)],
    "image": [(32, 32, 3), (48, 40, 1)],
    "panels": [(3, 16, 16, 1), (4, 24, 20, 1)],
}

# Narrow widths keep the suite fast on a 2-core CPU; defaults are exercised by
# the recipes and benchmarks.
SMALL = TINY

NUM_CLASSES = 3
BACKENDS = ("tensorflow", "jax", "torch")


def small_model(name, shape_index=0, **extra):
    import keras_ecg
    from keras_ecg.registry import input_kind

    shape = SHAPES[input_kind(name)][shape_index]
    return keras_ecg.build(name, shape, NUM_CLASSES, **{**SMALL.get(name, {}), **extra})


def sample_input(name, batch=4, shape_index=0, seed=0):
    from keras_ecg.registry import input_kind

    shape = SHAPES[input_kind(name)][shape_index]
    return np.random.default_rng(seed).normal(size=(batch, *shape)).astype("float32")


@functools.lru_cache(maxsize=None)
def xbackend_dir() -> pathlib.Path:
    """Folder for the cross-backend files, keyed by the model sources so a
    change to any model never compares against stale files."""
    root = pathlib.Path(__file__).resolve().parents[1]
    pkg = root / "keras_ecg"
    digest = hashlib.sha256()
    for path in sorted([*(pkg / "models").glob("*.py"), *(pkg / "layers").glob("*.py"), pkg / "registry.py"]):
        digest.update(path.read_bytes())
    digest.update(pathlib.Path(__file__).read_bytes())
    base = pathlib.Path(os.environ.get("KERAS_ECG_XBACKEND_DIR", root / "build" / "xbackend"))
    return base / digest.hexdigest()[:16]
