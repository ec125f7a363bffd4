"""RR-interval features of beats, normalised to the patient's own rhythm.

Supraventricular (S) beats differ from normal ones mostly in timing: they come
early relative to the patient's usual rhythm. So every beat gets its RR
intervals and their ratios to a *causal* baseline of the same recording:

=================  ==========================================================
``pre_rr``         seconds since the previous R peak
``post_rr``        seconds to the next R peak (a one-beat look-ahead: the beat
                   is classified once the next R peak is seen; the last beat
                   of a recording uses its ``pre_rr``)
``local_rr``       mean of the last ``local_beats`` pre-RR intervals, this
                   beat's included (past only)
``baseline_rr``    mean pre-RR of the beats in the past ``baseline_s`` seconds,
                   this beat included (past only; the first beats of a
                   recording average what there is)
``pre_ratio``      ``pre_rr / baseline_rr``
``post_ratio``     ``post_rr / baseline_rr``
``local_ratio``    ``local_rr / baseline_rr``
``pre_local``      ``pre_rr / local_rr``
=================  ==========================================================

With ``rr_context`` (``--rr-context``) three more describe the rhythm around the beat, so that an
irregular rhythm (atrial fibrillation, sinus arrhythmia, a changing AV block) is not read as prematurity:

=================  ==========================================================
``pre_prev``       ``pre_rr`` / the previous beat's ``pre_rr`` (abruptness)
``pre_median``     ``pre_rr`` / the median of the ``median_beats`` pre-RR
                   intervals before it (robust to the ectopic beats among them)
``irregularity``   0.01 + the median absolute difference of successive pre-RR
                   intervals over the last ``irregular_beats`` beats, divided
                   by their median (past only; high in AF)
=================  ==========================================================

Everything is computed from the R-peak positions the beats were cut at
(reference annotations when training, detected peaks when deployed), never from
labels and never from a statistic of the whole recording: a beat's features use
the past and the next R peak only. The first beat's ``pre_rr`` is its
``post_rr``.
"""

from __future__ import annotations

import numpy as np

RR_FEATURE_NAMES = ("pre_rr", "post_rr", "local_rr", "baseline_rr",
                    "pre_ratio", "post_ratio", "local_ratio", "pre_local")
RR_CONTEXT_NAMES = ("pre_prev", "pre_median", "irregularity")
LOCAL_BEATS = 10
MEDIAN_BEATS = 8
IRREGULAR_BEATS = 16
BASELINE_S = 300.0


def rr_features(peaks, fs: float, local_beats: int = LOCAL_BEATS, baseline_s: float = BASELINE_S) -> np.ndarray:
    """(n, 8) float32 RR features (see the module doc) of R peaks at sample positions ``peaks``."""
    t = np.asarray(peaks, dtype=np.float64) / float(fs)
    n = len(t)
    if n == 0:
        return np.zeros((0, len(RR_FEATURE_NAMES)), dtype=np.float32)
    if n == 1:
        d = np.array([1.0])  # one beat: no rhythm known; a neutral 60 bpm
    else:
        d = np.diff(t)
        if (d <= 0).any():
            raise ValueError("R peaks must be strictly increasing.")
    pre = np.concatenate([d[:1], d]) if n > 1 else d
    post = np.concatenate([d, d[-1:]]) if n > 1 else d
    c = np.concatenate([[0.0], np.cumsum(pre)])
    idx = np.arange(n)
    lo = np.maximum(idx + 1 - int(local_beats), 0)
    local = (c[idx + 1] - c[lo]) / (idx + 1 - lo)
    first = np.searchsorted(t, t - float(baseline_s), side="right")  # beats inside (t - baseline_s, t]
    base = (c[idx + 1] - c[first]) / (idx + 1 - first)
    feats = np.stack([pre, post, local, base, pre / base, post / base, local / base, pre / local], axis=1)
    return feats.astype(np.float32)


def _past_windows(x, k):
    """(n, k) windows of the ``k`` values before each position (edge-padded with the first value)."""
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.concatenate([np.full(k, x[0]), x])
    return sliding_window_view(padded, k)[: len(x)]


def rr_context(peaks, fs: float, median_beats: int = MEDIAN_BEATS, irregular_beats: int = IRREGULAR_BEATS) -> np.ndarray:
    """(n, 3) float32 rhythm-context features (``RR_CONTEXT_NAMES``, see the module doc) of R peaks ``peaks``."""
    pre = rr_features(peaks, fs)[:, 0].astype(np.float64)
    n = len(pre)
    if n == 0:
        return np.zeros((0, len(RR_CONTEXT_NAMES)), dtype=np.float32)
    prev = np.concatenate([pre[:1], pre[:-1]])
    med = np.median(_past_windows(pre, median_beats), axis=1)
    d = np.abs(np.diff(pre, prepend=pre[0]))
    w = _past_windows(np.concatenate([d[1:], d[-1:]]), irregular_beats)  # |pre(i) - pre(i-1)| up to beat i
    irr = 0.01 + np.median(w, axis=1) / np.median(_past_windows(pre, irregular_beats), axis=1)
    return np.stack([pre / prev, pre / med, irr], axis=1).astype(np.float32)
