"""Atrial fibrillation from the RR intervals of a record (NumPy only).

Two detectors, both with the same output: one irregularity value per beat (a window of RR intervals
centred on it) that a threshold turns into AF or not.

* ``cosen``: the coefficient of sample entropy of Lake & Moorman (2011, Am J Physiol Heart Circ
  Physiol 300:H319), on windows of 12 RR intervals: sample entropy with templates of one interval
  (m = 1) and a tolerance ``r`` that starts at 30 ms and grows until 5 matches of length 2 are found,
  turned into a density (+ ln 2r) and normalised by the mean interval (- ln mean RR). AF has
  high COSEn; their threshold is -1.4.
* ``irregularity``: the median absolute difference between RR intervals ``lag`` beats apart, over
  a window of ``window`` intervals, divided by the window's median interval; the smallest value over
  lags 1, 2 and 3. Isolated ectopic beats move a median little, and the lags 2 and 3 make bigeminy
  and trigeminy (regular patterns of short and long intervals) read as regular; AF is irregular at
  every lag.

Both read the NN intervals: the intervals next to a beat classed V, F or Q are left out and the rest
joined (an irregular interval around a ventricular beat is not atrial evidence).

Episodes (:func:`episodes`): beats whose value passes the threshold, in stretches merged across
gaps shorter than ``merge_s`` and kept when at least ``min_s`` long.
"""

from __future__ import annotations

import numpy as np

from numpy.lib.stride_tricks import sliding_window_view

from keras_ecg.card_rhythm import AF_DETECTORS as DETECTORS
NOT_ATRIAL = ("V", "F", "Q")


def _intervals(times, classes):
    """RR intervals (s) ending at beats 1..n-1; NaN where either beat is ventricular, fusion or unknown."""
    t = np.asarray(times, dtype=np.float64)
    rr = np.diff(t)
    if classes is not None:
        bad = np.isin(np.asarray(classes, dtype=str), NOT_ATRIAL)
        rr = np.where(bad[1:] | bad[:-1], np.nan, rr)
    return rr


def _per_beat(times, classes, window, measure, min_usable: float = 0.5) -> np.ndarray:
    """``measure`` of every window of ``window`` usable (atrial) intervals, given to the beat at its centre.

    The intervals next to ventricular, fusion and unknown beats are left out first and the rest
    joined (the NN intervals); a window whose intervals are spread over more than ``window /
    min_usable`` intervals of the record (mostly ventricular beats: bigeminy, runs) gives no value
    (NaN: no atrial evidence). A beat that is no window's centre takes the value of the nearest centre.
    """
    n = len(times)
    rr = _intervals(times, classes)
    keep = np.flatnonzero(np.isfinite(rr))
    if len(keep) < window:
        return np.full(n, np.nan)
    values = measure(sliding_window_view(rr[keep], window))
    span = keep[window - 1:] - keep[: len(keep) - window + 1] + 1
    values = np.where(span <= window / min_usable, values, np.nan)
    centre = keep[np.arange(len(values)) + window // 2] + 1  # interval k ends at beat k + 1
    pos = np.clip(np.searchsorted(centre, np.arange(n)), 1, len(centre) - 1)
    left, right = centre[pos - 1], centre[pos]
    nearest = np.where(np.arange(n) - left <= right - np.arange(n), pos - 1, pos)
    return values[nearest]


def irregularity(times, classes=None, window: int = 32, lags=(1, 2, 3)) -> np.ndarray:
    """Per beat: the lagged median RR irregularity of the window centred on it (see the module doc)."""

    def measure(w):
        best = np.full(len(w), np.inf)
        for lag in lags:
            best = np.minimum(best, np.median(np.abs(w[:, lag:] - w[:, :-lag]), axis=1))
        return best / np.median(w, axis=1)

    return _per_beat(times, classes, window, measure)


def cosen(times, classes=None, window: int = 12, r0: float = 0.030, r_step: float = 0.010,
          r_max: float = 0.300, min_matches: int = 5) -> np.ndarray:
    """Per beat: COSEn (Lake & Moorman 2011) of the ``window`` RR intervals centred on it."""

    def measure(w):
        x1 = w[:, :-1]  # templates of length 1 (the first window-1, so that each has a successor)
        d1 = np.abs(x1[:, :, None] - x1[:, None, :])
        d2 = np.maximum(d1, np.abs(w[:, 1:, None] - w[:, None, 1:]))  # templates of length 2, Chebyshev
        iu = np.triu_indices(window - 1, 1)
        d1, d2 = d1[:, iu[0], iu[1]], d2[:, iu[0], iu[1]]
        mean = w.mean(axis=1)
        # never enough matches up to r_max: as irregular as the estimate can say (one match in all pairs)
        value = -np.log(1.0 / d1.shape[1]) + np.log(2 * r_max) - np.log(mean)
        todo = np.ones(len(w), dtype=bool)
        r = r0
        while todo.any() and r <= r_max + 1e-12:
            a = (d2[todo] <= r).sum(axis=1)
            b = (d1[todo] <= r).sum(axis=1)
            ok = a >= min_matches
            idx = np.flatnonzero(todo)[ok]
            value[idx] = -np.log(a[ok] / b[ok]) + np.log(2 * r) - np.log(mean[idx])
            todo[idx] = False
            r += r_step
        return value

    return _per_beat(times, classes, window, measure)


def score(times, classes=None, detector: str = "irregularity") -> np.ndarray:
    """Per beat, the detector's value (higher = more irregular)."""
    if detector == "irregularity":
        return irregularity(times, classes)
    if detector == "cosen":
        return cosen(times, classes)
    raise ValueError(f"unknown AF detector {detector!r}; use one of {DETECTORS}")


def stretches(times, flags, merge_s: float, min_s: float) -> list:
    """``[(i0, i1)]`` beat index ranges of flagged beats, merged across gaps < ``merge_s``, at least ``min_s`` long."""
    t = np.asarray(times, dtype=np.float64)
    f = np.asarray(flags, dtype=bool)
    m = np.concatenate([[False], f, [False]])
    d = np.diff(m.astype(np.int8))
    runs = list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1))
    merged = []
    for i0, i1 in runs:
        if merged and t[i0] - t[merged[-1][1]] < merge_s:
            merged[-1] = (merged[-1][0], i1)
        else:
            merged.append((i0, i1))
    return [(int(i0), int(i1)) for i0, i1 in merged if t[i1] - t[i0] >= min_s]
