"""What ``model.fit``/``predict`` are fed: class weights, arrays or a ``PyDataset``, data-parallel trimming,
and predicted probabilities in dataset order. Importing this module never imports keras."""

from __future__ import annotations

import math

import numpy as np


def class_weights(y, num_classes: int, mode: str = "balanced", cap: float | None = None) -> dict:
    """Class weights for ``model.fit``, JSON-able.

    ``balanced``: inverse frequency ``n / (k * count)`` (absent classes get 1.0);
    ``sqrt``: its square root (gentler on very rare classes). ``cap`` bounds
    every weight from above.
    """
    from keras_ecg.data.pipeline import class_weights as cw

    if mode not in ("balanced", "sqrt"):
        raise ValueError(f"unknown class weight mode {mode!r}; choose balanced or sqrt")
    w = {int(k): float(v) for k, v in cw(y, num_classes).items()}
    if mode == "sqrt":
        w = {k: math.sqrt(v) for k, v in w.items()}
    if cap:
        w = {k: min(v, float(cap)) for k, v in w.items()}
    return w


def model_inputs(ds):
    """``ds.x`` in the form ``model.fit``/``predict`` takes (a list for several inputs)."""
    return list(ds.inputs) if isinstance(ds.x, tuple) else ds.x


def needs_pipeline(ds, loader=None, balance: bool = False, augment=None) -> bool:
    """Whether ``ds`` must be fed through a ``PyDataset`` (paths to load, sampling, augmentation)."""
    x0 = ds.inputs[0]
    return loader is not None or balance or augment is not None or (isinstance(x0, np.ndarray) and x0.dtype == object)


def pipeline(ds, batch_size, shuffle, loader=None, seed=0, augment=None, balance=False):
    """``ds`` as a :class:`keras.utils.PyDataset` (``keras_ecg.data.pipeline.to_pydataset``)."""
    from keras_ecg.data import pipeline as _pipeline

    return _pipeline.to_pydataset(ds, batch_size=batch_size, shuffle=shuffle, seed=seed, augment=augment,
                                  balance="oversample" if balance else None, loader=loader)


def trim(ds, multiple: int):
    """``ds`` cut to a multiple of ``multiple`` items (data-parallel batches must split evenly)."""
    if multiple <= 1 or ds is None or len(ds) % multiple == 0:
        return ds
    return ds.subset(np.arange(len(ds) - len(ds) % multiple))


def predict_proba(model, ds, batch_size=256, loader=None, multiple: int = 1):
    """Predicted probabilities for every item of ``ds`` (in order).

    With ``multiple`` > 1 the inputs are padded (by repeating the last item) to a
    multiple of it and the padding's outputs dropped.
    """
    n = len(ds)
    if multiple > 1 and n % multiple:
        pad = np.concatenate([np.arange(n), np.full(multiple - n % multiple, n - 1)])
        batch_size = max(multiple, batch_size - batch_size % multiple)
        return predict_proba(model, ds.subset(pad), batch_size, loader)[:n]
    if needs_pipeline(ds, loader):
        out = model.predict(pipeline(ds, batch_size, False, loader), verbose=0)
    else:
        out = model.predict(model_inputs(ds), batch_size=batch_size, verbose=0)
    return np.asarray(out, dtype=np.float32)
