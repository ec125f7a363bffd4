"""Signal quality of a recording, per segment, before anything is interpreted (NumPy and SciPy only).

:func:`assess` cuts the lead into segments of ``segment_s`` seconds (10 s) and marks a segment unreadable when

* ``flat``: its peak-to-peak after removing its straight-line trend is under ``flat_mv`` (0.05 mV): a
  lead off, a constant, a ramp (a time column read as ECG), or a signal not in millivolts;
* ``saturated``: at least ``saturated_share`` (10 %) of its samples sit at its own minimum or maximum:
  an amplifier or ADC clipping;
* ``noise``: more than ``noise_share`` (40 %) of its power above 0.5 Hz lies above 45 Hz, where an
  ECG has little (MIT-BIH: at most 11 % in any 10 s segment of its 48 records): broadband noise. Tested
  only above 100 Hz (at lower rates 45 Hz is at or past the Nyquist frequency).

A last partial segment shorter than 2 s takes the verdict of the one before it. :func:`assess_read`
does the same on a recording read in blocks (``read(lo, hi)``), for long recordings.

What it does not catch: noise confined to the ECG's own band (for example Gaussian noise low-passed
under 40 Hz) reads as readable; ventricular flutter, whose low kurtosis resembles such noise, is the
reason no kurtosis test is used. On MIT-BIH 1 of its 8,688 segments is marked (record 116, clipped).
"""

from __future__ import annotations

import dataclasses

import numpy as np

SEGMENT_S = 10.0
FLAT_MV = 0.05
SATURATED_SHARE = 0.10
NOISE_SHARE = 0.40
REASONS = ("flat", "saturated", "noise")


@dataclasses.dataclass
class Quality:
    fs: float
    segment_s: float
    reasons: list  # per segment: "" (readable), "flat", "saturated" or "noise"

    @property
    def unreadable(self) -> np.ndarray:
        return np.array([bool(r) for r in self.reasons], dtype=bool)

    @property
    def analysable_fraction(self) -> float:
        return float(1.0 - self.unreadable.mean()) if self.reasons else 0.0

    def readable_at(self, times_s) -> np.ndarray:
        """Per time (s): True when it falls in a readable segment."""
        t = np.asarray(times_s, dtype=np.float64)
        if not self.reasons:
            return np.zeros(len(t), dtype=bool)
        seg = np.clip((t // self.segment_s).astype(np.int64), 0, len(self.reasons) - 1)
        return ~self.unreadable[seg]

    def spans(self) -> list:
        """``[(start_s, end_s, reason)]`` of the unreadable stretches (neighbouring segments joined)."""
        out = []
        for i, r in enumerate(self.reasons):
            if not r:
                continue
            a, b = i * self.segment_s, (i + 1) * self.segment_s
            if out and out[-1][1] == a and out[-1][2] == r:
                out[-1] = (out[-1][0], b, r)
            else:
                out.append((a, b, r))
        return out

    def to_dict(self) -> dict:
        return {"segment_s": self.segment_s, "segments": len(self.reasons),
                "analysable_fraction": round(self.analysable_fraction, 4),
                "unreadable_segments": {k: self.reasons.count(k) for k in REASONS},
                "unreadable": [{"start_s": round(a, 3), "end_s": round(b, 3), "reason": r} for a, b, r in self.spans()]}


def _reasons(rows, fs, flat_mv, saturated_share, noise_share) -> list:
    """The verdict of each row of ``rows`` (segments, samples)."""
    from scipy.signal import detrend, welch

    flat = np.ptp(detrend(rows, axis=1), axis=1) < flat_mv
    lo, hi = rows.min(axis=1, keepdims=True), rows.max(axis=1, keepdims=True)
    saturated = ((rows <= lo) | (rows >= hi)).mean(axis=1) >= saturated_share
    noise = np.zeros(len(rows), dtype=bool)
    if fs > 100.0:
        f, p = welch(rows - rows.mean(axis=1, keepdims=True), fs, nperseg=min(rows.shape[1], int(2 * fs)), axis=1)
        total = p[:, f > 0.5].sum(axis=1)
        noise = p[:, f > 45.0].sum(axis=1) > noise_share * np.maximum(total, 1e-30)
    return ["flat" if a else "saturated" if b else "noise" if c else "" for a, b, c in zip(flat, saturated, noise)]


def assess(x, fs: float, segment_s: float = SEGMENT_S, flat_mv: float = FLAT_MV,
           saturated_share: float = SATURATED_SHARE, noise_share: float = NOISE_SHARE) -> Quality:
    """The :class:`Quality` of one lead ``x`` (mV) at ``fs`` Hz (see the module doc)."""
    x = np.asarray(x, dtype=np.float64)
    n = max(int(round(segment_s * fs)), 1)
    k = len(x) // n
    reasons = _reasons(x[:k * n].reshape(k, n), fs, flat_mv, saturated_share, noise_share) if k else []
    tail = x[k * n:]
    if len(tail) >= 2 * fs or (len(tail) and not reasons):
        reasons += _reasons(tail[None, :], fs, flat_mv, saturated_share, noise_share)
    elif len(tail):
        reasons.append(reasons[-1])
    return Quality(float(fs), float(segment_s), reasons)


def assess_read(read, n_samples: int, fs: float, block_segments: int = 180, segment_s: float = SEGMENT_S) -> Quality:
    """:func:`assess` of a recording of ``n_samples`` read ``block_segments`` segments at a time by ``read(lo, hi)``."""
    n = max(int(round(segment_s * fs)), 1)
    block = n * block_segments
    reasons = []
    for lo in range(0, n_samples, block):
        reasons += assess(read(lo, min(lo + block, n_samples)), fs, segment_s).reasons
    return Quality(float(fs), float(segment_s), reasons)
