"""Page layout: the pink grid, the trace rows and the 13 lead panels.

A standard 12-lead page holds 3 rows of 4 leads (I aVR V1 V4 / II aVL V2 V5 /
III aVF V3 V6) and a rhythm strip below them, on pink grid paper (``3x4+1``).
Some pages print 6 rows of 2 leads and a rhythm strip, with or without grid
(``6x2+1``), and some 6 rows of 2 leads without a rhythm strip, on grid paper,
with unevenly spaced rows (``6x2``; their 13th panel is lead II's whole 5 s
column, as there is no rhythm strip). The geometry is measured on each page, so it works at any
resolution and page size:

1. the grid's extent: rows and columns with many pink pixels (without a grid:
   the page below its top fifth, where the header is printed, and above the
   footer line; only the 6-row layouts are accepted then);
2. the trace rows: peaks of the dark-pixel profile (the long flat
   baselines), which must be 4 (or 7, or 6) and evenly spaced (``6x2``: not
   closer than a third of the median gap);
3. the trace's horizontal extent, without the calibration pulse at its left;
   the 4 (or 2) lead columns split that extent evenly.

A page that fails a check raises :class:`LayoutError` with the reason, so it is
reported, never cropped wrong. NumPy/SciPy only.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage, signal

from keras_ecg import errors
from keras_ecg.data.images import pulses

# Panels in the order they are stacked (standard lead order, then the rhythm strip).
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6", "rhythm"]
# Where each lead is printed on the page: (row, column) of the 3x4 block.
PAGE_GRID = [
    ["I", "aVR", "V1", "V4"],
    ["II", "aVL", "V2", "V5"],
    ["III", "aVF", "V3", "V6"],
]


class LayoutError(errors.DataError):
    """The page is not a 3x4 + rhythm-strip page on grid paper (or it can't be told)."""


@dataclasses.dataclass
class Layout:
    """Measured geometry of one page, in pixels of that page.

    Attributes:
        grid_box: ``(y0, y1, x0, x1)`` of the pink grid (of the measured region if none).
        rows: the trace baselines (y), top to bottom; the last is the rhythm strip.
        x_start, x_end: the traces' horizontal extent (after the calibration pulse).
        boxes: ``(13, 4)`` int array of ``(y0, y1, x0, x1)`` per panel, in :data:`LEADS` order.
    """

    grid_box: tuple
    rows: tuple
    x_start: int
    x_end: int
    boxes: np.ndarray
    kind: str = "3x4+1"
    gridded: bool = True


def as_rgb(img) -> np.ndarray:
    """``img`` as a uint8 HxWx3 array (gray is repeated, alpha dropped)."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected an HxW, HxWx1, HxWx3 or HxWx4 image, got shape {a.shape}")
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    if a.shape[-1] == 4:
        a = a[..., :3]
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return a


def grid_mask(img) -> np.ndarray:
    """Boolean mask of pink (grid) pixels: bright red above the green-blue mean.

    The threshold is low on purpose: some scans have only a faint pink tint.
    """
    a = as_rgb(img).astype(np.int16)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    return (r > 140) & (2 * r - g - b > 8)


def darkness(img, lo: int = 80, hi: int = 180) -> np.ndarray:
    """Trace darkness in [0, 1] (float32): 1 for ink, 0 for paper and grid.

    Uses the brightest channel, so pink and light-gray grid lines (whose red
    channel is bright) count as paper while the black trace does not.
    """
    a = as_rgb(img)
    m = np.maximum(np.maximum(a[..., 0], a[..., 1]), a[..., 2])
    lut = np.clip((hi - np.arange(256, dtype=np.float32)) / np.float32(hi - lo), 0.0, 1.0)
    return lut[m]


def remove_grid(img) -> np.ndarray:
    """The page with the grid removed: uint8 HxW, trace dark on white paper."""
    return (255.0 * (1.0 - darkness(img))).round().astype(np.uint8)


def _extent(frac: np.ndarray, thr: float):
    idx = np.nonzero(frac > thr)[0]
    if len(idx) == 0:
        return None
    return int(idx[0]), int(idx[-1]) + 1


def find_grid(img) -> tuple:
    """``(y0, y1, x0, x1)`` of the pink grid; LayoutError if there is none."""
    pink = grid_mask(img)
    h, w = pink.shape
    ys = _extent(pink.mean(axis=1), 0.1)
    xs = _extent(pink.mean(axis=0), 0.1)
    if ys is None or xs is None:
        raise LayoutError(f"no pink grid found ({pink.mean():.1%} pink pixels)")
    y0, y1 = ys
    x0, x1 = xs
    if (y1 - y0) < 0.25 * h or (x1 - x0) < 0.4 * w:
        raise LayoutError(
            f"grid too small: {x1 - x0}x{y1 - y0} px on a {w}x{h} page"
        )
    return y0, y1, x0, x1


LAYOUTS = ("3x4+1", "6x2+1", "6x2")  # tried in this order
N_ROWS = {"3x4+1": 4, "6x2+1": 7, "6x2": 6}
_MIN_GAP = {"3x4+1": 8, "6x2+1": 16, "6x2": 16}  # closest rows: grid height / this
# 6x2 + rhythm pages: 6 rows of 2 leads (5 s each), then a 10 s rhythm strip.
PAGE_GRID_6X2 = [
    ["I", "V1"],
    ["II", "V2"],
    ["III", "V3"],
    ["aVR", "V4"],
    ["aVL", "V5"],
    ["aVF", "V6"],
]


def find_layout(img, layouts=LAYOUTS) -> Layout:
    """Measure the layout of a page (see module doc).

    Three layouts are known: ``"3x4+1"`` (3 rows of 4 leads + rhythm strip, on
    grid paper), ``"6x2+1"`` (6 rows of 2 leads + rhythm strip, with or
    without grid) and ``"6x2"`` (6 rows of 2 leads, no rhythm strip, rows
    unevenly spaced). For the 6-row layouts each lead panel is the first 2.5 s
    of its 5 s column, so panels cover the same time span on every layout; on
    ``6x2`` the 13th panel is lead II's whole 5 s column.

    Raises:
        LayoutError: the reason for each layout tried (no grid, not the
            expected number of evenly spaced trace rows, traces that do not
            span the grid...).
    """
    a = as_rgb(img)
    try:
        region = find_grid(a)
        grid_err = None
    except LayoutError as e:
        grid_err = str(e)
        # No grid: skip the printed header (top fifth of the page) and the footer line.
        region = (a.shape[0] // 5, _above_footer(a), 0, a.shape[1])
    y0, y1, x0, x1 = region
    ink = darkness(a[y0:y1, x0:x1]) > 0.5
    reasons = []
    for kind in layouts:
        if kind not in LAYOUTS:
            raise ValueError(f"unknown layout {kind!r}; known: {LAYOUTS}")
        if kind != "6x2+1" and grid_err:
            reasons.append(f"{kind}: {grid_err}")
            continue
        try:
            return _measure(ink, region, kind, gridded=grid_err is None)
        except LayoutError as e:
            reasons.append(f"{kind}: {e}")
    by_pulse = _measure_by_pulses(a, ink, region, layouts, gridded=grid_err is None)
    if by_pulse is not None:
        return by_pulse
    if len(reasons) == 1:
        raise LayoutError(reasons[0].split(": ", 1)[1])
    raise LayoutError("; ".join(reasons))


def _above_footer(a: np.ndarray) -> int:
    """The last row above a printed footer line (a short band of text in the bottom 6 %)."""
    h = a.shape[0]
    ink = darkness(a[h - h // 16 :]) > 0.5
    rows = np.nonzero(ink.any(axis=1))[0]
    if len(rows) == 0:
        return h
    # the footer: the lowest run of inked rows, separated from the traces by a blank gap
    blank = np.nonzero(~ink.any(axis=1))[0]
    above = blank[blank < rows[-1]]
    if len(above) == 0:
        return h
    return h - h // 16 + int(above[-1])


def _fit_rows(ink: np.ndarray, n_rows: int, min_gap: int, even: bool = True):
    peaks, props = _row_peaks(ink, min_gap)
    gh = ink.shape[0]
    where = "in the measured region"
    if len(peaks) < n_rows:
        raise LayoutError(f"found {len(peaks)} trace rows {where}, expected {n_rows}")
    heights = props["peak_heights"]
    order = np.argsort(-heights)
    if len(peaks) > n_rows and heights[order[n_rows]] > 0.6 * heights[order[n_rows - 1]]:
        raise LayoutError(f"found {len(peaks)} trace rows of similar weight {where}, expected {n_rows}")
    rows = np.sort(peaks[order[:n_rows]])
    gaps = np.diff(rows)
    spacing = float(np.median(gaps))
    lo, hi = (0.65, 1.5) if even else (0.33, 2.0)
    if spacing < 0.5 * gh / (n_rows + 1) or gaps.min() < lo * spacing or gaps.max() > hi * spacing:
        raise LayoutError(f"trace rows not evenly spaced: gaps {gaps.tolist()} px")
    return rows, spacing


def _measure_by_pulses(a: np.ndarray, ink: np.ndarray, region, layouts, gridded: bool):
    """The layout from the calibration pulses (one per row), or None.

    The fallback for pages whose traces are too large or noisy for the ink
    profile: the number of pulses names the layout (4, 7 or 6 rows). The
    pulses are looked for from a little above the region (a first pulse may
    rise above the grid)."""
    y0, y1, x0, x1 = region
    pad = min(y0, (y1 - y0) // 10)
    p = pulses.find_pulses(darkness(a[y0 - pad : y1, x0:x1]) > 0.5, y0=-pad)
    if p is None:
        return None
    kind = next((k for k in layouts if N_ROWS[k] == len(p.baselines)), None)
    if kind is None or (kind != "6x2+1" and not gridded):
        return None
    try:
        return _measure(ink, region, kind, gridded, rows=np.asarray(p.baselines))
    except LayoutError:
        return None


def _measure(ink: np.ndarray, region, kind: str, gridded: bool, rows=None) -> Layout:
    y0, y1, x0, x1 = region
    gh, gw = ink.shape
    n = N_ROWS[kind]
    if rows is None:
        rows, spacing = _fit_rows(ink, n, max(2, gh // _MIN_GAP[kind]), even=kind != "6x2")
    else:
        spacing = float(np.median(np.diff(rows)))
    # Horizontal extent of each row's trace, without the calibration pulse.
    half = max(2, int(0.35 * spacing))
    # on 6-row pages the 1 mV pulse is taller than 0.35 row spacings: look higher above the baseline
    above = half if kind == "3x4+1" else max(half, int(0.6 * spacing))
    starts, ends = [], []
    for r in rows:
        band = ink[max(0, r - above) : r + half + 1]
        cols = np.nonzero(band.any(axis=0))[0]
        if len(cols) == 0:
            continue
        starts.append(_after_pulse(band, int(cols[0]), r - max(0, r - above), spacing))
        ends.append(int(cols[-1]) + 1)
    if len(starts) < len(rows):
        raise LayoutError("a trace row has no ink")
    xs, xe = int(np.median(starts)), int(np.median(ends))
    if xe - xs < 0.6 * gw:
        what = "grid" if gridded else "page"
        raise LayoutError(f"traces span {xe - xs} px of a {gw} px wide {what}")
    # Panel boxes, in page coordinates.
    pos = {}
    if kind == "3x4+1":
        col_w = (xe - xs) / 4.0
        for i in range(3):
            for j in range(4):
                pos[PAGE_GRID[i][j]] = (rows[i], xs + j * col_w, xs + (j + 1) * col_w)
        pos["rhythm"] = (rows[3], xs, xe)
    else:
        col_w = (xe - xs) / 2.0
        for i in range(6):
            for j in range(2):
                c0 = xs + j * col_w
                pos[PAGE_GRID_6X2[i][j]] = (rows[i], c0, c0 + col_w / 2.0)
        pos["rhythm"] = (rows[6], xs, xe) if kind == "6x2+1" else (rows[1], xs, xs + col_w)
    halves = _half_heights(rows, spacing, even=kind != "6x2")
    boxes = []
    for lead in LEADS:
        r, c0, c1 = pos[lead]
        hh = halves[list(rows).index(r)]
        top = max(0, int(round(r - hh)))
        bottom = min(gh, int(round(r + hh)))
        boxes.append((y0 + top, y0 + bottom, x0 + int(round(c0)), x0 + int(round(c1))))
    return Layout(
        grid_box=(y0, y1, x0, x1),
        rows=tuple(int(y0 + r) for r in rows),
        x_start=x0 + xs,
        x_end=x0 + xe,
        boxes=np.asarray(boxes, dtype=np.int64),
        kind=kind,
        gridded=gridded,
    )


def _half_heights(rows, spacing: float, even: bool):
    """Half the height of each row's panel: spacing / 2, or on unevenly spaced rows
    half the larger gap to a neighbour (never more than the median spacing)."""
    if even:
        return [spacing / 2.0] * len(rows)
    gaps = np.diff(np.asarray(rows, dtype=np.float64))
    out = []
    for i in range(len(rows)):
        near = [g for g in (gaps[i - 1] if i > 0 else None, gaps[i] if i < len(gaps) else None) if g is not None]
        out.append(min(spacing, max(near)) / 2.0)
    return out


def _row_peaks(ink: np.ndarray, min_gap: int):
    """Trace baselines: peaks of the ink-per-row profile of a boolean image."""
    gh, gw = ink.shape
    profile = ndimage.uniform_filter1d(ink.sum(axis=1).astype(np.float32), max(3, gh // 80))
    return signal.find_peaks(profile, distance=min_gap, height=0.05 * gw)


def _after_pulse(band: np.ndarray, first: int, base: int, spacing: float) -> int:
    """First column after the calibration pulse (a flat-topped step) near ``first``.

    ``top`` is the highest ink row per column; the pulse is the first run of
    columns whose top lies well above the baseline ``base``, starting within
    a short distance of the first ink. Returns ``first`` when there is no pulse.
    """
    w = band.shape[1]
    top = np.where(band.any(axis=0), band.argmax(axis=0), band.shape[0])
    high = top < base - 0.12 * spacing
    limit = min(w, first + max(8, int(0.25 * spacing)))
    rise = np.nonzero(high[first:limit])[0]
    if len(rise) == 0:
        return first
    c = first + int(rise[0])
    y_top = int(top[c : c + 3].min())
    tol = max(2, int(0.04 * spacing))
    end_limit = min(w, c + max(8, int(0.5 * spacing)))
    while c < end_limit and top[c] <= y_top + tol:
        c += 1
    if c >= end_limit:
        return first  # a long high run is a trace, not a pulse
    # Some printers leave a short stub and a gap after the pulse: skip both.
    has = band.any(axis=0)
    look = min(w, c + max(3, int(0.15 * spacing)))
    gap = np.nonzero(~has[c:look])[0]
    if len(gap):
        after = np.nonzero(has[c + gap[0] : look + int(0.3 * spacing)])[0]
        if len(after):
            return c + int(gap[0]) + int(after[0])
    return c


def crop_panels(img, size=(64, 64), layout: Layout | None = None, dilate: int | None = None):
    """The 13 panels of a page, gray, inverted (ink = 255), dilated and resized.

    Args:
        img: the page, HxWx3 (or gray).
        size: ``(height, width)`` of each panel.
        layout: a measured :class:`Layout`; found with :func:`find_layout` if None.
        dilate: size of the grey dilation applied before resizing so thin
            traces survive; default scales with the page (1 per 400 px of height).

    Returns:
        uint8 array ``(13, height, width, 1)`` in :data:`LEADS` order.
    """
    from PIL import Image

    a = as_rgb(img)
    if layout is None:
        layout = find_layout(a)
    ink = (255.0 * darkness(a)).astype(np.uint8)
    if dilate is None:
        dilate = max(1, int(round(a.shape[0] / 400)))
    if dilate > 1:
        ink = ndimage.grey_dilation(ink, size=(dilate, dilate))
    h, w = int(size[0]), int(size[1])
    out = np.zeros((len(LEADS), h, w, 1), np.uint8)
    for k, (t, b, l, r) in enumerate(layout.boxes):
        crop = ink[t:b, l:r]
        if crop.size == 0:
            raise LayoutError(f"panel {LEADS[k]} is empty at {(t, b, l, r)}")
        out[k, :, :, 0] = np.asarray(Image.fromarray(crop).resize((w, h), Image.BOX))
    return out
