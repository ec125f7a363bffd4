"""Prediction files beside a report: a test side's probabilities (``test_predictions.npz``) and a CV
model's pooled out-of-fold table (``oof_predictions.npz``), written atomically; and the one form in which
models' probabilities are averaged (:func:`as_one_form`). NumPy only.
"""

from __future__ import annotations

import io

import numpy as np

from keras_ecg import _atomic
from keras_ecg.evaluation.calibration import as_one_form  # noqa: F401 - kept importable from here

PREDICTIONS = "test_predictions.npz"  # the test side's probabilities, beside report.json
OOF = "oof_predictions.npz"  # a CV model's out-of-fold table, beside its fold folders


def _save(path, **arrays) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    _atomic.write_bytes(path, buf.getvalue())


def write(path, probs, test) -> None:
    """A test side's probabilities with its labels, groups and keys (``fold_keys`` under CV; else the
    groups): what ``report.json`` was scored on, for pooling and re-scoring."""
    keys = test.meta.get("fold_keys") or [str(g) for g in test.groups]
    _save(path, probs=np.asarray(probs, np.float32), y=np.asarray(test.y, np.int64),
          groups=np.asarray(test.groups).astype(str), keys=np.asarray(keys, dtype=str))


def write_table(path, table: dict) -> None:
    """``{key: (probs, y, fold)}`` (pooled out-of-fold predictions), keys and folds kept."""
    keys = list(table)
    _save(path, probs=np.stack([np.asarray(table[k][0], np.float32) for k in keys]),
          y=np.array([table[k][1] for k in keys], np.int64), fold=np.array([table[k][2] for k in keys], np.int64),
          keys=np.asarray(keys, dtype=str))


def read(path) -> dict:
    """Every array of a file :func:`write` or :func:`write_table` wrote, by name."""
    with np.load(path) as z:
        return {k: z[k] for k in z.files}
