"""Calibrated probabilities and the uncertainty flag (NumPy; SciPy for the 1-D and 2-D fits).

A model's raw outputs (softmax probabilities ``(n, K)`` or a sigmoid risk
``(n, 1)``/``(n,)``) become calibrated probabilities by one of:

* ``temperature``: ``softmax(log p / T)``, or for a risk ``sigmoid(logit(r) / T)``;
  ``T`` minimises the negative log-likelihood on the validation side. It never
  changes the predicted class (nor the 0.5 decision of a risk);
* ``platt`` (binary models): ``sigmoid(a * logit(r) + b)``, ``a`` and ``b`` by NLL;
* ``none``: the raw outputs.

Confidence is the calibrated probability of the predicted class. An output is
*uncertain* when its confidence is below ``uncertain_below``, a threshold chosen on
the validation side as the lowest one whose kept outputs reach
``target_accuracy`` there (:func:`choose_threshold`).

:func:`fit` fits both on validation outputs and returns the card's
:class:`~keras_ecg.card.Calibration`; :func:`calibrated` is the one function that
turns raw outputs into ``(calibrated outputs, uncertain flags)``: the runner's report,
predict, evaluate and annotate all call it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_ecg.card_calibration import METHODS, Calibration

__all__ = ["METHODS", "fit", "calibrated", "apply", "as_matrix", "confidence", "ece", "brier",
           "reliability_bins", "choose_threshold", "summary"]

BINS = 15
MIN_KEPT = 0.10  # when the target cannot be met: the best kept accuracy over at least this fraction kept
_EPS = 1e-7


# ----------------------------------------------------------------------------- shapes and scores


def as_matrix(raw) -> np.ndarray:
    """Outputs as ``(n, K)`` probabilities (a risk ``r`` becomes ``[1 - r, r]``)."""
    p = np.asarray(raw, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.ndim == 1:
        return np.stack([1.0 - p, p], axis=1)
    if p.ndim != 2:
        raise ValueError(f"model outputs of shape {p.shape}: expected (n, K), (n, 1) or (n,)")
    return p


def _is_risk(raw) -> bool:
    p = np.asarray(raw)
    return p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1)


def _logit(r):
    r = np.clip(r, _EPS, 1 - _EPS)
    return np.log(r) - np.log1p(-r)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def confidence(probs) -> np.ndarray:
    """Probability of the predicted class, per output."""
    return as_matrix(probs).max(axis=1)


def _predicted(probs) -> np.ndarray:
    return as_matrix(probs).argmax(axis=1)


def ece(probs, y, bins: int = BINS) -> float:
    """Expected calibration error of the top-label confidence over ``bins`` equal-width bins."""
    p, y = as_matrix(probs), np.asarray(y).astype(np.int64).ravel()
    if not len(y):
        return float("nan")
    conf, correct = p.max(axis=1), (p.argmax(axis=1) == y)
    idx = np.minimum((conf * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() * abs(correct[m].mean() - conf[m].mean())
    return float(total / len(y))


def brier(probs, y) -> float:
    """Brier score: mean squared error of the risk (binary) or summed over the classes (multi-class)."""
    y = np.asarray(y).astype(np.int64).ravel()
    if _is_risk(probs):
        r = as_matrix(probs)[:, 1]
        return float(np.mean((r - (y == 1)) ** 2))
    p = as_matrix(probs)
    onehot = np.eye(p.shape[1])[y]
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def reliability_bins(probs, y, bins: int = BINS) -> dict:
    """Per bin of top-label confidence: ``{edges, confidence, accuracy, count}`` (null where empty)."""
    p, y = as_matrix(probs), np.asarray(y).astype(np.int64).ravel()
    conf, correct = p.max(axis=1), (p.argmax(axis=1) == y)
    idx = np.minimum((conf * bins).astype(np.int64), bins - 1)
    out = {"edges": np.linspace(0, 1, bins + 1).round(4).tolist(), "confidence": [], "accuracy": [], "count": []}
    for b in range(bins):
        m = idx == b
        out["count"].append(int(m.sum()))
        out["confidence"].append(float(conf[m].mean()) if m.any() else None)
        out["accuracy"].append(float(correct[m].mean()) if m.any() else None)
    return out


# ----------------------------------------------------------------------------- apply


def apply(raw, cal: Calibration | None) -> np.ndarray:
    """Calibrated outputs, in the shape of ``raw`` (a risk stays a risk)."""
    raw = np.asarray(raw, dtype=np.float64)
    if cal is None or cal.method == "none":
        return raw
    if _is_risk(raw):
        z = _logit(raw)
        if cal.method == "platt":
            if not cal.platt or len(cal.platt) != 2:
                raise ValueError("platt calibration needs platt = [a, b]")
            return _sigmoid(cal.platt[0] * z + cal.platt[1])
        return _sigmoid(z / cal.temperature)
    if cal.method == "platt":
        raise ValueError("platt calibration applies to binary (one risk output) models only")
    return _softmax(np.log(np.clip(raw, _EPS, 1.0)) / cal.temperature)


def calibrated(raw, cal: Calibration | None) -> tuple:
    """``(calibrated outputs in the shape of raw, uncertain flags (bool, one per output))``.

    The one function that deployment uses: ``cal`` is the card's ``calibration``
    (``None`` for cards written before calibration existed: raw outputs, nothing flagged).
    """
    probs = apply(raw, cal)
    n = len(np.asarray(raw))
    if cal is None or cal.uncertain_below is None or n == 0:
        return probs, np.zeros(n, dtype=bool)
    return probs, confidence(probs) < cal.uncertain_below


# ----------------------------------------------------------------------------- fit


def _nll(probs, y) -> float:
    p = as_matrix(probs)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], _EPS, 1.0))))


def _fit_temperature(raw, y) -> float:
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda lt: _nll(apply(raw, Calibration(temperature=float(np.exp(lt)))), y),
                          bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def _fit_platt(raw, y) -> list:
    from scipy.optimize import minimize

    z, t = _logit(as_matrix(raw)[:, 1]), (y == 1).astype(np.float64)

    def loss(ab):
        s = ab[0] * z + ab[1]  # NLL of sigmoid(s), computed stably
        return float(np.mean(np.logaddexp(0.0, s) - t * s))

    res = minimize(loss, x0=np.array([1.0, 0.0]), method="L-BFGS-B")
    return [float(res.x[0]), float(res.x[1])]


def choose_threshold(conf, correct, target: float) -> tuple:
    """``(threshold, target_met)``: the lowest confidence threshold whose kept outputs reach ``target`` accuracy.

    Outputs with confidence >= threshold are kept. When no threshold reaches the
    target, the one with the best kept accuracy among those keeping at least
    :data:`MIN_KEPT` of the outputs is returned, with ``target_met`` false.
    """
    conf, correct = np.asarray(conf, dtype=np.float64), np.asarray(correct, dtype=bool)
    if not len(conf):
        return None, False
    order = np.argsort(-conf, kind="stable")
    c, ok = conf[order], correct[order]
    acc = np.cumsum(ok) / np.arange(1, len(c) + 1)
    last = np.r_[c[1:] != c[:-1], True]  # keep whole groups of tied confidences
    good = np.flatnonzero(last & (acc >= target))
    if len(good):
        return float(c[good[-1]]), True
    floor = max(int(np.ceil(MIN_KEPT * len(c))) - 1, 0)
    cand = np.flatnonzero(last & (np.arange(len(c)) >= floor))
    best = cand[np.argmax(acc[cand])] if len(cand) else len(c) - 1
    return float(c[best]), False


def fit(raw_val, y_val, method: str = "temperature", target_accuracy: float | None = 0.95,
        fitted_on: str = "validation") -> Calibration:
    """The :class:`~keras_ecg.card.Calibration` fitted on validation outputs ``raw_val`` and labels ``y_val``."""
    if method not in METHODS:
        raise ValueError(f"calibration {method!r}: choose one of {', '.join(METHODS)}")
    y = np.asarray(y_val).astype(np.int64).ravel()
    raw = np.asarray(raw_val, dtype=np.float64)
    if len(raw) != len(y) or not len(y):
        raise ValueError(f"calibration: {len(raw)} outputs for {len(y)} labels")
    if method == "platt" and not _is_risk(raw):
        raise ValueError("calibration platt: for binary (one risk output) models only; use temperature")
    if target_accuracy is not None and not 0 < target_accuracy <= 1:
        raise ValueError(f"target accuracy {target_accuracy}: must lie in (0, 1]")
    cal = Calibration(method=method, fitted_on=fitted_on, fitted_items=int(len(y)))
    if method == "temperature":
        cal.temperature = _fit_temperature(raw, y)
    elif method == "platt":
        cal.platt = _fit_platt(raw, y)
    probs = apply(raw, cal)
    cal.ece_before, cal.ece_after = ece(raw, y), ece(probs, y)
    cal.brier_before, cal.brier_after = brier(raw, y), brier(probs, y)
    if target_accuracy is not None:
        correct = _predicted(probs) == y
        conf = confidence(probs)
        cal.uncertain_below, cal.target_met = choose_threshold(conf, correct, target_accuracy)
        cal.target_accuracy = float(target_accuracy)
        kept = conf >= cal.uncertain_below
        cal.kept_fraction = float(kept.mean())
        cal.kept_accuracy = float(correct[kept].mean()) if kept.any() else None
    return cal


# ----------------------------------------------------------------------------- report part


def summary(raw, y, cal: Calibration | None) -> dict:
    """The report's ``calibration`` and ``uncertainty`` parts for raw outputs ``raw`` and labels ``y``."""
    y = np.asarray(y).astype(np.int64).ravel()
    probs, unsure = calibrated(raw, cal)
    part = {"method": cal.method if cal else "none", "temperature": cal.temperature if cal else None,
            "platt": cal.platt if cal else None, "fitted_on": cal.fitted_on if cal else None,
            "fitted_items": cal.fitted_items if cal else None, "bins": BINS,
            "ece_before": ece(raw, y), "ece_after": ece(probs, y),
            "brier_before": brier(raw, y), "brier_after": brier(probs, y),
            "reliability_before": reliability_bins(raw, y), "reliability_after": reliability_bins(probs, y)}
    unc = None
    if cal is not None and cal.uncertain_below is not None:
        kept = ~unsure
        correct = _predicted(probs) == y
        unc = {"threshold": cal.uncertain_below, "target_accuracy": cal.target_accuracy,
               "target_met_on_validation": cal.target_met, "validation_kept_fraction": cal.kept_fraction,
               "validation_kept_accuracy": cal.kept_accuracy,
               "abstention_rate": float(unsure.mean()) if len(y) else None, "n_uncertain": int(unsure.sum()),
               "n_kept": int(kept.sum()), "accuracy_kept": float(correct[kept].mean()) if kept.any() else None,
               "accuracy_all": float(correct.mean()) if len(y) else None}
    return {"calibration": part, "uncertainty": unc}


def to_card(cal: Calibration | None) -> dict | None:
    """The card's ``calibration`` object (rounded for reading)."""
    return None if cal is None else dataclasses.asdict(cal)


def as_one_form(probs, binary: bool) -> np.ndarray:
    """``(n, columns)`` float64 outputs in the form models are averaged in: for a binary task the risk
    ``(n, 1)`` (a sigmoid model gives it, a classifier with two probability columns gives its second);
    otherwise the class probabilities as they are."""
    probs = np.asarray(probs, np.float64)
    probs = probs.reshape(len(probs), -1)
    return probs[:, 1:] if binary and probs.shape[1] == 2 else probs
