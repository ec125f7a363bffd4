"""Beat-by-beat evaluation after AAMI EC57 (NumPy only; imports no keras).

Two figures, computed the same way (:func:`beat_metrics`, :func:`end_to_end`):

- on reference beat positions: one true and one predicted class per reference
  beat;
- end to end, on detected R peaks: each record's detections are matched one to
  one to its reference beats within ``tolerance_s`` (150 ms, EC57's window;
  :func:`match_beats`). A matched pair compares the reference beat's class with
  the class predicted for the detection; an unmatched reference beat is a
  *miss* (a false negative of its class); an unmatched detection is an *extra*
  (a false positive of the class predicted for it).

Per class ``c`` (counts over all scored events, see below): ``tp`` true ``c``
predicted ``c``; ``fn`` true ``c`` not predicted ``c`` (a miss included);
``fp`` predicted ``c`` but not true ``c`` (an extra included); ``tn`` the rest.
``se`` (sensitivity, recall) = tp / (tp + fn); ``ppv`` (+P, precision) =
tp / (tp + fp); ``f1`` = 2 tp / (2 tp + fp + fn); ``fpr`` = fp / (fp + tn);
``support`` = tp + fn, the reference beats of ``c``. A ratio whose
denominator is 0 is ``None`` (never NaN), so the dict is JSON-serialisable.

``accuracy`` = correct / events, where the events are the reference beats
(on reference positions), or matched pairs + missed reference beats + extra
detections (end to end); only a matched pair whose classes agree is correct.
``macro_f1`` is the mean F1 over the ``scored`` classes (N, S, V, F) whose F1
is defined; the other classes (Q) are in ``unscored``, reported apart and not
averaged in. They still count in ``accuracy`` and in the other classes' fp/tn.
"""

from __future__ import annotations

import numpy as np

from keras_ecg.data.signal import match_pairs
from keras_ecg.errors import DataError

CLASSES = ("N", "S", "V", "F", "Q")
SCORED = ("N", "S", "V", "F")
TOLERANCE_S = 0.15

__all__ = ["match_beats", "beat_metrics", "end_to_end", "CLASSES", "SCORED", "TOLERANCE_S"]


def match_beats(reference, detected, fs: float, tolerance_s: float = TOLERANCE_S):
    """Match detected R peaks to reference beats (sample indices at ``fs``) one to one.

    A pair is allowed when the two are at most ``round(tolerance_s * fs)``
    samples apart; pairs are taken nearest first, so each detection matches at
    most one reference beat and each reference beat at most one detection
    (:func:`keras_ecg.data.signal.match_pairs`). Returns ``(ref_index,
    det_index)``: int64 arrays of the matched pairs, indices into the inputs,
    sorted by reference position.
    """
    if not fs or fs <= 0:
        raise DataError(f"match_beats: fs must be > 0; got {fs}.")
    if tolerance_s < 0:
        raise DataError(f"match_beats: tolerance_s must be >= 0; got {tolerance_s}.")
    return match_pairs(reference, detected, int(round(tolerance_s * fs)))


def _label_index(y, class_names, name: str) -> np.ndarray:
    """Labels (class names or integer indices into ``class_names``) as int64 indices."""
    y = np.asarray(y)
    if y.size == 0:
        return np.zeros(0, dtype=np.int64)
    if y.ndim != 1:
        raise DataError(f"{name}: expected a 1-D array of labels; got shape {y.shape}.")
    if y.dtype.kind in "USO":
        lookup = {str(c): i for i, c in enumerate(class_names)}
        unknown = sorted({str(v) for v in y.tolist()} - set(lookup))
        if unknown:
            raise DataError(f"{name}: unknown class names {unknown[:5]}; classes are {list(class_names)}.")
        return np.array([lookup[str(v)] for v in y.tolist()], dtype=np.int64)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise DataError(f"{name}: float labels must be whole numbers.")
    elif y.dtype.kind not in "iub":
        raise DataError(f"{name}: labels must be class names or integers; got dtype {y.dtype}.")
    y = y.astype(np.int64)
    bad = (y < 0) | (y >= len(class_names))
    if bad.any():
        raise DataError(f"{name}: label {int(y[bad][0])} is outside 0..{len(class_names) - 1} "
                        f"(classes {list(class_names)}).")
    return y


def _check_classes(class_names, scored):
    class_names = [str(c) for c in class_names]
    scored = [str(c) for c in scored]
    if len(set(class_names)) != len(class_names) or not class_names:
        raise DataError(f"class_names must be distinct and not empty; got {class_names}.")
    missing = [c for c in scored if c not in class_names]
    if missing:
        raise DataError(f"scored classes {missing} are not in class_names {class_names}.")
    return class_names, scored


def _ratio(a, b):
    return None if b == 0 else float(a) / float(b)


