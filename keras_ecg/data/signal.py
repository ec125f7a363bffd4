"""Signal processing for ECG: filtering, baseline removal, resampling,
normalisation and an R-peak detector for signals without annotations.

All functions take NumPy arrays and return float32 arrays; time runs along
``axis`` (the last axis unless stated). NaN or infinite samples raise a
``ValueError`` that says how many there are and where the first one is.
"""

from __future__ import annotations

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


def _sos(fs, low, high, order):
    from scipy.signal import butter

    nyq = fs / 2.0
    if low and high:
        if not 0 < low < high < nyq:
            raise ValueError(f"band-pass needs 0 < low < high < fs/2 = {nyq}; got {low}, {high}.")
        return butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    if low:
        return butter(order, low, btype="highpass", fs=fs, output="sos")
    if high:
        return butter(order, high, btype="lowpass", fs=fs, output="sos")
    raise ValueError("give low and/or high cut-off frequencies.")


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
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    return resample_poly(x, ratio.numerator, ratio.denominator, axis=axis).astype(np.float32)


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
