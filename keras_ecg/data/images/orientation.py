"""Page orientation: is a page upright, or turned by 180 degrees (upside down)?

A page digitised upside down gives traces that are inverted and reversed in time, with no error, so
:func:`orient` decides before any trace is read, from three cues, each measured so that a page turned by
180 degrees gives exactly the opposite value:

1. the calibration pulses (:func:`pulse_cue`): every row of a 12-lead page starts, at its LEFT, with a
   1 mV rectangular pulse that RISES from the baseline (a ``⊓``: two equal vertical strokes joined at the
   top, open at the bottom). Turned by 180 degrees it becomes a ``⊔`` at the RIGHT end of the row. The cue
   counts the ``⊓`` in the left quarter of the page against the ``⊔`` in the right quarter;
2. the traces (:func:`trace_cue`): more ink just above the rows' baselines than below them (QRS complexes
   are dominated by an upward R wave in most leads);
3. the printed header (:func:`text_cue`): more ink above the pink grid than below it (0 without a grid).

The score is ``trace + TEXT_WEIGHT * text + PULSE_WEIGHT * pulses`` (> 0 upright). ``auto`` keeps a page
scoring at least :data:`MARGIN`, turns one scoring at most ``-MARGIN`` (with a warning), and refuses the
rest, and any page whose pulses and other cues point opposite ways, with one line naming the file, saying it
may be upside down and how to choose (``--orientation upright`` or ``rotated``). NumPy/SciPy only.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from scipy import ndimage

from keras_ecg.data.images import panels

MODES = ("auto", "upright", "rotated")
TEXT_WEIGHT = 0.3  # weight of the header cue beside the trace cue
PULSE_WEIGHT = 0.5  # weight of the calibration-pulse cue (in [-1, 1]) beside the trace cue
MARGIN = 0.3  # |score| below this: ambiguous, refused in auto mode
# Chosen on the even half of the share's pages only (split by the sha256 of each file; 366 pages): there 365
# pages show 3-8 rising pulses at the left and none falling at the right (one shows 1), so every upright page
# scores >= 0.475 with PULSE_WEIGHT 0.5, while the trace and header cues alone leave 21 pages under 0.15 and 3
# under 0. MARGIN 0.3 keeps one pulse alone (0.25) from deciding, and asks the trace and header cues, where no
# pulse is found, for twice the old threshold (0.15). The figures on the held-out odd half, on all pages and
# on synthetic pages: benchmarks/results/image_orientation.md.


class OrientationError(panels.LayoutError):
    """A page whose orientation cannot be told (it may be upside down); the message names the file. A
    :class:`~.panels.LayoutError`: wherever a page whose layout cannot be read is skipped or named, so is it."""


@dataclasses.dataclass
class Orientation:
    """What :func:`assess` measured on a page (as given, not turned).

    Attributes:
        decision: ``"upright"``, ``"rotated"`` (turned by 180 degrees) or ``"ambiguous"``.
        score: the combined score (> 0 upright); a page turned by 180 degrees scores the negative.
        pulses_up, pulses_down: rising calibration pulses at the left, falling ones at the right.
        trace, text: the trace and header cues (each in [-1, 1]).
        why: for ``ambiguous``, the reason.
    """

    decision: str
    score: float
    pulses_up: int
    pulses_down: int
    trace: float
    text: float
    why: str = ""


def _turn(a: np.ndarray) -> np.ndarray:
    return a[::-1, ::-1]


def _ink_side(ink) -> float:
    """``(above - below) / (above + below)`` of the ink beside the traces' baselines (QRS complexes point up)."""
    from scipy.signal import find_peaks

    h = ink.shape[0]
    prof = ink.sum(axis=1).astype(np.float64)
    if prof.max() <= 0:
        return 0.0
    rows, _ = find_peaks(prof, height=0.3 * prof.max(), distance=max(3, h // 12))
    m = max(4, h // 16)
    above = sum(int(ink[max(0, y - m):max(0, y - 2)].sum()) for y in rows)
    below = sum(int(ink[y + 3:y + m].sum()) for y in rows)
    return (above - below) / max(above + below, 1)


def _text_side(img, ink) -> float:
    """``(above - below) / (above + below)`` of the ink outside the pink grid (0 without one)."""
    try:
        y0, y1, _, _ = panels.find_grid(img)
    except panels.LayoutError:
        return 0.0
    above, below = int(ink[:y0].sum()), int(ink[y1:].sum())
    return (above - below) / max(above + below, 1)


def trace_cue(img, ink=None) -> float:
    """The trace cue, in [-1, 1]: half the difference of :func:`_ink_side` on the page and on the page turned."""
    ink = panels.darkness(img) > 0.5 if ink is None else ink
    return 0.5 * (_ink_side(ink) - _ink_side(_turn(ink)))


def text_cue(img, ink=None) -> float:
    """The header cue, in [-1, 1]: the text balance around the grid. The grid's box turns with the page, so a
    page turned by 180 degrees gives exactly the negative."""
    a = panels.as_rgb(img)
    return _text_side(a, panels.darkness(a) > 0.5 if ink is None else ink)


def _strokes(ink: np.ndarray, w: int):
    """Thin vertical strokes ``(x_mid, top, bottom, x0, x1)``, left to right: runs of ink at least 1.2 % of
    the page width ``w`` tall (a 1 mV pulse is 3-5 %), at most 0.6 % wide."""
    lmin = max(8, int(0.012 * w))
    lab, _ = ndimage.label(ndimage.binary_opening(ink, structure=np.ones((lmin, 1), bool)), structure=np.ones((3, 3)))
    out = []
    for sl in ndimage.find_objects(lab):
        y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        if x1 - x0 <= max(3, 0.006 * w) and y1 - y0 <= 0.1 * w:
            out.append((0.5 * (x0 + x1 - 1), y0, y1 - 1, x0, x1))
    return sorted(out)


def pulse_cue(img) -> tuple:
    """``(up, down)``: calibration pulses rising at the left (``⊓`` in the left quarter: an upright page) and
    falling at the right (``⊔`` in the right quarter: a page turned by 180 degrees).

    A pulse is two vertical strokes of equal extent (within 8 %), 0.5-3 % of the page width apart, with ink
    along the top between them and none along the bottom (``⊔``: the reverse) and a blank inside. Faint,
    thin pulses (light gray, split over two pixel columns) are found on the darkness summed over two
    neighbouring pixels; closed boxes (gray grid cells) are neither.
    """
    a = panels.as_rgb(img)
    w = a.shape[1]
    q = int(0.3 * w)  # a pulse counted in the left (right) quarter has both strokes within 0.3 of the width
    up = _pulses(panels.darkness(a[:, :q], lo=80, hi=230), w, 0)[0]
    down = _pulses(panels.darkness(a[:, w - q:], lo=80, hi=230), w, w - q)[1]
    return up, down


def _pulses(d: np.ndarray, w: int, x0: int) -> tuple:
    """``(up, down)``: ``⊓`` pulses centred in the page's left quarter and ``⊔`` in its right quarter, in the strip
    ``d`` (darkness) starting at column ``x0`` of a page ``w`` wide."""
    e = np.pad(d, 1)  # a thin line split over two pixels: each pixel plus its darker neighbour (either side)
    v = d + np.maximum(e[1:-1, :-2], e[1:-1, 2:])
    hz = d + np.maximum(e[:-2, 1:-1], e[2:, 1:-1])
    ink = np.maximum(v, hz) > 0.5
    s = _strokes(v > 0.5, w)
    wmin, wmax = max(5.0, 0.005 * w), 0.03 * w
    up = down = 0
    for i, (xa, ta, ba, _, a1) in enumerate(s):
        tol = max(2.0, 0.08 * (ba - ta + 1))
        for xb, tb, bb, b0, _ in s[i + 1:]:
            if xb - xa > wmax:
                break
            if xb - xa < wmin or b0 - a1 < 3 or abs(ta - tb) > tol or abs(ba - bb) > tol:
                continue
            top, bot = min(ta, tb), max(ba, bb)
            th = max(2, int(0.15 * (bot - top + 1)))
            inner = slice(a1, b0)
            if bot - th + 1 <= top + th or ink[top + th:bot - th + 1, inner].mean() > 0.05:
                continue  # not a blank inside
            top_ink = ink[top:top + th, inner].any(axis=0).mean()
            bottom_ink = ink[bot - th + 1:bot + 1, inner].any(axis=0).mean()
            x = (x0 + 0.5 * (xa + xb)) / w
            up += bool(top_ink > 0.9 and bottom_ink < 0.2 and x < 0.25)
            down += bool(bottom_ink > 0.9 and top_ink < 0.2 and x > 0.75)
    return up, down


def _pulse_value(up: int, down: int) -> float:
    """The pulse cue in [-1, 1]: the balance of rising and falling pulses, trusted in full from 2 pulses on."""
    n = up + down
    return 0.0 if n == 0 else (up - down) / n * min(1.0, n / 2.0)


def decide(trace: float, text: float, up: int, down: int) -> Orientation:
    """The decision from the cues (see the module doc): the score, and ``ambiguous`` when it is within
    :data:`MARGIN` of 0 or when the pulses and the other cues point opposite ways."""
    p = _pulse_value(up, down)
    other = trace + TEXT_WEIGHT * text
    score = float(other + PULSE_WEIGHT * p)
    if abs(score) < MARGIN:
        decision, why = "ambiguous", f"orientation score {score:+.2f} is within {MARGIN:g} of 0"
    elif abs(p) >= 0.5 and abs(other) >= MARGIN and np.sign(p) != np.sign(other):
        decision, why = "ambiguous", (f"the calibration pulses ({up} rising at the left, {down} falling at the "
                                      f"right) and the traces/header ({other:+.2f}) disagree")
    else:
        decision, why = ("upright" if score > 0 else "rotated"), ""
    return Orientation(decision, score, int(up), int(down), float(trace), float(text), why)


def assess(img) -> Orientation:
    """Measure the cues of the page ``img`` and :func:`decide`."""
    a = panels.as_rgb(img)
    ink = panels.darkness(a) > 0.5
    return decide(trace_cue(a, ink), text_cue(a, ink), *pulse_cue(a))


def orientation_score(img) -> float:
    """The combined score of :func:`assess`: > 0 upright, < 0 upside down; a page turned by 180 degrees scores
    the negative."""
    return assess(img).score


def orient(page: np.ndarray, name: str | None = None, mode: str = "auto"):
    """``(page, turned)``: ``page`` the right way up.

    ``mode``: ``"auto"`` (decide with :func:`assess`: keep, turn with a warning naming ``name``, or refuse),
    ``"upright"`` (take the page as it is, no check) or ``"rotated"`` (turn it by 180 degrees, no check).
    ``name`` (the file) starts the messages; without it they start with ``page``.

    Raises:
        OrientationError: ``auto`` and the orientation cannot be told; one line naming ``name``.
    """
    if mode not in MODES:
        raise ValueError(f"orientation must be one of {MODES}, got {mode!r}")
    if mode == "upright":
        return page, False
    if mode == "rotated":
        return np.ascontiguousarray(_turn(page)), True
    o = assess(page)
    who = f"{name}: the" if name else "the"
    if o.decision == "ambiguous":
        raise OrientationError(f"{who} page may be upside down ({o.why}); not digitised; if it is the right way "
                               "up give --orientation upright (orientation='upright'), if it is upside down "
                               "--orientation rotated")
    if o.decision == "rotated":
        warnings.warn(f"{who} page is upside down (orientation score {o.score:.2f}, {o.pulses_down} calibration "
                      "pulse(s) falling at the right); rotated by 180 degrees before digitising")
        return np.ascontiguousarray(_turn(page)), True
    return page, False
