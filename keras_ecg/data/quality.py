"""Signal quality of a recording, per segment, before anything is interpreted (NumPy and SciPy only).

:func:`assess` cuts the lead into segments of ``segment_s`` seconds and marks a segment unreadable when

* ``flat``: its peak-to-peak, raw or after the 0.5-40 Hz band-pass, is under ``flat_mv`` (0.05 mV), or
  the range of its band-passed 2nd to 98th percentile under a quarter of that: a lead off, a constant, a
  slow ramp (a time column read as ECG), or a signal not in millivolts;
* ``saturated``: at least ``saturated_share`` (10 %) of its raw samples sit at the segment's own
  minimum or maximum: an amplifier or ADC clipping;
* ``noise``: more than ``noise_share`` (40 %) of its power (above 0.5 Hz) lies above 45 Hz, where an
  ECG has little (MIT-BIH: at most 11 % in any 10 s segment of its 44 records): broadband noise.
  Tested only when the rate is above 100 Hz (at lower rates 45 Hz is at or past the Nyquist frequency).

What it does not catch: noise confined to the ECG's own band (for example Gaussian noise low-passed
under 40 Hz) reads as readable; ventricular flutter, whose low kurtosis resembles such noise, is the
reason no kurtosis test is used.
"""

from __future__ import annotations

import dataclasses

import numpy as np

SEGMENT_S = 10.0
FLAT_MV = 0.05
SATURATED_SHARE = 0.10
NOISE_SHARE = 0.40


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
        seg = np.clip((np.asarray(times_s, dtype=np.float64) // self.segment_s).astype(np.int64), 0,
                      max(len(self.reasons) - 1, 0))
        return ~self.unreadable[seg] if self.reasons else np.zeros(len(seg), dtype=bool)

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
        counts = {k: self.reasons.count(k) for k in ("flat", "saturated", "noise")}
        return {"segment_s": self.segment_s, "segments": len(self.reasons),
                "analysable_fraction": round(self.analysable_fraction, 4), "unreadable_segments": counts,
                "unreadable": [{"start_s": round(a, 3), "end_s": round(b, 3), "reason": r} for a, b, r in self.spans()]}


def _reason(raw, filtered, fs, flat_mv, saturated_share, noise_share) -> str:
    lo, hi = np.percentile(filtered, [2, 98])
    if np.ptp(raw) < flat_mv or np.ptp(filtered) < flat_mv or (hi - lo) < flat_mv / 4:  # (a filter's edge
        # transient on a ramp sits outside the percentiles)
        return "flat"
    lo, hi = raw.min(), raw.max()
    if ((raw <= lo) | (raw >= hi)).mean() >= saturated_share:
        return "saturated"
    if fs > 100.0:
        from scipy.signal import welch

        f, p = welch(raw - raw.mean(), fs, nperseg=min(len(raw), int(2 * fs)))
        total = p[f > 0.5].sum()
        if total > 0 and p[f > 45.0].sum() / total > noise_share:
            return "noise"
    return ""


def assess(x, fs: float, segment_s: float = SEGMENT_S, flat_mv: float = FLAT_MV,
           saturated_share: float = SATURATED_SHARE, noise_share: float = NOISE_SHARE) -> Quality:
    """The :class:`Quality` of one lead ``x`` (mV) at ``fs`` Hz; a last partial segment of >= 2 s counts."""
    from keras_ecg.data import signal as S

    x = np.asarray(x, dtype=np.float64)
    filtered = S.bandpass(x, fs) if len(x) > 3 * fs else x - np.median(x)
    n = max(int(round(segment_s * fs)), 1)
    reasons = []
    for i in range(0, len(x), n):
        raw, filt = x[i:i + n], filtered[i:i + n]
        if len(raw) < 2 * fs and i > 0:  # a short tail joins the verdict of the segment before it
            reasons.append(reasons[-1])
            continue
        reasons.append(_reason(raw, filt, fs, flat_mv, saturated_share, noise_share))
    return Quality(float(fs), float(segment_s), reasons)
