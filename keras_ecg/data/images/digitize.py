"""Digitisation: an ECG page -> per-lead signals in millivolts against seconds.

:func:`digitize_page` measures the page's layout (:mod:`.panels`) and scale
(:mod:`.grid`: 25 mm/s and 10 mm/mV on the grid, else the calibration pulses
and the traces' 10 s width), then follows each lead's trace column by column:

0. the page's orientation is checked (:func:`.orientation.orient`): an upside-down
   page (its calibration pulses fall at the right of the rows, its traces and
   header point down) is turned by 180 degrees, with a warning naming it, and a
   page whose orientation cannot be told is refused (:class:`.orientation.OrientationError`,
   one line naming the file; ``orientation="upright"`` or ``"rotated"`` overrides);
   a tilted page (a scan) is levelled (:func:`.grid.deskew`);
1. in each pixel column of the lead's stretch of its row, the runs of ink;
   the trace is the chain of runs, one per column, that jumps least over
   blank paper and stays nearest the row's baseline (dynamic programming), so
   text and the neighbouring rows' excursions are passed over; a column of ink
   as tall as the row band (a lead separator) is a gap;
2. a run covers the signal's range over that column: its middle is the
   value, except at a local peak or trough, where its end is;
3. gaps are interpolated, the trace's height above the row's baseline is
   turned into mV, and the columns into seconds, resampled to ``fs`` Hz.

Leads are returned in the standard order (I II III aVR aVL aVF V1-V6) on a
10 s time axis, NaN where the lead was not printed (a 3x4 page prints each
lead for 2.5 s, a 6x2 page for 5 s); the rhythm strip, where there is one,
apart. NumPy/SciPy only.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from keras_ecg.data.images import grid, panels
from keras_ecg.data.images.io import as_page, read_image
from keras_ecg.data.images.orientation import orient

LEADS12 = [lead for lead in panels.LEADS if lead != "rhythm"]
PAGE_SECONDS = 10.0


@dataclasses.dataclass
class Digitized:
    """The signals read from one page.

    Attributes:
        signals: ``(12, T)`` float32 mV at ``fs`` over the page's 10 s, NaN where a lead was not printed.
        fs: sampling rate (Hz).
        lead_names: the 12 lead names, in ``signals`` order.
        layout: the page layout (``3x4+1``, ``6x2+1``, ``6x2``).
        grid_period_px: ``(small, large)`` grid period in px (1 mm, 5 mm), or None without a grid.
        scale_source: where the scale came from: ``grid``, ``pulses+width`` or ``width``.
        px_per_s, px_per_mv: the scale used.
        rhythm: the 10 s rhythm strip in mV (the lead the printer chose, often II), or None.
        spans: lead -> ``(t0, t1)`` seconds it was printed.
        traces: lead (and ``rhythm``) -> ``(x, y)`` page pixels of the followed trace (for plots).
        source: the file name, or ``<array>``.
        skew_deg: the tilt the page was levelled by before reading (degrees).
        page: the (levelled) page the traces were read on; ``traces`` are in its pixels.
    """

    signals: np.ndarray
    fs: float
    lead_names: list
    layout: str
    grid_period_px: tuple | None
    scale_source: str
    px_per_s: float
    px_per_mv: float
    rhythm: np.ndarray | None
    spans: dict
    traces: dict
    source: str = "<array>"
    skew_deg: float = 0.0
    page: np.ndarray | None = dataclasses.field(default=None, repr=False)

    def segment(self, lead: str) -> np.ndarray:
        """The printed stretch of one lead (no NaN), in mV."""
        if lead == "rhythm":
            return self.rhythm
        t0, t1 = self.spans[lead]
        x = self.signals[self.lead_names.index(lead)]
        return x[int(round(t0 * self.fs)) : int(round(t1 * self.fs))]

    def window(self, seconds: float = 2.5, fs: float | None = None) -> np.ndarray:
        """``(round(seconds * fs), 12)``: the first ``seconds`` of each lead's printed stretch.

        Leads printed at different times are laid side by side (as the lead
        panels are); this is the fixed-size input of the 1-D models.
        """
        fs = float(fs or self.fs)
        n = int(round(seconds * fs))
        out = np.zeros((n, len(self.lead_names)), np.float32)
        for k, lead in enumerate(self.lead_names):
            seg = self.segment(lead)
            t = np.arange(len(seg)) / self.fs
            tn = np.arange(n) / fs
            out[:, k] = np.interp(tn, t, seg, right=0.0) if len(seg) else 0.0
        return out


def _column_runs(ink: np.ndarray):
    """``(column, start, stop)`` of every vertical run of True in a 2-D boolean array, ordered by column and
    then by row (all columns at once: one pass over the band instead of one per column)."""
    edge = np.zeros((1, ink.shape[1]), np.int8)
    d = np.diff(np.concatenate((edge, ink.astype(np.int8), edge)), axis=0).T  # (columns, rows + 1)
    col, start = np.nonzero(d == 1)
    _, stop = np.nonzero(d == -1)  # a column's runs start and stop in turn, so the two lists pair up
    return col, start, stop


BASELINE_COST = 0.02  # per px of distance from the row's baseline, per column
GAP_COST = 1.0  # per px of blank between the runs of neighbouring columns
SKIP_COST = 8.0  # per column passed over (a broken trace); jumping to another row costs more
CORE = 1.2  # a run of ink is the row's trace only if it reaches within this many row gaps of its baseline
BAND = 1.4  # ... but it may extend this far (a tall QRS crosses the next row)


def _best_path(cands, baseline: float):
    """The chain of runs (at most one per column) of least cost: jumps over blank paper, a
    cost per column passed over (where the trace is broken or missing), and a small pull
    towards the row's baseline (so a crossing trace of the next row is not followed).

    ``cands``: per column, an array ``(k, 2)`` of ``(start, stop)``; returns the chosen index per
    column (-1 where the column is passed over).
    """
    w = len(cands)
    ext = np.array([[baseline, baseline + 1]], np.float64)  # states: run extents; the last one is "skip"
    cost = np.zeros(1)
    backs = []
    for c in range(w):
        r = np.asarray(cands[c], np.float64).reshape(-1, 2)
        gap = np.maximum(0, np.maximum(r[None, :, 0] - ext[:, None, 1], ext[:, None, 0] - r[None, :, 1]))
        total = cost[:, None] + GAP_COST * gap  # (previous states, runs)
        best = np.argmin(total, axis=0) if len(r) else np.zeros(0, np.int64)
        skip_from = int(np.argmin(cost))
        new_ext = np.concatenate([r, ext[skip_from : skip_from + 1]], axis=0)
        new_cost = np.concatenate([total[best, np.arange(len(r))], [cost[skip_from] + SKIP_COST]])
        new_cost = new_cost + BASELINE_COST * np.abs(0.5 * (new_ext[:, 0] + new_ext[:, 1] - 1) - baseline)
        backs.append(np.concatenate([best, [skip_from]]))
        ext, cost = new_ext, new_cost
    choice = [-1] * w
    k = int(np.argmin(cost))
    for c in range(w - 1, -1, -1):
        n_runs = len(cands[c])
        choice[c] = k if k < n_runs else -1
        k = int(backs[c][k])
    return choice


def follow_trace(ink: np.ndarray, baseline: float, max_run: float, core=None):
    """The trace's y (px, band coordinates) in each column of a boolean band ``ink``.

    ``core``: ``(y0, y1)``; only runs of ink reaching into these rows are candidates (the
    neighbouring rows' traces lie outside it). Returns float array ``(W,)``, NaN where a
    column has no trace.
    """
    h, w = ink.shape
    lo, hi = core if core is not None else (0, h)
    col, s, e = _column_runs(ink)
    keep = ((e - s) < max_run) & (e > lo) & (s < hi)
    runs = np.stack([s[keep], e[keep]], axis=1).astype(np.int64)
    cands = np.split(runs, np.cumsum(np.bincount(col[keep], minlength=w))[:-1])  # per column, (k, 2)
    choice = _best_path(cands, baseline)
    top = np.full(w, np.nan)
    bot = np.full(w, np.nan)
    for c, k in enumerate(choice):
        if k >= 0:
            top[c], bot[c] = cands[c][k, 0], cands[c][k, 1] - 1
    mid = 0.5 * (top + bot)
    lw = np.nanmedian(bot - top) + 1 if np.isfinite(top).any() else 1.0
    y = mid.copy()
    # a run spans the signal's range over its column: at a peak or a trough the value is the run's end
    tp = np.r_[np.inf, top, np.inf]
    bt = np.r_[-np.inf, bot, -np.inf]
    with np.errstate(invalid="ignore"):
        tall = bot - top + 1 > lw + 1
        peak = (top <= np.fmin(tp[:-2], tp[2:])) & (top < np.fmax(tp[:-2], tp[2:])) & tall
        trough = (bot >= np.fmax(bt[:-2], bt[2:])) & (bot > np.fmin(bt[:-2], bt[2:])) & tall
    y[peak] = top[peak] + 0.5 * (lw - 1)
    y[trough & ~peak] = bot[trough & ~peak] - 0.5 * (lw - 1)
    return y


def _fill(y: np.ndarray) -> np.ndarray:
    ok = np.isfinite(y)
    if not ok.any():
        return np.zeros_like(y)
    idx = np.arange(len(y))
    return np.interp(idx, idx[ok], y[ok])


def _stretches(layout: panels.Layout):
    """lead -> (row index, x0, x1, t0) of the whole printed stretch of each lead (not the 2.5 s panel)."""
    xs, xe = layout.x_start, layout.x_end
    if layout.kind == "3x4+1":
        names, n_cols = panels.PAGE_GRID, 4
    else:
        names, n_cols = panels.PAGE_GRID_6X2, 2
    col = (xe - xs) / n_cols
    out = {}
    for i, row in enumerate(names):
        for j, lead in enumerate(row):
            out[lead] = (i, xs + j * col, xs + (j + 1) * col, j * PAGE_SECONDS / n_cols)
    if layout.kind != "6x2":
        out["rhythm"] = (len(layout.rows) - 1, xs, xe, 0.0)
    return out


def _band(layout: panels.Layout, i: int, page_h: int, reach: float):
    """Rows ``(y0, y1)`` of the page within ``reach`` row gaps above and below row ``i``'s baseline."""
    rows = list(layout.rows)
    up = rows[i] - rows[i - 1] if i > 0 else (rows[1] - rows[0] if len(rows) > 1 else rows[0])
    down = rows[i + 1] - rows[i] if i + 1 < len(rows) else up
    return max(0, int(rows[i] - reach * up)), min(page_h, int(rows[i] + reach * down) + 1)


def digitize_page(path_or_array, fs: float = 250.0, layout: panels.Layout | None = None,
                  name: str | None = None, deskew: bool = True, orientation: str = "auto") -> Digitized:
    """Digitise one page (a file path or an HxWx3 array; ``name`` names an array in errors); see the module doc.

    ``orientation``: ``"auto"`` (check; turn an upside-down page, refuse one that cannot be told),
    ``"upright"`` (take the page as it is) or ``"rotated"`` (turn it by 180 degrees first); see
    :func:`.orientation.orient`. ``layout`` is used only for a page that is not turned.

    Raises:
        ImageError: the file is not a readable image (the message names it).
        OrientationError: ``auto`` and the page may be upside down (one line naming the file and the override).
        LayoutError: the page's layout (rows of traces) cannot be read, naming the file.
    """
    if isinstance(path_or_array, (str, os.PathLike)):
        name = str(path_or_array)
        page = read_image(name)
    else:
        name = name or "<array>"
        page = as_page(path_or_array)
    page, turned = orient(page, None if name == "<array>" else name, orientation)  # upside down: inverted, reversed traces
    if turned:
        layout = None
    page, skew = grid.deskew(page) if deskew else (page, 0.0)
    if skew:
        layout = None  # measured again on the levelled page
    try:
        layout = layout or panels.find_layout(page)
        scale = grid.measure_scale(page, layout)
    except panels.LayoutError as e:
        if name == "<array>":
            raise
        raise type(e)(f"{name}: {e}") from None
    ink = panels.darkness(page) > 0.5
    n = int(round(PAGE_SECONDS * fs))
    signals = np.full((12, n), np.nan, np.float32)
    spans, traces, rhythm = {}, {}, None
    px_s, px_mv = scale.px_per_s, scale.px_per_mv
    for lead, (i, x0, x1, t0) in _stretches(layout).items():
        b0, b1 = _band(layout, i, page.shape[0], BAND)
        q0, q1 = _band(layout, i, page.shape[0], CORE)
        # a little inside the stretch: the separator lines and lead labels sit at its edges
        c0, c1 = int(round(x0)) + 3, int(round(x1)) - 1
        band = ink[b0:b1, c0:c1]
        base = layout.rows[i] - b0
        y = _fill(follow_trace(band, base, max_run=0.85 * (q1 - q0), core=(q0 - b0, q1 - b0)))
        mv = (base - y) / px_mv
        t = t0 + (np.arange(c0, c1) - x0) / px_s
        dur = (x1 - x0) / px_s
        k0 = int(round(t0 * fs))
        k1 = min(n, int(round((t0 + dur) * fs)))
        tn = np.arange(k0, k1) / fs
        sig = np.interp(tn, t, mv).astype(np.float32)
        traces[lead] = (np.arange(c0, c1), y + b0)
        if lead == "rhythm":
            rhythm = sig
            continue
        signals[LEADS12.index(lead), k0:k1] = sig
        spans[lead] = (k0 / fs, k1 / fs)
    period = (scale.small_period_px, scale.large_period_px) if scale.source == "grid" else None
    return Digitized(signals, float(fs), list(LEADS12), layout.kind, period, scale.source, float(px_s),
                     float(px_mv), rhythm, spans, traces, name, skew, page)
