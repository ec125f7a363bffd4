"""Evaluate a classifier on a named test split: ``report.json``, ``report.md``, plots.

Importing this module does not import keras (nor matplotlib); metrics are
computed in NumPy. Keras is only touched when a model (not probabilities) is
passed, and matplotlib only when plots are drawn.

``report.json`` keys (stable; ``null`` where a value is undefined):

==================  ==========================================================
key                 meaning
==================  ==========================================================
``split``           name of the evaluated split, e.g. ``"test"``
``data_source``     where the data came from (e.g. ``"mitdb"``, ``"synthetic"``)
``synthetic``       ``true`` if the data is synthetic: the figures then say
                    nothing about ECG performance (warned in both files)
``backend``         Keras backend used (``tensorflow``, ``jax``, ``torch``)
``versions``        ``{keras, <backend framework>, numpy, keras_ecg, python}``
``num_test``        number of evaluated examples
``class_names``     class names, index = label value
``binary``          ``true`` when the model outputs one risk probability
``accuracy``        fraction of correct predictions
``macro_f1``        unweighted mean F1 over the classes present in the split
``per_class``       ``{name: {precision, recall, f1, support}}``; precision is
                    ``null`` when the class is never predicted, recall/F1 are
                    ``null`` when the class is absent from the split
``roc_auc``         ``{name: one-vs-rest ROC-AUC}``, ``null`` for a class that is
                    absent from (or the only class in) the split
``roc_auc_macro``   mean of the non-null ``roc_auc`` values (``null`` if none)
``roc_auc_risk``    two classes: ROC-AUC of the risk, i.e. the probability of
                    ``class_names[1]`` (sigmoid output or softmax column 1);
                    ``null`` with more than two classes
``threshold``       binary models: decision threshold on the risk (0.5)
``confusion_matrix``  list of rows; rows = true class, columns = predicted
``training``        from ``history``: ``{epochs, final: {metric: last value}}``
                    or ``null``
``plots``           ``{kind: file name}`` of the PNGs written beside the report
``warnings``        list of strings (synthetic data, absent classes, ...)
``extra``           whatever the caller passed as ``extra`` (or ``{}``)
==================  ==========================================================

Also: :func:`compare_table` renders several reports as one Markdown table.
"""

from __future__ import annotations

import datetime
import math
import os
import pathlib
import platform
import sys

import numpy as np

from keras_ecg import _atomic

__all__ = [
    "evaluate",
    "compare_table",
    "confusion_matrix",
    "classification_metrics",
    "roc_auc_binary",
    "roc_curve",
    "package_versions",
]

SYNTHETIC_WARNING = (
    "SYNTHETIC DATA: these figures were measured on synthetic signals/images, "
    "not on real ECGs. They only show that the pipeline runs; they say nothing "
    "about diagnostic performance."
)

_BACKEND_PACKAGES = {
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "jax": ("jax", "jaxlib"),
    "torch": ("torch",),
}


# --------------------------------------------------------------------------
# Metrics (NumPy only)
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------


def _unpack_dataset(ds_test):
    """(x or None, y, class_names or None, meta) from a Dataset, (x, y), dict or labels."""
    if hasattr(ds_test, "y") and hasattr(ds_test, "x"):
        return ds_test.x, np.asarray(ds_test.y), getattr(ds_test, "class_names", None), dict(getattr(ds_test, "meta", {}) or {})
    if isinstance(ds_test, dict):
        return ds_test.get("x"), np.asarray(ds_test["y"]), ds_test.get("class_names"), dict(ds_test.get("meta", {}) or {})
    if isinstance(ds_test, (tuple, list)) and len(ds_test) == 2:
        return ds_test[0], np.asarray(ds_test[1]), None, {}
    return None, np.asarray(ds_test), None, {}


def _first_input(x):
    if x is None:
        return None
    if isinstance(x, (tuple, list)):
        x = x[0]
    if isinstance(x, dict):
        x = next(iter(x.values()))
    return x


