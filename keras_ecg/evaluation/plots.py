"""The report's PNG plots: confusion matrix, training curves, ROC curves, examples.

matplotlib is imported inside (Agg backend); every figure is written atomically.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from keras_ecg import _atomic
from keras_ecg.evaluation.metrics import roc_curve

__all__ = ["pyplot", "plot_confusion", "plot_history", "plot_roc", "plot_examples"]


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save_fig(fig, path):
    plt = pyplot()
    with _atomic.atomic_path(path) as tmp, warnings.catch_warnings():
        # A title naming a file whose name has characters the font lacks (e.g. CJK in DejaVu Sans):
        # matplotlib draws a box for each and warns once per character; the figure is still right.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def plot_confusion(cm, class_names, path, title):
    plt = pyplot()
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * k, 1.0 + 0.6 * k))
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{cm[i, j]}\n{norm[i, j]:.0%}" if rows[i, 0] else str(cm[i, j]),
                    ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    _save_fig(fig, path)



def plot_history(hist, path, title):
    plt = pyplot()
    bases = [k for k in hist if not k.startswith("val_")]
    bases += [k[4:] for k in hist if k.startswith("val_") and k[4:] not in hist]
    bases = [b for b in bases if b not in ("learning_rate", "lr")] or bases
    n = max(1, len(bases))
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3), squeeze=False)
    for ax, base in zip(axes[0], bases):
        for key, style in ((base, "-"), ("val_" + base, "--")):
            if key in hist and hist[key]:
                ax.plot(range(1, len(hist[key]) + 1), hist[key], style, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(base)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    _save_fig(fig, path)


def plot_roc(y, probs, class_names, binary, aucs, path, title):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    classes = [1] if binary else range(len(class_names))
    drawn = 0
    for i in classes:
        curve = roc_curve(y == i, probs[:, i])
        if curve is None:
            continue
        auc = aucs.get(class_names[i])
        ax.plot(curve[0], curve[1], label=f"{class_names[i]} (AUC {auc:.3f})" if auc is not None else class_names[i])
        drawn += 1
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_title(title)
    if drawn:
        ax.legend(fontsize=8, loc="lower right")
    _save_fig(fig, path)
    return drawn


def _pick_examples(y, y_pred, k=8):
    """Up to k indices: up to k/2 mistakes then hits, one per true class first."""
    picked = []

    def take(pool, limit):
        seen = set()
        for first_pass in (True, False):
            for i in pool:
                if len(picked) >= limit:
                    return
                i = int(i)
                if i in picked or (first_pass and int(y[i]) in seen):
                    continue
                picked.append(i)
                seen.add(int(y[i]))

    take(np.flatnonzero(y != y_pred), k // 2)
    take(np.flatnonzero(y == y_pred), k)
    take(np.arange(len(y)), k)
    return sorted(picked)


def plot_examples(x, y, y_pred, probs, class_names, path, title):
    x = np.asarray(x)
    if x.dtype == object or x.ndim not in (3, 4, 5):
        return False
    idx = _pick_examples(y, y_pred)
    if not idx:
        return False
    plt = pyplot()
    kind = {3: "waveform", 4: "image", 5: "panels"}[x.ndim]
    if kind == "panels":
        idx = idx[:4]
        n_panels = min(4, x.shape[1])
        nrows, ncols = len(idx), n_panels
    else:
        ncols = 2 if kind == "waveform" else 4
        nrows = math.ceil(len(idx) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)

    def _img(a):
        a = np.asarray(a, dtype=np.float64)
        lo, hi = np.nanmin(a), np.nanmax(a)
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        if a.shape[-1] == 1:
            return a[..., 0], "gray"
        if a.shape[-1] >= 3:
            return a[..., :3], None
        return a[..., 0], "gray"

    for n, i in enumerate(idx):
        label = (f"true {class_names[y[i]]} / pred {class_names[y_pred[i]]} "
                 f"({probs[i, y_pred[i]]:.2f})")
        color = "green" if y[i] == y_pred[i] else "red"
        if kind == "panels":
            for p in range(n_panels):
                ax = axes[n, p]
                ax.set_visible(True)
                im, cmap = _img(x[i, p])
                ax.imshow(im, cmap=cmap, aspect="auto")
                ax.set_xticks([])
                ax.set_yticks([])
                if p == 0:
                    ax.set_title(label, fontsize=7, color=color, loc="left")
            continue
        ax = axes.ravel()[n]
        ax.set_visible(True)
        if kind == "waveform":
            for c in range(min(x.shape[2], 3)):
                ax.plot(x[i, :, c], linewidth=0.7)
        else:
            im, cmap = _img(x[i])
            ax.imshow(im, cmap=cmap, aspect="auto")
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_title(label, fontsize=7, color=color)
    fig.suptitle(title)
    fig.tight_layout()
    _save_fig(fig, path)
    return True
