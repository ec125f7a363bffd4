"""Signal processing for ECG: filtering, baseline removal, resampling,
normalisation and an R-peak detector for signals without annotations.

All functions take NumPy arrays and return float32 arrays; time runs along
``axis`` (the last axis unless stated). NaN or infinite samples raise a
``ValueError`` that says how many there are and where the first one is.
"""

from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np


def check_finite(x, name: str = "signal") -> np.ndarray:
    """``x`` as a float array; raises ValueError naming ``name`` if it holds NaN/inf."""
    x = np.asarray(x, dtype=np.float32) if np.asarray(x).dtype != np.float64 else np.asarray(x)
    bad = ~np.isfinite(x)
    if bad.any():
        first = np.unravel_index(int(np.argmax(bad)), x.shape)
        raise ValueError(
            f"{name}: {int(bad.sum())} NaN/infinite samples (first at index {tuple(int(i) for i in first)})."
        )
    return x


@functools.lru_cache(maxsize=64)
def _sos(fs, low, high, order):
    """The Butterworth filter's second-order sections; designed once per setting (a design costs milliseconds,
    as much as filtering a few seconds of signal: the live stream filters every quarter second)."""
    from scipy.signal import butter

    nyq = fs / 2.0
    if low and high:
        if not 0 < low < high < nyq:
            raise ValueError(f"band-pass needs 0 < low < high < fs/2 = {nyq}; got {low}, {high}.")
        sos = butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    elif low:
        sos = butter(order, low, btype="highpass", fs=fs, output="sos")
    elif high:
        sos = butter(order, high, btype="lowpass", fs=fs, output="sos")
    else:
        raise ValueError("give low and/or high cut-off frequencies.")
    return sos


def bandpass(x, fs: float, low: float = 0.5, high: float = 40.0, order: int = 3, axis: int = -1):
    """Zero-phase Butterworth band-pass (``low`` or ``high`` may be None for high/low-pass)."""
    from scipy.signal import sosfiltfilt

    x = check_finite(x)
    return sosfiltfilt(_sos(fs, low, high, order), x, axis=axis).astype(np.float32)


def remove_baseline(x, fs: float, method: str = "highpass", cutoff: float = 0.5, axis: int = -1):
    """Remove baseline wander.

    ``method="highpass"``: zero-phase 0.5 Hz high-pass (fast). ``method="median"``:
    subtract the output of two median filters of 200 ms and 600 ms (de Chazal 2004).
    """
    x = check_finite(x)
    if method == "highpass":
        return bandpass(x, fs, low=cutoff, high=None, order=2, axis=axis)
    if method == "median":
        from scipy.ndimage import median_filter

        def odd(s):
            n = int(round(s * fs))
            return n + 1 - n % 2

        size = [1] * x.ndim
        size[axis] = odd(0.2)
        base = median_filter(x, size=size, mode="nearest")
        size[axis] = odd(0.6)
        base = median_filter(base, size=size, mode="nearest")
        return (x - base).astype(np.float32)
    raise ValueError(f"unknown baseline method {method!r}; use 'highpass' or 'median'.")


def resample(x, fs_in: float, fs_out: float, axis: int = -1):
    """Resample from ``fs_in`` to ``fs_out`` Hz with a polyphase filter."""
    from scipy.signal import resample_poly

    x = check_finite(x)
    if fs_in <= 0 or fs_out <= 0:
        raise ValueError(f"sampling rates must be positive; got {fs_in} -> {fs_out}.")
    if fs_in == fs_out:
        return x.astype(np.float32, copy=True)
    up, down = resample_ratio(fs_in, fs_out)
    return resample_poly(x, up, down, axis=axis).astype(np.float32)


def resample_ratio(fs_in: float, fs_out: float) -> tuple:
    """``(up, down)``: :func:`resample` makes ``up`` samples of every ``down`` (so a piece of a signal that
    starts at a multiple of ``down`` resamples onto the whole signal's grid)."""
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    return ratio.numerator, ratio.denominator


def resample_index(samples, fs_in: float, fs_out: float) -> np.ndarray:
    """Sample positions at ``fs_in`` mapped to ``fs_out`` (rounded)."""
    return np.round(np.asarray(samples, dtype=np.float64) * (fs_out / fs_in)).astype(np.int64)


def zscore(x, axis: int = -1, eps: float = 1e-6):
    """Zero mean, unit standard deviation along ``axis``."""
    x = check_finite(x)
    m = x.mean(axis=axis, keepdims=True)
    s = x.std(axis=axis, keepdims=True)
    return ((x - m) / (s + eps)).astype(np.float32)


def minmax(x, axis: int = -1, eps: float = 1e-6):
    """Scale to [0, 1] along ``axis``."""
    x = check_finite(x)
    lo = x.min(axis=axis, keepdims=True)
    hi = x.max(axis=axis, keepdims=True)
    return ((x - lo) / (hi - lo + eps)).astype(np.float32)