def _predict(model_or_probs, x):
    if isinstance(model_or_probs, np.ndarray) or (
        isinstance(model_or_probs, (list, tuple)) and not callable(model_or_probs)
    ):
        return np.asarray(model_or_probs, dtype=np.float64)
    if x is None:
        raise ValueError("evaluate: a model was passed but ds_test has no inputs (x) to predict on.")
    if isinstance(x, np.ndarray) and x.dtype == object:
        raise ValueError(
            "evaluate: ds_test.x holds file paths (object array); load the images "
            "first (e.g. with the image loader) or pass predicted probabilities."
        )
    if hasattr(model_or_probs, "predict"):
        out = model_or_probs.predict(x, verbose=0)
    else:
        out = model_or_probs(x)
    if isinstance(out, (list, tuple)):
        out = out[0]
    if isinstance(out, dict):
        out = next(iter(out.values()))
    return np.asarray(out, dtype=np.float64)


def _probs_to_preds(probs, num_classes):
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


# --------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------


def _dist_version(*names):
    from importlib import metadata

    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _backend_name():
    try:
        from keras_ecg import backend

        return backend.current()
    except Exception:  # pragma: no cover - defensive
        return os.environ.get("KERAS_BACKEND", "tensorflow")


def package_versions(backend: str | None = None) -> dict:
    """Versions of python, numpy, keras, the backend framework and keras_ecg."""
    import keras_ecg

    backend = backend or _backend_name()
    out = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "keras": _dist_version("keras"),
        "keras_ecg": getattr(keras_ecg, "__version__", None),
    }
    mod = sys.modules.get(backend)
    out[backend] = getattr(mod, "__version__", None) or _dist_version(*_BACKEND_PACKAGES.get(backend, (backend,)))
    return out


# --------------------------------------------------------------------------
# Plots (matplotlib imported inside, Agg backend)
# --------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save_fig(fig, path):
    plt = _pyplot()
    with _atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def _plot_confusion(cm, class_names, path, title):
    plt = _pyplot()
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


def _history_dict(history):
    if history is None:
        return None
    h = getattr(history, "history", history)
    if not isinstance(h, dict):
        raise TypeError("history must be a keras History or a dict of lists.")
    return {str(k): [float(v) for v in np.ravel(np.asarray(vals, dtype=np.float64))] for k, vals in h.items()}


def _plot_history(hist, path, title):
    plt = _pyplot()
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


def _plot_roc(y, probs, class_names, binary, aucs, path, title):
    plt = _pyplot()
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


