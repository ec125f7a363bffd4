"""Classification metrics in NumPy: confusion matrix, precision/recall/F1, ROC-AUC.

Importing this module imports neither keras nor matplotlib.
"""

from __future__ import annotations

import numpy as np

__all__ = ["confusion_matrix", "classification_metrics", "roc_auc_binary", "roc_curve", "probs_to_preds"]


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """``num_classes x num_classes`` int matrix; rows true, columns predicted."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} items but y_pred has {y_pred.size}.")
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(f"{name} holds labels outside [0, {num_classes}).")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def _div(a, b):
    return None if b == 0 else float(a) / float(b)


def classification_metrics(cm: np.ndarray, class_names) -> dict:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support from a confusion matrix.

    Undefined values are ``None``: precision of a never-predicted class, recall
    and F1 of a class absent from the split. Macro-F1 averages the classes with
    support > 0.
    """
    cm = np.asarray(cm, dtype=np.int64)
    total = int(cm.sum())
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    per_class = {}
    f1s = []
    for i, name in enumerate(class_names):
        p = _div(tp[i], predicted[i])
        r = _div(tp[i], support[i])
        if support[i] == 0:
            f1 = None
        elif predicted[i] == 0 or tp[i] == 0:
            f1 = 0.0  # recall defined; no true positive -> F1 = 0
        else:
            f1 = 2 * p * r / (p + r)
        per_class[str(name)] = {
            "precision": p,
            "recall": r,
            "f1": f1,
            "support": int(support[i]),
        }
        if f1 is not None:
            f1s.append(f1)
    return {
        "accuracy": _div(tp.sum(), total),
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "per_class": per_class,
    }


def roc_auc_binary(y_true, score):
    """ROC-AUC of ``score`` for the 0/1 labels ``y_true`` (Mann-Whitney U, ties = 1/2).

    ``None`` when only one class is present.
    """
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None
    # Average ranks (1-based), tied scores sharing their mean rank.
    order = np.argsort(s, kind="mergesort")
    inv = np.empty(s.size, dtype=np.int64)
    inv[order] = np.arange(s.size)
    s_sorted = s[order]
    first = np.r_[True, s_sorted[1:] != s_sorted[:-1]]
    dense = np.cumsum(first)[inv]
    bounds = np.r_[np.flatnonzero(first), s.size]
    ranks = 0.5 * (bounds[dense] + bounds[dense - 1] + 1)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(y_true, score):
    """False- and true-positive rates over all thresholds (``None`` if one class)."""
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y)[last]
    fps = (last + 1) - tps
    return np.r_[0.0, fps / n_neg], np.r_[0.0, tps / n_pos]


def probs_to_preds(probs, num_classes):
    """(probs as (n, K), predicted labels, risk or None, binary?)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 2 and probs.shape[1] == 1:
        probs = probs[:, 0]
    if probs.ndim == 1:
        if num_classes != 2:
            raise ValueError(
                f"One probability per example (binary risk) needs 2 class names; got {num_classes}."
            )
        risk = probs
        return np.stack([1.0 - risk, risk], axis=1), (risk >= 0.5).astype(np.int64), risk, True
    if probs.ndim != 2 or probs.shape[1] != num_classes:
        raise ValueError(
            f"Predictions have shape {probs.shape}; expected (n, {num_classes}) for "
            f"{num_classes} classes (or (n,) / (n, 1) for a binary risk)."
        )
    return probs, probs.argmax(axis=1).astype(np.int64), None, False