def normalize(x, method: str = "zscore", axis: int = -1):
    """Apply ``"zscore"``, ``"minmax"`` or ``None`` (no change) along ``axis``."""
    if method is None or method == "none":
        return check_finite(x).astype(np.float32)
    if method == "zscore":
        return zscore(x, axis=axis)
    if method == "minmax":
        return minmax(x, axis=axis)
    raise ValueError(f"unknown normalisation {method!r}; use 'zscore', 'minmax' or None.")


# ----------------------------------------------------------------------------- R peaks


def _moving_mean(x, n):
    from scipy.ndimage import uniform_filter1d

    return uniform_filter1d(x, max(int(n), 1), mode="nearest")


def _local_level(energy, fs, block_s=1.0, span=9):
    """Per-sample QRS energy level: median over ``span`` blocks of each block's maximum."""
    from scipy.ndimage import median_filter

    b = max(int(block_s * fs), 1)
    nb = int(np.ceil(len(energy) / b))
    padded = np.pad(energy, (0, nb * b - len(energy)), mode="edge")
    block_max = padded.reshape(nb, b).max(axis=1)
    level = median_filter(block_max, size=min(span, nb) | 1, mode="nearest")
    centres = (np.arange(nb) + 0.5) * b
    return np.interp(np.arange(len(energy)), centres, level)


def detect_r_peaks(x, fs: float, threshold: float = 0.25, refractory: float = 0.2,
                   band=(5.0, 15.0), search_back: float = 1.5, search_threshold: float = 0.08,
                   t_wave: float = 0.5) -> np.ndarray:
    """R-peak sample indices of a single-lead ECG (no annotations needed).

    Pan-Tompkins style, vectorised: zero-phase band-pass (``band`` Hz),
    derivative, squaring, 150 ms moving-window integration; peaks of the
    integrated signal at least ``refractory`` s apart and above ``threshold``
    times a robust local level (median of 1 s block maxima over 9 s); RR gaps
    longer than ``search_back`` times the local median RR are searched again
    with ``search_threshold``; a peak within 360 ms of the previous one whose
    steepest slope is below ``t_wave`` times that beat's is taken for a T wave
    and dropped. Each detection is then moved to the largest absolute
    deflection of the band-passed signal within 75 ms. Returns int64 indices.
    """
    from scipy.signal import find_peaks

    x = check_finite(np.asarray(x, dtype=np.float64).ravel(), "signal")
    if len(x) < int(fs):
        return np.zeros(0, dtype=np.int64)
    filtered = _qrs_band(x, fs, band)
    energy = _moving_mean(np.gradient(filtered) ** 2, 0.15 * fs)
    level = _local_level(energy, fs)
    dist = max(int(refractory * fs), 1)
    cand, _ = find_peaks(energy, distance=dist)
    if len(cand) == 0:
        return cand.astype(np.int64)
    strong = energy[cand] > threshold * level[cand]
    peaks = cand[strong]
    if len(peaks) > 2:
        peaks = _search_back(peaks, cand[~strong], energy, level, search_threshold, search_back, dist)
    w = int(0.075 * fs)
    win = np.clip(peaks[:, None] + np.arange(-w, w + 1), 0, len(x) - 1)
    if t_wave and len(peaks) > 1:
        slope = np.abs(np.gradient(filtered))[win].max(axis=1)
        keep = _reject_t_waves(peaks, slope, int(0.36 * fs), t_wave)
        peaks, win = peaks[keep], win[keep]
    refined = np.unique(_largest_deflection(filtered, peaks, w))
    if len(refined) > 1:  # two detections refined onto one beat, or closer than the refractory time
        keep = np.concatenate([[True], np.diff(refined) >= dist])
        refined = refined[keep]
    return refined.astype(np.int64)


def _qrs_band(x, fs, band) -> np.ndarray:
    """The signal (median removed) zero-phase band-passed to ``band`` Hz: what the detector and its fiducial read."""
    from scipy.signal import sosfiltfilt

    return sosfiltfilt(_sos(fs, band[0], band[1], 2), x - np.median(x))


def _largest_deflection(filtered, peaks, w: int) -> np.ndarray:
    """Each peak moved to the largest absolute value of ``filtered`` within ``w`` samples."""
    win = np.clip(np.asarray(peaks, dtype=np.int64)[:, None] + np.arange(-w, w + 1), 0, len(filtered) - 1)
    return win[np.arange(len(win)), np.argmax(np.abs(filtered[win]), axis=1)]


def refine_peaks(x, fs: float, peaks, window: float = 0.075, band=(5.0, 15.0)) -> np.ndarray:
    """R peaks moved to the detector's fiducial point: the largest absolute deflection of the
    ``band``-passed signal within ``window`` s (what :func:`detect_r_peaks` ends with).

    Applied to reference annotations, it puts them where the detector puts the same
    beats (on MIT-BIH DS1, beats more than 3 samples from their detection fall from
    1,974 to 669, most of them record 208's V beats, whose detection lies on another
    deflection ~90 ms away). The order of the peaks is kept: a peak that would land on
    or before the previous one stays where it was. Returns int64 indices.
    """
    p = np.asarray(peaks, dtype=np.int64).ravel()
    x = check_finite(np.asarray(x, dtype=np.float64).ravel(), "signal")
    if len(p) == 0 or len(x) < 16:
        return p.copy()
    filtered = _qrs_band(x, fs, band)
    return keep_order(_largest_deflection(filtered, p, max(int(window * fs), 0)), p)