def _from_confusion(cm: np.ndarray, class_names, scored) -> dict:
    """Metrics from a confusion matrix whose rows are true and columns predicted classes.

    ``cm`` is (k, k) or (k + 1, k + 1), the last row/column then being "no
    beat" (a missed reference beat is in column k, an extra detection in row k).
    """
    k = len(class_names)
    total = int(cm.sum())
    per = {}
    for c, name in enumerate(class_names):
        tp = int(cm[c, c])
        fn = int(cm[c, :].sum()) - tp
        fp = int(cm[:, c].sum()) - tp
        tn = total - tp - fn - fp
        per[name] = {
            "se": _ratio(tp, tp + fn),
            "ppv": _ratio(tp, tp + fp),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "fpr": _ratio(fp, fp + tn),
            "support": tp + fn,
            "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        }
    f1s = [per[c]["f1"] for c in scored if per[c]["f1"] is not None]
    return {
        "classes": list(class_names),
        "scored": list(scored),
        "n": total,
        "accuracy": _ratio(int(np.trace(cm[:k, :k])), total),
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "f1": {c: per[c]["f1"] for c in scored},
        "per_class": {c: per[c] for c in scored},
        "unscored": {c: per[c] for c in class_names if c not in scored},
        "confusion": cm[:k, :k].astype(int).tolist(),
    }


def beat_metrics(y_true, y_pred, class_names=CLASSES, scored=SCORED) -> dict:
    """EC57 figures of one true and one predicted class per beat (see the module doc).

    ``y_true``/``y_pred``: class names or integer indices into ``class_names``.
    Returns a JSON-serialisable dict: ``accuracy``, ``macro_f1`` (over
    ``scored``), ``f1`` (per scored class), ``per_class`` (scored classes:
    se, ppv, f1, fpr, support, tp, fp, fn, tn), ``unscored`` (the same for the
    other classes), ``confusion`` (rows true, columns predicted), ``n``.
    """
    class_names, scored = _check_classes(class_names, scored)
    t = _label_index(y_true, class_names, "y_true")
    p = _label_index(y_pred, class_names, "y_pred")
    if len(t) != len(p):
        raise DataError(f"y_true and y_pred differ in length: {len(t)} vs {len(p)}.")
    k = len(class_names)
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    return _from_confusion(cm, class_names, scored)


def _records(x, name: str) -> list:
    """One record (an array) or several (a list/tuple of arrays) as a list of arrays."""
    if isinstance(x, (list, tuple)) and len(x) and all(np.ndim(e) == 1 for e in x):
        return [np.asarray(e) for e in x]
    x = np.asarray(x)
    if x.ndim != 1:
        raise DataError(f"{name}: expected a 1-D array or a list of 1-D arrays (one per record); "
                        f"got shape {x.shape}.")
    return [x]


def end_to_end(ref_samples, ref_labels, det_samples, det_pred, fs, tolerance_s: float = TOLERANCE_S,
               class_names=CLASSES, scored=SCORED) -> dict:
    """EC57 figures on detected beats, for one record or several.

    Args:
        ref_samples, ref_labels: reference beat positions (samples) and classes.
        det_samples, det_pred: detected R peaks (samples) and the classes
            predicted for them.
        fs: sampling rate, one for all records or a sequence, one per record.
        Each of the four is one array (one record) or a list of arrays, one
        per record (matching is done within each record).

    Returns the dict of :func:`beat_metrics` computed over matched pairs,
    missed reference beats and extra detections (see the module doc for how
    each counts and how ``accuracy`` is defined), plus ``matched`` (pairs),
    ``missed`` (per reference class), ``extra_detections`` (per predicted
    class), ``n_reference``, ``n_detected``, ``detector_se`` (matched /
    reference beats), ``detector_ppv`` (matched / detections), ``tolerance_s``
    and ``records``.
    """
    class_names, scored = _check_classes(class_names, scored)
    refs, labs = _records(ref_samples, "ref_samples"), _records(ref_labels, "ref_labels")
    dets, preds = _records(det_samples, "det_samples"), _records(det_pred, "det_pred")
    n_rec = len(refs)
    if not (len(labs) == len(dets) == len(preds) == n_rec):
        raise DataError(f"end_to_end: record counts differ: ref_samples {n_rec}, ref_labels {len(labs)}, "
                        f"det_samples {len(dets)}, det_pred {len(preds)}.")
    fss = list(np.ravel(fs)) if np.ndim(fs) else [fs] * n_rec
    if len(fss) != n_rec:
        raise DataError(f"end_to_end: {len(fss)} sampling rates for {n_rec} records.")
    k = len(class_names)
    none = k  # the "no beat" row/column
    cm = np.zeros((k + 1, k + 1), dtype=np.int64)
    for r in range(n_rec):
        where = f"record {r}" if n_rec > 1 else "end_to_end"
        t = _label_index(labs[r], class_names, f"{where}: ref_labels")
        p = _label_index(preds[r], class_names, f"{where}: det_pred")
        if len(t) != len(refs[r]):
            raise DataError(f"{where}: {len(refs[r])} reference beats but {len(t)} labels.")
        if len(p) != len(dets[r]):
            raise DataError(f"{where}: {len(dets[r])} detections but {len(p)} predictions.")
        ri, di = match_beats(refs[r], dets[r], float(fss[r]), tolerance_s)
        missed = np.ones(len(t), dtype=bool)
        missed[ri] = False
        extra = np.ones(len(p), dtype=bool)
        extra[di] = False
        true = np.concatenate([t[ri], t[missed], np.full(int(extra.sum()), none)])
        pred = np.concatenate([p[di], np.full(int(missed.sum()), none), p[extra]])
        cm += np.bincount(true * (k + 1) + pred, minlength=(k + 1) ** 2).reshape(k + 1, k + 1)
    out = _from_confusion(cm, class_names, scored)
    n_ref, n_det = int(cm[:k, :].sum()), int(cm[:, :k].sum())
    matched = int(cm[:k, :k].sum())
    out.update(
        matched=matched,
        missed={c: int(cm[i, none]) for i, c in enumerate(class_names)},
        extra_detections={c: int(cm[none, i]) for i, c in enumerate(class_names)},
        n_reference=n_ref,
        n_detected=n_det,
        detector_se=_ratio(matched, n_ref),
        detector_ppv=_ratio(matched, n_det),
        tolerance_s=float(tolerance_s),
        records=n_rec,
    )
    return out
