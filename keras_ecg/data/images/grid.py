"""The ECG paper's scale: the grid period in pixels (1 mm small, 5 mm large squares).

ECG paper runs at 25 mm/s and 10 mm/mV, so the grid period gives both axes:
``px_per_s = 25 * px_per_mm`` and ``px_per_mv = 10 * px_per_mm``. The period is
measured on the line profile of the grid area along x and along y
(autocorrelation near the period the traces' 10 s width predicts; the large
period is 5 small ones and, its lines being darker, the more reliable one). Pages without a grid fall back on the 1 mV
calibration pulses (:mod:`.pulses`) and the traces' 10 s width.
NumPy only.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_ecg.data.images import panels

MM_PER_S = 25.0
MM_PER_MV = 10.0


class GridError(panels.LayoutError):
    """No grid period could be measured on the page."""


@dataclasses.dataclass
class Scale:
    """Pixels per mm (both axes), where they come from, and the grid periods found."""

    px_per_mm_x: float
    px_per_mm_y: float
    source: str  # "grid", "pulses+width" or "width"
    small_period_px: float | None = None
    large_period_px: float | None = None

    @property
    def px_per_s(self) -> float:
        return MM_PER_S * self.px_per_mm_x

    @property
    def px_per_mv(self) -> float:
        return MM_PER_MV * self.px_per_mm_y


def _autocorr(profile: np.ndarray) -> np.ndarray:
    p = profile - profile.mean()
    n = len(p)
    f = np.fft.rfft(p, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n]
    return ac / (ac[0] + 1e-12)


def line_profile(rgb: np.ndarray, axis: int) -> np.ndarray:
    """How much grid-line colour each column (``axis=1``) or row (``axis=0``) holds.

    The mean of ``255 - green`` over the paper pixels (trace ink left out; pink
    and red lines are low in green), with slow trends (tinted scans, shading)
    removed, so only the line pattern is left.
    """
    from scipy import ndimage

    a = np.asarray(rgb, dtype=np.float32)
    v = 255.0 - a[..., 1]
    paper = panels.darkness(rgb) < 0.3
    num = np.where(paper, v, 0.0).sum(axis=1 - axis)
    den = paper.sum(axis=1 - axis)
    prof = np.where(den > 0, num / np.maximum(den, 1), np.nan)
    prof = np.nan_to_num(prof, nan=float(np.nanmean(prof)) if np.isfinite(prof).any() else 0.0)
    return prof - ndimage.uniform_filter1d(prof, max(5, len(prof) // 20))


def grid_period(rgb: np.ndarray, axis: int, prior_px_per_mm: float, tol: float = 0.15):
    """``(small, large)`` grid period in px of the grid area ``rgb`` along ``axis`` (1: x, 0: y).

    The 5 mm period is the one within ``tol`` of ``5 * prior_px_per_mm`` (the
    prior comes from the traces' 10 s width) whose multiples (up to 50 mm) hold
    the most line-profile autocorrelation; where the 5 mm lines do not stand
    out, the 1 mm period is found the same way. The small period is a fifth of
    the large one. Raises :class:`GridError`
    when no periodic lines show there.
    """
    prof = line_profile(rgb, axis)
    if len(prof) < 50 or prof.std() < 1e-3:
        raise GridError("no grid lines to measure")
    ac = _autocorr(prof)
    lags = np.arange(len(ac))

    def comb(mm: float, max_k: int):
        """The period (px) near ``mm`` mm of the prior whose multiples hold the most autocorrelation."""
        cands = np.arange(mm * prior_px_per_mm * (1 - tol), mm * prior_px_per_mm * (1 + tol), 0.002 * mm)
        scores = [float(np.interp(np.arange(1, int(min(max_k, (len(ac) / 2 - 1) / p)) + 1) * p, lags, ac).mean())
                  for p in cands]
        p = float(cands[int(np.argmax(scores))])
        return p, float(np.interp([p, 2 * p], lags, ac).mean())

    # the 5 mm lines first (darker), over 10 multiples; else the 1 mm lines over 50
    large, v = comb(5.0, 10)
    if v >= 0.2:
        return large / 5.0, large
    small, v = comb(1.0, 50)
    if v >= 0.2:
        return small, 5.0 * small
    raise GridError(f"no periodic grid lines near {prior_px_per_mm:.2f} px per mm (autocorrelation {v:.2f})")


def measure_scale(img, layout: panels.Layout | None = None) -> Scale:
    """The page's scale: from the grid if it has one, else the pulses and the traces' width.

    The traces of every known layout span 10 s, so ``x_end - x_start`` gives
    ``px_per_s`` on any page; the grid, when found, is the primary measure and
    is searched within 15 % of what the width predicts.
    """
    a = panels.as_rgb(img)
    layout = layout or panels.find_layout(a)
    width_px_per_mm = (layout.x_end - layout.x_start) / (10.0 * MM_PER_S)
    if layout.gridded:
        y0, y1, x0, x1 = layout.grid_box
        try:
            sx, lx = grid_period(a[y0:y1, x0:x1], 1, width_px_per_mm)
            sy, _ = grid_period(a[y0:y1, x0:x1], 0, width_px_per_mm)
            return Scale(sx, sy if abs(sy / sx - 1) < 0.05 else sx, "grid", sx, lx)
        except GridError:
            pass
    p = _pulses(a, layout)
    if p is not None and abs(p.px_per_mv / MM_PER_MV / width_px_per_mm - 1) < 0.3:
        return Scale(width_px_per_mm, p.px_per_mv / MM_PER_MV, "pulses+width")
    return Scale(width_px_per_mm, width_px_per_mm, "width")


def _pulses(a: np.ndarray, layout: panels.Layout):
    from keras_ecg.data.images import pulses

    y0, y1, x0, x1 = layout.grid_box
    pad = min(y0, (y1 - y0) // 10)
    return pulses.find_pulses(panels.darkness(a[y0 - pad : y1, x0:x1]) > 0.5, y0=y0 - pad, x0=x0)


def skew_angle(img, max_deg: float = 1.5, step: float = 0.05) -> float:
    """The page's tilt in degrees (counter-clockwise rotation that straightens it; 0 for a straight page).

    Projection-profile deskewing: the horizontal grid lines and trace
    baselines give the sharpest row profile when they are level. Each angle is
    tried as a shear of the dark pixels (fast, exact enough below 2 degrees).
    """
    a = panels.as_rgb(img)
    w8 = 255.0 - a.min(axis=-1).astype(np.float32)
    ys, xs = np.nonzero(w8 > 25)
    if len(ys) < 100:
        return 0.0
    wts = w8[ys, xs]
    xs = xs - a.shape[1] / 2.0
    off = int(np.ceil(a.shape[1] * np.tan(np.radians(max_deg)))) + 1

    def sharpness(deg):
        b = np.round(ys + xs * np.tan(np.radians(deg))).astype(np.int64) + off
        prof = np.bincount(b, weights=wts, minlength=a.shape[0] + 2 * off)
        return float(np.sum(np.diff(prof) ** 2))

    # coarse, then fine around the best coarse angle
    coarse = np.arange(-max_deg, max_deg + 1e-9, 4 * step)
    best = float(coarse[int(np.argmax([sharpness(d) for d in coarse]))])
    fine = np.arange(best - 4 * step, best + 4 * step + 1e-9, step)
    return float(np.round(fine[int(np.argmax([sharpness(d) for d in fine]))], 6))


def deskew(img, min_deg: float = 0.1):
    """``(page, angle)``: the page rotated level (unchanged below ``min_deg``), and the angle applied."""
    from PIL import Image

    a = panels.as_rgb(img)
    ang = skew_angle(a)
    if abs(ang) < min_deg:
        return a, 0.0
    im = Image.fromarray(a).rotate(-ang, resample=Image.BILINEAR, fillcolor=(255, 255, 255))
    return np.asarray(im), ang