def keep_order(out, peaks, previous: int | None = None) -> np.ndarray:
    """Refined peaks ``out`` of ``peaks`` made strictly increasing (after ``previous``, the refined peak
    before them, if given): a peak that would land on or before the one before it stays where it was
    (or, if that is no later, goes one sample after it)."""
    out = np.asarray(out, dtype=np.int64)
    p = np.asarray(peaks, dtype=np.int64)
    first_bad = previous is not None and len(out) and out[0] <= previous
    if np.any(np.diff(out) <= 0) or first_bad:  # rare: two peaks within two windows of each other
        out = out.copy()
        last = previous
        for i in range(len(out)):
            if last is not None and out[i] <= last:
                out[i] = p[i] if p[i] > last else last + 1
            last = out[i]
    return out


def _reject_t_waves(peaks, slope, span, ratio):
    """Drop a peak within ``span`` samples of the last kept one whose slope is below ``ratio`` of it."""
    keep = np.ones(len(peaks), dtype=bool)
    last = 0
    for i in range(1, len(peaks)):
        if peaks[i] - peaks[last] < span and slope[i] < ratio * slope[last]:
            keep[i] = False
        else:
            last = i
    return keep


def _search_back(peaks, weak, energy, level, thr, factor, dist):
    """Add the strongest weak candidate inside each RR gap that is too long."""
    rr = np.diff(peaks)
    from scipy.ndimage import median_filter

    local = median_filter(rr, size=min(9, len(rr)) | 1, mode="nearest")
    gaps = np.flatnonzero(rr > factor * local)
    if len(gaps) == 0 or len(weak) == 0:
        return peaks
    ok = weak[energy[weak] > thr * level[weak]]
    added = []
    for g in gaps:
        lo, hi = peaks[g] + dist, peaks[g + 1] - dist
        inside = ok[(ok > lo) & (ok < hi)]
        if len(inside):
            added.append(inside[np.argmax(energy[inside])])
    return np.sort(np.concatenate([peaks, np.array(added, dtype=peaks.dtype)]))


def match_pairs(reference, detected, tolerance: int):
    """One-to-one matching of ``detected`` to ``reference`` peaks within ``tolerance`` samples.

    Nearest first: every (reference, detection) pair at most ``tolerance``
    samples apart is a candidate; candidates are taken in order of distance
    (ties: earlier reference, then earlier detection), skipping any whose
    reference or detection is already matched. Returns ``(ref_index,
    det_index)``, int64 arrays of the matched pairs as indices into the inputs
    (in any order), sorted by reference position.
    """
    ref = np.asarray(reference, dtype=np.int64).ravel()
    det = np.asarray(detected, dtype=np.int64).ravel()
    if tolerance < 0:
        raise ValueError(f"match tolerance must be >= 0 samples; got {tolerance}.")
    empty = np.zeros(0, dtype=np.int64)
    if len(ref) == 0 or len(det) == 0:
        return empty, empty.copy()
    order = np.argsort(det, kind="stable")
    sdet = det[order]
    lo = np.searchsorted(sdet, ref - tolerance, side="left")
    hi = np.searchsorted(sdet, ref + tolerance, side="right")
    counts = hi - lo
    ri = np.repeat(np.arange(len(ref)), counts)
    if len(ri) == 0:
        return empty, empty.copy()
    dj = order[np.concatenate([np.arange(a, b) for a, b in zip(lo, hi) if b > a])]
    dist = np.abs(det[dj] - ref[ri])
    cand = np.lexsort((dj, ri, det[dj], ref[ri], dist))  # by distance, then reference, then detection position
    ref_used = np.zeros(len(ref), dtype=bool)
    det_used = np.zeros(len(det), dtype=bool)
    out_r, out_d = [], []
    for k in cand:
        i, j = ri[k], dj[k]
        if not ref_used[i] and not det_used[j]:
            ref_used[i] = det_used[j] = True
            out_r.append(i)
            out_d.append(j)
    out_r, out_d = np.array(out_r, dtype=np.int64), np.array(out_d, dtype=np.int64)
    by_time = np.argsort(ref[out_r], kind="stable")
    return out_r[by_time], out_d[by_time]


def match_peaks(reference, detected, tolerance: int):
    """One-to-one matching within ``tolerance`` samples (:func:`match_pairs`): (true pos, false neg, false pos)."""
    ref_i, _ = match_pairs(reference, detected, tolerance)
    tp = len(ref_i)
    return tp, np.size(reference) - tp, np.size(detected) - tp
