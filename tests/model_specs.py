"""Small configurations of every registered model and of a model per custom
layer, shared by the model and layer tests and by ``make_xbackend_files.py``
(which saves them under each backend)."""

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


# One small model per custom layer (keras_ecg.layers), saved across backends too.
# TemporalAttention and FusedGRU read a masked, zero-padded sequence.
CUSTOM_LAYERS = ("TemporalAttention", "AttentionGate", "FusedLSTM", "FusedGRU")
LAYER_INPUTS = {"AttentionGate": (6, 5, 3)}


def layer_model(name):
    import keras

    from keras_ecg import layers as custom

    inp = keras.Input(LAYER_INPUTS.get(name, (9, 3)))
    if name == "AttentionGate":
        glob = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(inp))
        out = custom.AttentionGate(normalize="sigmoid")([inp, glob])
    elif name == "TemporalAttention":
        out = custom.TemporalAttention(units=5)(keras.layers.Masking(0.0)(inp))
    elif name == "FusedLSTM":
        out = custom.FusedLSTM(4, return_sequences=True, go_backwards=True)(inp)
    else:
        out = custom.FusedGRU(4)(keras.layers.Masking(0.0)(inp))
    return keras.Model(inp, out, name=f"layer_{name}")


def layer_input(name, batch=3, seed=1):
    x = np.random.default_rng(seed).normal(size=(batch, *LAYER_INPUTS.get(name, (9, 3)))).astype("float32")
    if name in ("TemporalAttention", "FusedGRU"):
        x[0, 6:] = 0.0  # padded steps, masked by Masking(0.0)
        x[1, 3:] = 0.0
    return x


@functools.lru_cache(maxsize=None)
def xbackend_dir() -> pathlib.Path:
    """Folder for the cross-backend files, keyed by the model sources so a
    change to any model never compares against stale files."""
    root = pathlib.Path(__file__).resolve().parents[1]
    pkg = root / "keras_ecg"
    digest = hashlib.sha256()
    for path in sorted([*(pkg / "models").glob("*.py"), *(pkg / "layers").glob("*.py"), pkg / "registry.py"]):
        digest.update(path.read_bytes())
    here = pathlib.Path(__file__).parent
    for path in (here / "model_specs.py", here / "make_xbackend_files.py"):
        digest.update(path.read_bytes())
    base = pathlib.Path(os.environ.get("KERAS_ECG_XBACKEND_DIR", root / "build" / "xbackend"))
    return base / digest.hexdigest()[:16]


def xbackend_folders(backends) -> dict:
    """``{backend: folder}`` of each backend's saved files. The missing ones are written by one subprocess per
    backend, run side by side, under a file lock: a second pytest process (an xdist worker) waits for them
    instead of writing them again."""
    import fcntl
    import subprocess
    import sys

    folders = {b: xbackend_dir() / b for b in backends}
    if all((f / "DONE").exists() for f in folders.values()):
        return folders
    xbackend_dir().mkdir(parents=True, exist_ok=True)
    with open(xbackend_dir() / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        script = pathlib.Path(__file__).parent / "make_xbackend_files.py"
        procs = {b: subprocess.Popen([sys.executable, str(script)], env={**os.environ, "KERAS_BACKEND": b},
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for b, f in folders.items() if not (f / "DONE").exists()}
        for b, p in procs.items():
            out = p.communicate()[0]
            if p.returncode:
                raise RuntimeError(f"make_xbackend_files.py failed under {b}:\n{out.decode()[-3000:]}")
    return folders
