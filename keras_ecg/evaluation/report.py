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
``calibration``     ECE and Brier score before/after calibration, the method,
                    the reliability bins (:mod:`keras_ecg.evaluation.calibration`)
``uncertainty``     with a threshold: abstention rate, accuracy on kept outputs
==================  ==========================================================

With ``calibration`` (a :class:`keras_ecg.card.Calibration`), the outputs are
raw model outputs: every figure above is on the calibrated ones.
"""

from __future__ import annotations

import datetime
import math
import pathlib

import numpy as np

from keras_ecg import _atomic
from keras_ecg.evaluation import plots as P
from keras_ecg.evaluation.markdown import SYNTHETIC_WARNING, markdown
from keras_ecg.evaluation.metrics import classification_metrics, confusion_matrix, probs_to_preds, roc_auc_binary
from keras_ecg.versions import package_versions

__all__ = ["evaluate"]


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


def _history_dict(history):
    if history is None:
        return None
    h = getattr(history, "history", history)
    if not isinstance(h, dict):
        raise TypeError("history must be a keras History or a dict of lists.")
    return {str(k): [float(v) for v in np.ravel(np.asarray(vals, dtype=np.float64))] for k, vals in h.items()}


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
    calibration=None,
    postprocess=None,
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
        calibration: the card's :class:`~keras_ecg.card.Calibration` (fitted on the
            validation side) to apply to the raw outputs; ``None``: raw outputs.
        postprocess: a function of the calibrated probabilities that gives the ones scored (the
            rhythm-aware classes of whole records: beats in AF not called S); the calibration figures
            stay those of the model's own outputs.

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

    from keras_ecg.evaluation import calibration as CAL

    probs_raw = _predict(model_or_probs, x)
    calib = CAL.summary(probs_raw, y, calibration) if len(probs_raw) == len(y) else {}
    scored = CAL.apply(probs_raw, calibration)
    probs, y_pred, risk, binary = probs_to_preds(postprocess(scored) if postprocess else scored, k)
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

    from keras_ecg import backend as _backend

    backend = _backend.current()
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
        **calib,
    }
    if (calib.get("uncertainty") or {}).get("target_met_on_validation") is False:
        warnings.append("The uncertainty threshold did not reach its target accuracy on the validation side.")

    if plots:
        tag = f"{split_name} — {data_source}" + (" (SYNTHETIC)" if synthetic else "")
        try:
            P.pyplot()
        except ImportError:
            warnings.append("matplotlib is not installed: no plots (pip install matplotlib).")
        else:
            P.plot_confusion(cm, class_names, out_dir / "confusion_matrix.png", f"Confusion matrix: {tag}")
            report["plots"]["confusion_matrix"] = "confusion_matrix.png"
            if hist:
                P.plot_history(hist, out_dir / "training_curves.png", f"Training curves ({data_source})")
                report["plots"]["training_curves"] = "training_curves.png"
            if P.plot_roc(y, probs, class_names, binary, roc, out_dir / "roc_curves.png", f"ROC: {tag}"):
                report["plots"]["roc_curves"] = "roc_curves.png"
            if calib:
                from keras_ecg.evaluation.reliability_plot import plot_reliability

                plot_reliability(calib["calibration"], out_dir / "reliability.png", f"Reliability: {tag}")
                report["plots"]["reliability"] = "reliability.png"
            first = _first_input(x)
            if first is not None and P.plot_examples(first, y, y_pred, probs, class_names,
                                                    out_dir / "examples.png", f"Examples: {tag}"):
                report["plots"]["examples"] = "examples.png"

    report = _clean(report)
    _atomic.write_json(out_dir / "report.json", report)
    _atomic.write_text(out_dir / "report.md", markdown(report))
    return report
