"""Preprocessing variants: one decoded page -> the array a model reads.

:data:`PREPROCESS` names the variants:

- ``page``: the whole page resized to ``image_size`` square, RGB, normalised
  with mean 0.5 and std 0.5 -> float32 ``(S, S, 3)`` in [-1, 1];
- ``panels``: the 13 panels (12 leads + rhythm strip, :data:`panels.LEADS`
  order) cropped from the measured layout, gray, inverted, dilated, resized
  -> float32 ``(13, H, W, 1)`` in [0, 1];
- ``grid_removed``: the page with its pink grid removed, gray, resized to
  ``image_size`` square (page size if ``image_size`` is None), normalised like
  ``page`` -> float32 ``(S, S, 1)``;
- ``crop``, ``degrid``, ``binary``: the format taken away (:mod:`.deformat`): the grid area only
  (RGB), without the grid (gray), or the binarised trace at a fixed scale (ink 1, paper -1)
  -> float32 ``(S, S, 3)`` or ``(S, S, 1)``.
- ``digitized``: the 12 leads read off the page (:mod:`.digitize`), the first
  :data:`DIGITIZED_SECONDS` of each lead's printed stretch at
  :data:`DIGITIZED_FS` Hz, in mV -> float32 ``(T, 12)`` (the input of the
  1-D waveform models).

:func:`prepare` gives the uint8 array (what the cache keeps) and
:func:`normalise` the float one. NumPy, SciPy and Pillow only.
"""

from __future__ import annotations

import collections
import hashlib
import os
import threading

import numpy as np

from keras_ecg.data.images import panels
from keras_ecg.data.images.deformat import DEFORMAT, deformat
from keras_ecg.data.images.io import DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIZE, ImageError, as_page, read_image
from keras_ecg.data.images.panels import LayoutError

PREPROCESS = ("page", "panels", "grid_removed", *DEFORMAT, "digitized")
DIGITIZED_FS = 100.0  # Hz of the digitised leads a model reads
DIGITIZED_SECONDS = 2.5  # every layout prints each lead for at least 2.5 s
# Digitised leads of the pages seen last, keyed by the upright page's pixels: several models reading one
# page (a bundle's members, ``predict --with``, a card's check for each shipped page model) digitise it once.
# 12 kB an entry.
DIGITIZED_MEMO_SIZE = 1024
_memo: collections.OrderedDict = collections.OrderedDict()
_memo_lock = threading.Lock()


def check_preprocess(preprocess: str) -> None:
    """Raise ``ValueError`` naming the choices unless ``preprocess`` is in :data:`PREPROCESS`."""
    if preprocess not in PREPROCESS:
        raise ValueError(f"unknown preprocess {preprocess!r}; choose one of {PREPROCESS}")


def _resize(a: np.ndarray, size) -> np.ndarray:
    from PIL import Image

    h, w = size
    return np.asarray(Image.fromarray(a).resize((int(w), int(h)), Image.BILINEAR))


def _square(image_size):
    return None if image_size is None else (int(image_size), int(image_size))


def pair(size):
    """``(height, width)`` from an int or a pair."""
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    return int(size[0]), int(size[1])


def prepare(page: np.ndarray, preprocess: str, image_size, panel_size, orientation: str = "auto") -> np.ndarray:
    """Preprocessed uint8 array (what is cached); :func:`normalise` makes floats. ``orientation``: for
    ``digitized``, as in :func:`.digitize.digitize_page` (``auto``: an upside-down page is turned, one whose
    orientation cannot be told refused with an :class:`~.orientation.OrientationError`)."""
    check_preprocess(preprocess)
    if preprocess == "page":
        return _resize(page, _square(image_size) or page.shape[:2])
    if preprocess == "panels":
        return panels.crop_panels(page, size=pair(panel_size))
    if preprocess == "digitized":
        from keras_ecg.data.images.orientation import orient

        page, _ = orient(page, None, orientation)  # checked every time: its warning and refusal are not memoised
        return _digitized(np.ascontiguousarray(page))
    if preprocess in DEFORMAT:
        if image_size is None:
            raise ValueError(f"preprocess={preprocess!r} needs an image_size")
        return deformat(page, preprocess, image_size)
    g = panels.remove_grid(page)  # grid_removed
    size = _square(image_size)
    return (g if size is None else _resize(g, size))[..., None]