def _plot_examples(x, y, y_pred, probs, class_names, path, title):
    x = np.asarray(x)
    if x.dtype == object or x.ndim not in (3, 4, 5):
        return False
    idx = _pick_examples(y, y_pred)
    if not idx:
        return False
    plt = _pyplot()
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


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def _clean(obj):
    """JSON-safe copy: numpy scalars to python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, pathlib.PurePath):
        return str(obj)
    return obj


def _fmt(v, digits=3):
    return "—" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def _markdown(report: dict) -> str:
    names = report["class_names"]
    lines = []
    if report["synthetic"]:
        lines += [f"> **⚠️ WARNING — {SYNTHETIC_WARNING}**", ""]
    lines += [f"# Evaluation report — split `{report['split']}`", ""]
    lines += [
        "| | |",
        "|---|---|",
        f"| split | `{report['split']}` |",
        f"| data source | {report['data_source']}{' (**synthetic**)' if report['synthetic'] else ''} |",
        f"| examples | {report['num_test']} |",
        f"| accuracy | {_fmt(report['accuracy'])} |",
        f"| macro-F1 | {_fmt(report['macro_f1'])} |",
        f"| ROC-AUC (macro, one-vs-rest) | {_fmt(report['roc_auc_macro'])} |",
    ]
    if report["roc_auc_risk"] is not None:
        lines.append(f"| ROC-AUC of risk (`{names[1]}`) | {_fmt(report['roc_auc_risk'])} |")
    if report["binary"]:
        lines.append(f"| threshold | {report['threshold']} |")
    v = report["versions"]
    lines += [
        f"| backend | {report['backend']} |",
        "| versions | " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + " |",
        "",
        "## Per class",
        "",
        "| class | precision | recall | F1 | support | ROC-AUC |",
        "|---|---|---|---|---|---|",
    ]
    for n in names:
        m = report["per_class"][n]
        lines.append(
            f"| {n} | {_fmt(m['precision'])} | {_fmt(m['recall'])} | {_fmt(m['f1'])} | "
            f"{m['support']} | {_fmt(report['roc_auc'].get(n))} |"
        )
    lines += ["", "## Confusion matrix (rows: true, columns: predicted)", ""]
    lines.append("| true \\ pred | " + " | ".join(names) + " |")
    lines.append("|---" * (len(names) + 1) + "|")
    for n, row in zip(names, report["confusion_matrix"]):
        lines.append(f"| **{n}** | " + " | ".join(str(c) for c in row) + " |")
    if report.get("training"):
        t = report["training"]
        lines += ["", f"## Training ({t['epochs']} epochs)", ""]
        lines += [f"- {k}: {_fmt(val, 4)}" for k, val in t["final"].items()]
    if report["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report["warnings"]]
    if report["plots"]:
        lines += ["", "## Plots", ""]
        lines += [f"![{k}]({f})" for k, f in report["plots"].items()]
    if report.get("extra"):
        import json

        lines += ["", "## Extra", "", "```json", json.dumps(report["extra"], indent=2, default=str), "```"]
    if report["synthetic"]:
        lines += ["", f"> **⚠️ {SYNTHETIC_WARNING}**"]
    return "\n".join(lines) + "\n"


def evaluate(
    model_or_probs,
    ds_test,
    out_dir,
    split_name: str = "test",
    class_names=None,
    history=None,
    data_source: str | None = None,
    extra: dict | None = None,
    *,
    synthetic: bool | None = None,
    plots: bool = True,
) -> dict:
    """Evaluate on one split; write ``report.json``, ``report.md`` and PNG plots.

    Args:
        model_or_probs: a Keras model (its ``predict`` is called on the inputs
            of ``ds_test``) or predicted probabilities, ``(n, K)`` softmax or
            ``(n,)``/``(n, 1)`` binary risk of ``class_names[1]``.
        ds_test: a :class:`keras_ecg.data.Dataset`, an ``(x, y)`` pair, a dict
            with ``x``/``y`` or, with probabilities, just the labels ``y``.
        out_dir: folder for the report (created).
        split_name: name of the split (recorded in both files).
        class_names: class names; default ``ds_test.class_names``.
        history: a keras ``History`` or a dict of lists, for the training curves.
        data_source: name of the data (default ``ds_test.meta["source"]``).
        extra: JSON-able dict stored under ``extra`` (e.g. split seed, model name).
        synthetic: whether the data is synthetic; default
            ``ds_test.meta["synthetic"]``, else whether ``data_source`` says so.
        plots: draw the PNGs (needs matplotlib; a warning is recorded if missing).

    Returns:
        The report dict (the contents of ``report.json``, see the module docs).
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x, y, ds_names, meta = _unpack_dataset(ds_test)
    class_names = [str(c) for c in (class_names if class_names is not None else (ds_names or []))]
    if not class_names:
        raise ValueError("evaluate: class_names not given and ds_test has none.")
    k = len(class_names)
    y = y.astype(np.int64).ravel()

    probs_raw = _predict(model_or_probs, x)
    probs, y_pred, risk, binary = _probs_to_preds(probs_raw, k)
    if len(probs) != len(y):
        raise ValueError(f"evaluate: {len(probs)} predictions for {len(y)} labels.")

    warnings = []
    if data_source is None:
        data_source = meta.get("source") or meta.get("name") or "unknown"
    if synthetic is None:
        synthetic = bool(meta.get("synthetic", False)) or "synthetic" in str(data_source).lower()
    if synthetic:
        warnings.append(SYNTHETIC_WARNING)
    if not np.all(np.isfinite(probs)):
        warnings.append("Some predicted probabilities are NaN/inf; they were treated as 0.")
        probs = np.nan_to_num(probs, nan=0.0, posinf=1.0, neginf=0.0)
        y_pred = probs[:, 1].__ge__(0.5).astype(np.int64) if binary else probs.argmax(axis=1)

    cm = confusion_matrix(y, y_pred, k)
    metrics = classification_metrics(cm, class_names)
    absent = [n for n, m in metrics["per_class"].items() if m["support"] == 0]
    if absent:
        warnings.append(
            "Classes absent from split '%s': %s; their recall/F1/ROC-AUC are null and "
            "macro-F1 averages the %d present classes." % (split_name, ", ".join(absent), k - len(absent))
        )
    never = [n for n, m in metrics["per_class"].items() if m["precision"] is None and m["support"] > 0]
    if never:
        warnings.append("Classes never predicted (precision null): " + ", ".join(never) + ".")

    roc = {}
    for i, n in enumerate(class_names):
        roc[n] = roc_auc_binary(y == i, probs[:, i])
    valid = [v for v in roc.values() if v is not None]
    roc_macro = float(np.mean(valid)) if valid else None
    roc_risk = roc_auc_binary(y == 1, probs[:, 1]) if k == 2 else None

    hist = _history_dict(history)
    training = None
    if hist:
        training = {
            "epochs": max((len(v) for v in hist.values()), default=0),
            "final": {kk: (vv[-1] if vv else None) for kk, vv in hist.items()},
        }

    backend = _backend_name()
    report = {
        "split": str(split_name),
        "data_source": str(data_source),
        "synthetic": bool(synthetic),
        "backend": backend,
        "versions": package_versions(backend),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "num_test": int(len(y)),
        "class_names": class_names,
        "binary": bool(binary),
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "per_class": metrics["per_class"],
        "roc_auc": roc,
        "roc_auc_macro": roc_macro,
        "roc_auc_risk": roc_risk,
        "threshold": 0.5 if binary else None,
        "confusion_matrix": cm.tolist(),
        "training": training,
        "plots": {},
        "warnings": warnings,
        "extra": extra or {},
    }

    if plots:
        tag = f"{split_name} — {data_source}" + (" (SYNTHETIC)" if synthetic else "")
        try:
            _pyplot()
        except ImportError:
            warnings.append("matplotlib is not installed: no plots (pip install matplotlib).")
        else:
            _plot_confusion(cm, class_names, out_dir / "confusion_matrix.png", f"Confusion matrix: {tag}")
            report["plots"]["confusion_matrix"] = "confusion_matrix.png"
            if hist:
                _plot_history(hist, out_dir / "training_curves.png", f"Training curves ({data_source})")
                report["plots"]["training_curves"] = "training_curves.png"
            if _plot_roc(y, probs, class_names, binary, roc, out_dir / "roc_curves.png", f"ROC: {tag}"):
                report["plots"]["roc_curves"] = "roc_curves.png"
            first = _first_input(x)
            if first is not None and _plot_examples(first, y, y_pred, probs, class_names,
                                                    out_dir / "examples.png", f"Examples: {tag}"):
                report["plots"]["examples"] = "examples.png"

    report = _clean(report)
    _atomic.write_json(out_dir / "report.json", report)
    _atomic.write_text(out_dir / "report.md", _markdown(report))
    return report


