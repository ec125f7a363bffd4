"""Preprocessing that takes the page format away from a model (the shortcut audit's options).

- ``crop``: the page cut to its grid area (to its ink where it has no grid), RGB, resized square:
  page size, margins and header are gone; colours and the grid stay.
- ``degrid``: the crop with the grid removed (:func:`panels.remove_grid`), gray: trace dark on white.
- ``binary``: the degridded crop binarised (ink 255, paper 0) at a fixed scale: resampled so that
  one millimetre of the grid (the grid period, measured on the page) is :data:`BINARY_PX_PER_MM`
  pixels times ``image_size / 224``, then placed top-left on a square canvas (cut where it is larger).
  So a 1 mV deflection is the same number of pixels on every page, whatever its resolution.

Each returns uint8 (``crop`` HxWx3, the others HxWx1); :mod:`.preprocess` normalises them.
NumPy, SciPy and Pillow only.
"""

from __future__ import annotations

import numpy as np

from keras_ecg.data.images import panels

DEFORMAT = ("crop", "degrid", "binary")
BINARY_PX_PER_MM = 0.85  # at image_size 224: a 10 s (250 mm) strip fills 212 px of the 224
STANDARD_WIDTH_MM = 250.0  # a grid box holds 10 s at 25 mm/s: the scale when no period is found


def content_box(page: np.ndarray) -> tuple:
    """``(y0, y1, x0, x1)`` of the pink grid; without a grid, of the ink below the page's top fifth
    (where the header is printed, as :func:`panels.find_layout` reads such pages); else the whole page."""
    try:
        return panels.find_grid(page)
    except panels.LayoutError:
        top = page.shape[0] // 5
        ink = panels.darkness(page[top:]) > 0.5
        ys, xs = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
        if len(ys) < 2 or len(xs) < 2:
            return 0, page.shape[0], 0, page.shape[1]
        return top + int(ys[0]), top + int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1


def px_per_mm(page: np.ndarray, box=None) -> float:
    """Pixels per millimetre of the page's grid: the grid period (1 mm or 5 mm lines) along the width.

    The measured period is read as 1 mm or 5 mm, whichever lies closer to the width of a standard
    10 s grid (:data:`STANDARD_WIDTH_MM`); without a period, that width alone gives the scale.
    """
    from keras_ecg.data.images.format_features import grid_period

    y0, y1, x0, x1 = content_box(page) if box is None else box
    guess = (x1 - x0) / STANDARD_WIDTH_MM
    period = grid_period(panels.grid_mask(page[y0:y1, x0:x1]))
    if period <= 0:
        return guess
    per_mm = min((period / mm for mm in (1.0, 5.0)), key=lambda v: abs(np.log(v / guess)))
    return per_mm if 0.5 < per_mm / guess < 2.0 else guess


def _resize(a: np.ndarray, size, resample=None) -> np.ndarray:
    from PIL import Image

    h, w = size
    return np.asarray(Image.fromarray(a).resize((int(w), int(h)), Image.BILINEAR if resample is None else resample))


def deformat(page: np.ndarray, kind: str, image_size: int) -> np.ndarray:
    """``page`` (uint8 RGB) preprocessed by ``kind`` (one of :data:`DEFORMAT`) to ``image_size`` square."""
    from PIL import Image

    page = panels.as_rgb(page)
    y0, y1, x0, x1 = box = content_box(page)
    crop = np.ascontiguousarray(page[y0:y1, x0:x1])
    s = int(image_size)
    if kind == "crop":
        return _resize(crop, (s, s))
    if kind == "degrid":
        return _resize(panels.remove_grid(crop), (s, s))[..., None]
    if kind != "binary":
        raise ValueError(f"unknown format-removing preprocess {kind!r}; choose one of {DEFORMAT}")
    scale = BINARY_PX_PER_MM * (s / 224.0) / px_per_mm(page, box)
    h, w = max(1, int(round(crop.shape[0] * scale))), max(1, int(round(crop.shape[1] * scale)))
    ink = (255.0 * panels.darkness(crop)).astype(np.uint8)
    small = _resize(ink, (h, w), Image.BOX)  # area mean: thin traces survive as grey
    canvas = np.zeros((s, s), np.uint8)
    hh, ww = min(h, s), min(w, s)
    canvas[:hh, :ww] = np.where(small[:hh, :ww] > 40, 255, 0)
    return canvas[..., None]
