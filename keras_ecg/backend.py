"""Choose the Keras backend before keras is imported, and list devices.

Keras reads ``KERAS_BACKEND`` once, when it is first imported. ``use(name)``
sets it, and refuses (with an error that says so) once keras has been imported
with a different backend.
"""

from __future__ import annotations

import os
import sys

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT = "jax"  # keras_ecg's backend when $KERAS_BACKEND is unset


def default() -> str:
    """``$KERAS_BACKEND``, else (unset or empty) :data:`DEFAULT`; a name that is no backend is an error."""
    env = (os.environ.get("KERAS_BACKEND") or "").strip()
    if not env:
        return DEFAULT
    if env not in BACKENDS:
        from keras_ecg.errors import RunError

        raise RunError(f"KERAS_BACKEND={env!r} is not a Keras backend; set it to one of {', '.join(BACKENDS)} "
                       f"or unset it (default {DEFAULT})")
    return env


def _check_name(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(
            f"Unknown backend {name!r}; choose one of {', '.join(BACKENDS)}."
        )
    return name


def current() -> str:
    """The backend keras uses, or the one keras_ecg's entry points will select (:func:`default`)."""
    if "keras" in sys.modules:
        import keras

        return keras.backend.backend()
    return default()


def use(name: str) -> str:
    """Select backend ``name``; must be called before keras is imported.

    Calling it again with the backend already in use is harmless.
    """
    _check_name(name)
    if "keras" in sys.modules:
        active = current()
        if active != name:
            raise RuntimeError(
                f"keras was already imported with the {active!r} backend; "
                f"cannot switch to {name!r} in this process. Set KERAS_BACKEND={name} "
                f"(or call keras_ecg.backend.use({name!r})) before anything imports keras."
            )
        return name
    os.environ["KERAS_BACKEND"] = name
    return name


def list_devices() -> list:
    """Devices visible to the active backend, e.g. ``['cpu:0']`` or ``['cuda:0', 'cuda:1']``."""
    backend = current()
    if backend == "jax":
        import jax

        return [f"{d.platform}:{d.id}" for d in jax.devices()]
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices()]
    import torch

    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return ["cpu:0"]


def num_accelerators() -> int:
    """How many GPUs/TPUs the active backend sees (0 on a CPU-only machine)."""
    backend = current()
    if backend == "jax":
        import jax

        return sum(1 for d in jax.devices() if d.platform != "cpu")
    if backend == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_logical_devices("GPU")) + len(tf.config.list_logical_devices("TPU"))
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