def compare_table(reports: dict, recall: bool = True) -> str:
    """Markdown table of several reports: model vs accuracy, macro-F1, per-class recall.

    Args:
        reports: ``{model name: report dict}`` (as returned by :func:`evaluate`
            or loaded from ``report.json``).
        recall: add one per-class recall column per class.
    """
    if not reports:
        return "_no reports_\n"
    classes = []
    for r in reports.values():
        for c in r.get("class_names", []):
            if c not in classes:
                classes.append(c)
    head = ["model", "split", "n", "accuracy", "macro-F1", "ROC-AUC"]
    if recall:
        head += [f"recall {c}" for c in classes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    synthetic = False
    for name, r in reports.items():
        synthetic |= bool(r.get("synthetic"))
        auc = r.get("roc_auc_risk") if r.get("binary") else r.get("roc_auc_macro")
        row = [
            str(name) + (" ⚠️" if r.get("synthetic") else ""),
            str(r.get("split", "")),
            str(r.get("num_test", "")),
            _fmt(r.get("accuracy")),
            _fmt(r.get("macro_f1")),
            _fmt(auc),
        ]
        if recall:
            pc = r.get("per_class", {})
            row += [_fmt(pc.get(c, {}).get("recall")) for c in classes]
        lines.append("| " + " | ".join(row) + " |")
    if synthetic:
        lines += ["", "⚠️ = measured on **synthetic** data: says nothing about ECG performance."]
    return "\n".join(lines) + "\n"


class _CallableModule(type(sys)):
    """``keras_ecg.evaluate`` may be this module or the function; calls forward to :func:`evaluate`."""

    def __call__(self, *args, **kwargs):
        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
