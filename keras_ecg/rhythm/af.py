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
  every lag. Intervals next to a beat classed V, F or Q are left out (an irregular interval around a
  ventricular beat is not atrial evidence).

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


def _centred(values, n_beats, window):
    """Map one value per window of intervals (window w covers intervals w..w+window-1) to each beat."""
    out = np.full(n_beats, np.nan)
    if len(values) == 0:
        return out
    # interval k ends at beat k + 1; the window's centre interval is w + window // 2
    centre = np.arange(len(values)) + window // 2 + 1
    out[centre] = values
    # beats before the first / after the last centre take the nearest window's value
    first, last = centre[0], centre[-1]
    out[:first] = values[0]
    out[last + 1:] = values[-1]
    return out


def irregularity(times, classes=None, window: int = 32, lags=(1, 2, 3)) -> np.ndarray:
    """Per beat: the lagged median RR irregularity of the window centred on it (see the module doc)."""
    rr = _intervals(times, classes)
    n = len(times)
    if len(rr) < window:
        return np.full(n, np.nan)
    wins = sliding_window_view(rr, window)
    with np.errstate(invalid="ignore"), _quiet():
        med = np.nanmedian(wins, axis=1)
        best = np.full(len(wins), np.inf)
        for lag in lags:
            d = np.abs(rr[lag:] - rr[:-lag])
            # the lag-differences inside window w: d[w .. w + window - lag - 1]
            dw = sliding_window_view(d, window - lag)[: len(wins)]
            best = np.fmin(best, np.nanmedian(dw, axis=1))
        # too few usable intervals (mostly ventricular beats): no atrial evidence either way
        usable = np.isfinite(wins).sum(axis=1) >= window // 2
        value = np.where(usable, best / med, np.nan)
    return _centred(value, n, window)


def cosen(times, classes=None, window: int = 12, r0: float = 0.030, r_step: float = 0.010,
          r_max: float = 0.300, min_matches: int = 5) -> np.ndarray:
    """Per beat: COSEn (Lake & Moorman 2011) of the ``window`` RR intervals centred on it."""
    rr = _intervals(times, classes)
    n = len(times)
    if len(rr) < window:
        return np.full(n, np.nan)
    w = sliding_window_view(rr, window)  # (W, window)
    x1 = w[:, :-1]  # templates of length 1 (the first window-1, so that each has a successor)
    d1 = np.abs(x1[:, :, None] - x1[:, None, :])  # (W, k, k)
    d2 = np.maximum(d1, np.abs(w[:, 1:, None] - w[:, None, 1:]))  # templates of length 2, Chebyshev
    iu = np.triu_indices(window - 1, 1)
    d1, d2 = d1[:, iu[0], iu[1]], d2[:, iu[0], iu[1]]
    value = np.full(len(w), np.nan)
    todo = np.isfinite(w).all(axis=1)
    r = r0
    while todo.any() and r <= r_max + 1e-12:
        a = (d2[todo] <= r).sum(axis=1)
        b = (d1[todo] <= r).sum(axis=1)
        ok = a >= min_matches
        idx = np.flatnonzero(todo)[ok]
        mean = w[idx].mean(axis=1)
        value[idx] = -np.log(a[ok] / b[ok]) + np.log(2 * r) - np.log(mean)
        todo[idx] = False
        r += r_step
    # never enough matches even at r_max: as irregular as the estimate can say
    idx = np.flatnonzero(todo & np.isfinite(w).all(axis=1))
    if len(idx):
        value[idx] = np.log(2 * r_max) - np.log(w[idx].mean(axis=1)) + np.log((window - 1) * (window - 2) / 2)
    return _centred(value, n, window)


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


class _quiet:
    """Silence NumPy's 'All-NaN slice' warnings inside nanmedian (windows of ventricular beats)."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)
