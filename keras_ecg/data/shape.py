"""How a beat differs from the patient's own usual beat: shape features relative to a causal template.

Morphology learnt from other patients generalises poorly (a P wave or a bundle-branch block that is
normal for one patient looks ectopic next to another's), so besides the beat itself the model can get
a few numbers that compare the beat with *this* patient's recent beats: for each region of the beat
window, the correlation of the beat with the mean of the previous ``k`` beats (the template, past beats
only, no labels) and the log of their RMS amplitude ratio. Both are invariant to the patient's lead
gain and QRS shape, and they are computed on the filtered, not yet z-scored beats, so the amplitude
ratio keeps what per-beat z-scoring removes.

=============  ===================================================================
region         span of the window (``before`` samples before the R peak, at ``fs``)
=============  ===================================================================
``all``        the whole window
``p``          window start to 50 ms before the R peak (the P wave)
``qrs``        50 ms before to 100 ms after the R peak
``t``          100 ms after the R peak to the window end (the T wave)
=============  ===================================================================

Features (in this order): ``corr_<region>`` and ``amp_<region>`` for each region; a region too short
to measure (a window without a P wave, say) gives correlation 1 and ratio 0 (no difference).
"""

from __future__ import annotations

import numpy as np

REGIONS = ("all", "p", "qrs", "t")
SHAPE_FEATURE_NAMES = tuple(f"{kind}_{r}" for r in REGIONS for kind in ("corr", "amp"))
TEMPLATE_BEATS = 20  # beats in the template when the spec has no template channel of its own
QRS_BEFORE_S, QRS_AFTER_S = 0.05, 0.10


def regions(window: int, before: int, fs: float) -> dict:
    """``{region: (start, stop)}`` sample spans of a beat window (see the module doc)."""
    q0 = max(before - int(round(QRS_BEFORE_S * fs)), 0)
    q1 = min(before + int(round(QRS_AFTER_S * fs)), window)
    return {"all": (0, window), "p": (0, q0), "qrs": (q0, q1), "t": (q1, window)}


def shape_features(beats, template, before: int, fs: float) -> np.ndarray:
    """(n, 8) float32 shape features of ``beats`` against ``template`` (both (n, window), one lead)."""
    b = np.asarray(beats, dtype=np.float64)
    t = np.asarray(template, dtype=np.float64)
    if b.shape != t.shape or b.ndim != 2:
        raise ValueError(f"shape features: beats {b.shape} and template {t.shape} must be equal (n, window).")
    out = []
    for lo, hi in regions(b.shape[1], before, fs).values():
        if hi - lo < 3:
            out += [np.ones(len(b)), np.zeros(len(b))]
            continue
        bb = b[:, lo:hi] - b[:, lo:hi].mean(axis=1, keepdims=True)
        tt = t[:, lo:hi] - t[:, lo:hi].mean(axis=1, keepdims=True)
        eb, et = (bb ** 2).sum(axis=1), (tt ** 2).sum(axis=1)
        corr = (bb * tt).sum(axis=1) / (np.sqrt(eb * et) + 1e-12)
        amp = 0.5 * np.log((eb + 1e-9) / (et + 1e-9))
        out += [corr, amp]
    return np.stack(out, axis=1).astype(np.float32)
