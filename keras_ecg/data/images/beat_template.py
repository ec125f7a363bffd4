"""The median beat of each digitised lead: the shape a cardiologist reads (Q waves, ST level, T waves).

:func:`median_beats` finds the beats of each lead on its own (the lead's largest deflections, at least
:data:`MIN_RR_S` apart) and takes the sample-wise median of the windows around them; a lead with no
beat whole inside the window gives zeros. :func:`features` flattens the templates (every
:data:`STEP`-th sample) for a classical classifier. NumPy and SciPy only.
"""

from __future__ import annotations

import numpy as np

PRE_S, POST_S = 0.25, 0.45  # the window around each beat's largest deflection
MIN_RR_S = 0.3  # beats closer than this are one beat
STEP = 2  # features keep every STEP-th template sample


def median_beats(x, fs: float, pre_s: float = PRE_S, post_s: float = POST_S) -> np.ndarray:
    """``(leads, pre + post)`` median beat per lead of ``x`` ``(T, leads)`` in mV, baseline (median) removed."""
    from scipy.signal import find_peaks

    x = np.asarray(x, np.float64)
    pre, post = int(round(pre_s * fs)), int(round(post_s * fs))
    out = np.zeros((x.shape[1], pre + post))
    for lead in range(x.shape[1]):
        s = x[:, lead] - np.median(x[:, lead])
        e = np.abs(s)
        if not np.isfinite(e).all() or e.max() <= 0:
            continue
        peaks, _ = find_peaks(e, distance=max(1, int(MIN_RR_S * fs)), prominence=0.3 * e.max())
        peaks = peaks[(peaks >= pre) & (peaks < len(s) - post)]
        if len(peaks):
            out[lead] = np.median(np.stack([s[p - pre:p + post] for p in peaks]), axis=0)
    return out


def features(x, fs: float) -> np.ndarray:
    """The median beats of ``x`` ``(T, leads)`` as one flat float32 vector."""
    return median_beats(x, fs)[:, ::STEP].ravel().astype(np.float32)
