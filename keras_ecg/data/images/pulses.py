"""The 1 mV calibration pulses printed at the left of each trace row.

Every row of a 12-lead page starts with a rectangular pulse: the pen rises
1 mV (10 mm at 10 mm/mV) from the row's baseline, stays there for about 0.2 s
and falls back. The pulses are the leftmost ink of the trace area, so they give
the rows (their bottoms are the baselines) and the amplitude scale (their
height is 1 mV) even where the traces are too large or too noisy for the ink
profile of :mod:`.panels` to tell the rows apart, and on pages without a grid.
NumPy/SciPy only.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage


@dataclasses.dataclass
class Pulses:
    """Calibration pulses found on a page (page pixels).

    Attributes:
        baselines: bottom y of each pulse (the row's 0 mV), top to bottom.
        heights: pulse height in px (1 mV each), same order.
        x0, x1: horizontal extent of the pulse column.
    """

    baselines: np.ndarray
    heights: np.ndarray
    x0: int
    x1: int

    @property
    def px_per_mv(self) -> float:
        return float(np.median(self.heights))


def find_pulses(ink: np.ndarray, y0: int = 0, x0: int = 0, max_width_frac: float = 0.03):
    """The calibration pulses in a boolean ink image (True = trace), or None.

    Looks at the leftmost inked columns (``max_width_frac`` of the width from
    the first column holding ink in many rows): each pulse is one connected
    piece there, much taller than wide. ``y0, x0`` shift results to page
    coordinates. Returns None when fewer than 2 pulses of similar height are
    found.
    """
    h, w = ink.shape
    if not ink.any():
        return None
    col_rows = ink.sum(axis=0)
    # the first column with ink in a few rows: the pulses' rising edges
    start = np.nonzero(col_rows >= max(3, 0.01 * h))[0]
    if len(start) == 0:
        return None
    a = int(start[0])
    b = min(w, a + max(4, int(max_width_frac * w)))
    lab, n = ndimage.label(ink[:, a:b], structure=np.ones((3, 3)))
    if n == 0:
        return None
    found = []
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        hh = sl[0].stop - sl[0].start
        ww = sl[1].stop - sl[1].start
        if hh >= max(6, 1.5 * ww) and hh >= 0.02 * h:
            # the pen's thickness (the flat top, in the middle column) is not part of the 1 mV step
            mid = (lab[sl][:, ww // 2] == k)
            thick = int(np.argmin(mid[np.argmax(mid):])) if mid.any() else 1
            found.append((sl[0].stop - 1, hh - max(1, thick)))
    if len(found) < 2:
        return None
    found.sort()
    heights = np.asarray([f[1] for f in found], np.float64)
    med = np.median(heights)
    keep = [f for f in found if 0.7 * med <= f[1] <= 1.3 * med]
    if len(keep) < 2:
        return None
    return Pulses(
        baselines=np.asarray([y0 + f[0] for f in keep], np.int64),
        heights=np.asarray([f[1] for f in keep], np.float64),
        x0=x0 + a,
        x1=x0 + b,
    )
