"""CSVs of beats read and checked: one row per beat window, optionally a label column last.

A row is one beat window at the model card's rate, ``before + after`` samples (the card's
``window``), already filtered as its ``filter`` says (a window is too short to filter). The
mutual-information selection (``mi_indices``) is applied later, to the whole window, as in
training; so a CSV has whole windows for every model, as the Kaggle CSVs do.

* :func:`read` ``(path, window)``: the windows; a trailing label column (as in the Kaggle CSVs)
  is dropped;
* :func:`read_labelled` ``(path, window, names)``: the windows and the labels (a class index,
  ``2`` or ``2.0``, or a class name).

Non-finite values (NaN, inf) are refused with the file and the first bad row: the rule of the
training loaders and the record readers. Every problem is a :class:`~keras_ecg.errors.DataError`
naming the file.
"""

from __future__ import annotations

import warnings

import numpy as np

from keras_ecg.errors import DataError

__all__ = ["read", "read_labelled"]


def _checked(rows, window: int, path, labelled: bool) -> np.ndarray:
    if rows.size == 0:
        raise DataError(f"{path}: the CSV holds no beats (no rows)")
    if not labelled and rows.shape[1] == window + 1:
        rows = rows[:, :window]
    if rows.shape[1] != window:
        have = rows.shape[1] + int(labelled)
        raise DataError(f"{path}: rows have {have} values; this model takes beats of {window} samples"
                        + (" and a label" if labelled else f" (or {window + 1} with a label column)"))
    bad = ~np.isfinite(rows)
    if bad.any():
        r = np.flatnonzero(bad.any(axis=1))
        raise DataError(f"{path}: {len(r)} row(s) with non-finite values (NaN/inf), first row {int(r[0]) + 1}; "
                        "keras_ecg refuses them (repair or drop those beats first)")
    return rows


def read(path, window: int) -> np.ndarray:
    """The beat windows ``(beats, window)`` float32 of the CSV at ``path`` (see the module doc)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # an empty file: said in _checked
            rows = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except ValueError as e:
        raise DataError(f"{path}: not a numeric CSV ({str(e).splitlines()[0]})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    return _checked(rows, window, path, labelled=False)


def _label(v, names, path) -> int:
    """A class name, or a class index (``2`` or ``2.0``)."""
    if v in names:
        return names.index(v)
    try:
        k = float(v)
    except ValueError:
        k = -1.0
    if not np.isfinite(k) or k != int(k) or not 0 <= k < len(names):
        raise DataError(f"{path}: label {v!r} is neither a class index nor one of {names}")
    return int(k)


def read_labelled(path, window: int, names) -> tuple:
    """``(windows (beats, window) float32, labels int64)`` of the labelled CSV at ``path`` (see the module doc)."""
    names = list(names)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            raw = np.genfromtxt(path, delimiter=",", dtype=str, ndmin=2)
        if raw.size == 0:
            raise DataError(f"{path}: the CSV holds no beats (no rows)")
        rows = raw[:, :-1].astype(np.float32)
    except ValueError as e:
        raise DataError(f"{path}: not a CSV of numbers and a label ({str(e).splitlines()[0]})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    rows = _checked(rows, window, path, labelled=True)
    return rows, np.asarray([_label(v.strip(), names, path) for v in raw[:, -1]], dtype=np.int64)
