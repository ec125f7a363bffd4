"""The gradient of a scalar function of one input, with the active backend's own autodiff.

:func:`gradient` is the only backend-specific code of the explanations
(:mod:`keras_ecg.deploy.explain`): ``jax.grad``, ``tf.GradientTape`` or
``torch.autograd.grad``. Everything else is written once over ``keras.ops``.
"""

from __future__ import annotations

import numpy as np

from keras_ecg.errors import DataError

__all__ = ["gradient"]


def gradient(fn, x) -> np.ndarray:
    """``d fn(x) / d x`` as a NumPy array; ``fn`` maps a backend tensor to a scalar tensor."""
    import keras

    backend = keras.backend.backend()
    x = np.asarray(x, dtype=np.float32)
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(jax.numpy.asarray(x)))
    if backend == "tensorflow":
        import tensorflow as tf

        t = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = fn(t)
        return tape.gradient(y, t).numpy()
    if backend == "torch":
        import torch

        t = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(fn(t), t)
        return g.detach().cpu().numpy()
    raise DataError(f"explanations need gradients: backend {backend!r} has none (use jax, tensorflow or torch)")
