"""How well :func:`.digitize.digitize_page` recovers known signals from rendered pages.

:func:`render_and_digitize` draws a page with :mod:`.synthetic_pages` from
known 12-lead signals, digitises it and scores each lead against what was
drawn: Pearson correlation and SNR (dB; signal power over the power of the
difference, both with their median removed, as the renderer centres each
stretch on its median).
"""

from __future__ import annotations

import numpy as np

from keras_ecg.data.images import digitize, synthetic_pages


def score(known: np.ndarray, got: np.ndarray) -> tuple:
    """``(correlation, snr_db)`` of ``got`` against ``known`` (same rate; cut to the shorter)."""
    n = min(len(known), len(got))
    a = np.asarray(known[:n], np.float64)
    b = np.asarray(got[:n], np.float64)
    a = a - np.median(a)
    b = b - np.median(b)
    if n < 3 or a.std() == 0 or b.std() == 0:
        return 0.0, float("-inf")
    r = float(np.corrcoef(a, b)[0, 1])
    err = a - b
    snr = float(10 * np.log10(np.sum(a**2) / max(np.sum(err**2), 1e-12)))
    return r, snr


def drawn_segments(signals: dict, layout: str = "3x4+1", width: int = 1107, height: int = 786,
                   look: str = "cardiac") -> dict:
    """lead (and ``rhythm``) -> the samples the renderer drew for it (median removed), at :data:`synthetic_pages.FS`."""
    g = synthetic_pages.page_geometry(width, height, look, layout)
    fs = synthetic_pages.FS
    out = {}
    for name, _row, _c0, _c1, ta, tb in g["draw"]:
        seg = np.asarray(signals[name], np.float64)[int(ta * fs) : int(tb * fs)]
        out["rhythm" if name in out else name] = seg - np.median(seg)  # lead II again: the rhythm strip
    return out


def render_and_digitize(cls: str = "normal", seed: int = 0, layout: str = "3x4+1", grid: bool = True,
                        look: str = "cardiac", width: int = 1107, height: int = 786) -> dict:
    """Render one page from known signals, digitise it, score every lead: a dict for the benchmark."""
    sig = synthetic_pages.leads(cls, seed)
    page = synthetic_pages.render_page(cls, seed=seed, width=width, height=height, look=look, signals=sig,
                                       layout=layout, grid=grid)
    d = digitize.digitize_page(page, fs=synthetic_pages.FS)
    per_lead = {}
    for lead, known in drawn_segments(sig, layout, width, height, look).items():
        r, snr = score(known, d.segment(lead))
        per_lead[lead] = {"correlation": r, "snr_db": snr}
    return {"layout": d.layout, "detected_layout": d.layout == layout, "scale_source": d.scale_source,
            "grid_period_px": d.grid_period_px, "px_per_mv": d.px_per_mv, "per_lead": per_lead}