def _digitized(page: np.ndarray) -> np.ndarray:
    """The :data:`DIGITIZED_SECONDS` window of an upright page's digitised leads, memoised by its pixels."""
    from keras_ecg.data.images import digitize

    key = (page.shape, page.dtype.str, hashlib.sha256(page.data).digest())
    with _memo_lock:
        hit = _memo.get(key)
        if hit is not None:
            _memo.move_to_end(key)
            return hit.copy()
    d = digitize.digitize_page(page, fs=DIGITIZED_FS, orientation="upright")
    leads = d.window(DIGITIZED_SECONDS, DIGITIZED_FS).astype(np.float32)
    with _memo_lock:
        _memo[key] = leads.copy()
        while len(_memo) > DIGITIZED_MEMO_SIZE:
            _memo.popitem(last=False)
    return leads


def normalise(raw: np.ndarray, preprocess: str, dtype="float32") -> np.ndarray:
    """The uint8 output of :func:`prepare` as floats: ``x/255`` for panels, mV as they are for
    ``digitized``, else ``(x/255 - 0.5) / 0.5``."""
    x = raw.astype(dtype)
    if preprocess == "digitized":
        return x
    if preprocess == "panels":
        return x / 255.0
    return x / 127.5 - 1.0  # mean 0.5, std 0.5 on [0, 1]


def preprocess_image(
    path_or_array,
    preprocess: str = "page",
    image_size: int | None = 224,
    panel_size=(64, 64),
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_size: int = DEFAULT_MIN_SIZE,
    orientation: str = "auto",
):
    """One image (a file path or an array) preprocessed as in :func:`~keras_ecg.data.images.load_folder`
    (``orientation``: see :func:`prepare`).

    Returns float32 ``(S, S, 3)`` for ``page`` and ``crop``, ``(13, H, W, 1)`` for
    ``panels``, ``(S, S, 1)`` for ``grid_removed``, ``degrid`` and ``binary``, ``(T, 12)`` mV for
    ``digitized``. Raises :class:`ImageError`
    (or :class:`LayoutError` for ``panels``) naming the file.
    """
    check_preprocess(preprocess)
    if isinstance(path_or_array, (str, os.PathLike)):
        name = str(path_or_array)
        page = read_image(name, max_pixels=max_pixels, min_size=min_size)
    else:
        name = "<array>"
        page = as_page(path_or_array)
    try:
        raw = prepare(page, preprocess, image_size, panel_size, orientation)
    except LayoutError as e:
        raise type(e)(f"{name}: {e}") from None
    return normalise(raw, preprocess)


def image_loader(
    preprocess="page",
    image_size=224,
    panel_size=(64, 64),
    max_pixels=DEFAULT_MAX_PIXELS,
    on_error: str = "raise",
):
    """A ``loader(items) -> np.ndarray`` for ``pipeline.to_tf_dataset(loader=...)``.

    Decodes and preprocesses a batch of file paths. A bad file (or a page
    without a known layout, for ``panels``) raises :class:`ImageError` naming
    it with ``on_error="raise"``; with ``on_error="blank"`` it becomes a blank
    page (white paper; empty panels) and is listed in ``loader.failures`` as
    ``(path, reason)``, so a pipeline worker never dies on it. :func:`load_folder`
    checks every file before training and is the safer way in.
    """
    if on_error not in ("raise", "blank"):
        raise ValueError(f"on_error must be 'raise' or 'blank', got {on_error!r}")
    check_preprocess(preprocess)
    if on_error == "blank" and preprocess != "panels" and image_size is None:
        raise ValueError("on_error='blank' needs an image_size (the shape of a blank page)")

    def blank():
        if preprocess == "panels":
            return np.zeros((len(panels.LEADS),) + pair(panel_size) + (1,), np.float32)
        return np.ones(_square(image_size) + ((3,) if preprocess in ("page", "crop") else (1,)), np.float32)

    def loader(items):
        out = []
        for p in np.asarray(items, dtype=object).ravel():
            try:
                out.append(preprocess_image(str(p), preprocess, image_size, panel_size, max_pixels))
            except (ImageError, LayoutError) as e:
                if on_error == "raise":
                    raise
                loader.failures.append((str(p), str(e)))
                out.append(blank())
        return np.stack(out)

    loader.failures = []
    return loader
