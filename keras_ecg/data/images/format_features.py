"""Format-only features of an ECG page: what a page looks like, with no trace information.

The shortcut audit's baseline (:mod:`keras_ecg.training.format_baseline`) classifies pages from these
alone; where it scores well, a model can too without reading the ECG. Every figure is measured on the
paper, never on the ink: pixels within a few pixels of a dark (trace or text) pixel are masked out
before any colour, grid or noise statistic, and no count of ink is kept.

- file (:func:`file_features`): height, width, aspect, file format, JPEG quantisation (quality) and
  chroma subsampling, stored resolution (dpi);
- image (:func:`image_features`, of a page or of what a model is shown after preprocessing): the
  median of each colour channel on plain paper and on grid pixels, mean paper saturation, background
  brightness (median and 5th percentile), the fraction of paper that is grid, the grid's box relative
  to the image, the grid period (px and per width), pixel noise and JPEG 8x8 blockiness on plain
  paper, and the layout kind (3x4+1, 6x2+1 or none: where the rows lie, not what they show).

NumPy, SciPy and Pillow only; importing this never imports keras.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from keras_ecg.data.images import panels

FILE_FEATURES = ("height", "width", "aspect", "is_jpeg", "is_png", "jpeg_q_luma", "jpeg_q_chroma",
                 "jpeg_subsampling", "dpi")
IMAGE_FEATURES = (
    "paper_r", "paper_g", "paper_b", "grid_r", "grid_g", "grid_b", "saturation", "brightness", "brightness_p5",
    "grid_fraction", "has_grid", "grid_y0", "grid_y1", "grid_x0", "grid_x1", "grid_period_px",
    "grid_period_rel", "noise", "blockiness", "layout_3x4", "layout_6x2", "layout_none",
)
FEATURES = FILE_FEATURES + IMAGE_FEATURES


def file_features(path) -> dict:
    """Header facts of an image file (no pixel is decoded)."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
        fmt = (im.format or "").upper()
        q = getattr(im, "quantization", None) or {}
        tables = [np.asarray(q[k], np.float64) for k in sorted(q)] if q else []
        try:
            from PIL import JpegImagePlugin

            sampling = float(JpegImagePlugin.get_sampling(im)) if fmt == "JPEG" else -1.0
        except Exception:  # not a JPEG, or an old Pillow
            sampling = -1.0
        dpi = im.info.get("dpi") or (0, 0)
    return {
        "height": float(h), "width": float(w), "aspect": float(h) / float(w),
        "is_jpeg": float(fmt == "JPEG"), "is_png": float(fmt == "PNG"),
        "jpeg_q_luma": float(tables[0].mean()) if tables else 0.0,
        "jpeg_q_chroma": float(tables[1].mean()) if len(tables) > 1 else 0.0,
        "jpeg_subsampling": sampling, "dpi": float(dpi[0] if isinstance(dpi, (tuple, list)) else dpi),
    }


def paper_mask(a: np.ndarray) -> np.ndarray:
    """True on paper: away (by ~1/250 of the height, at least 2 px) from any dark pixel (trace, text)."""
    dark = panels.darkness(a) > 0.35
    reach = max(2, int(round(a.shape[0] / 250)))
    return ~ndimage.binary_dilation(dark, iterations=reach)


def _median(values, default=255.0) -> float:
    return float(np.median(values)) if values.size else float(default)


def grid_period(pink: np.ndarray) -> float:
    """The strongest period (px) of the grid lines along the width, 0 when there is none."""
    if pink.size == 0 or pink.shape[1] < 16:
        return 0.0
    prof = pink.mean(axis=0).astype(np.float64)
    prof = prof - prof.mean()
    if not np.any(prof):
        return 0.0
    spec = np.abs(np.fft.rfft(prof)) ** 2
    n = len(prof)
    freqs = np.arange(len(spec))
    ok = (freqs >= 2) & (freqs <= n // 3)  # periods from 3 px to half the width
    if not ok.any():
        return 0.0
    best = int(np.flatnonzero(ok)[np.argmax(spec[ok])])
    return float(n / best)


def image_features(image) -> dict:
    """Colour, grid, noise and layout statistics of an image (RGB or gray), on its paper only."""
    a = panels.as_rgb(image)
    h, w = a.shape[:2]
    paper = paper_mask(a)
    pink = panels.grid_mask(a) & paper
    plain = paper & ~panels.grid_mask(a)
    f = {}
    for c, ch in enumerate("rgb"):
        f[f"paper_{ch}"] = _median(a[..., c][plain])
        f[f"grid_{ch}"] = _median(a[..., c][pink])
    mx = np.maximum(np.maximum(a[..., 0], a[..., 1]), a[..., 2])[paper].astype(np.float32)
    mn = np.minimum(np.minimum(a[..., 0], a[..., 1]), a[..., 2])[paper].astype(np.float32)
    f["saturation"] = float(((mx - mn) / np.maximum(mx, 1.0)).mean()) if mx.size else 0.0
    gray = a.astype(np.float32).mean(-1)
    f["brightness"] = _median(gray[plain])
    f["brightness_p5"] = float(np.percentile(gray[plain], 5)) if plain.any() else 255.0
    f["grid_fraction"] = float(pink.sum() / max(1, paper.sum()))
    try:
        y0, y1, x0, x1 = panels.find_grid(a)
        f.update(has_grid=1.0, grid_y0=y0 / h, grid_y1=y1 / h, grid_x0=x0 / w, grid_x1=x1 / w)
        period = grid_period(panels.grid_mask(a)[y0:y1, x0:x1])
    except panels.LayoutError:
        f.update(has_grid=0.0, grid_y0=-1.0, grid_y1=-1.0, grid_x0=-1.0, grid_x1=-1.0)
        period = 0.0
    f["grid_period_px"] = period
    f["grid_period_rel"] = period / w
    smooth = ndimage.uniform_filter(gray, size=3)
    inner = ndimage.binary_erosion(plain, iterations=1)
    f["noise"] = float(np.abs(gray - smooth)[inner].mean()) if inner.any() else 0.0
    f["blockiness"] = _blockiness(gray, inner)
    try:
        kind = panels.find_layout(a).kind
    except panels.LayoutError:
        kind = "none"
    f.update(layout_3x4=float(kind == "3x4+1"), layout_6x2=float(kind == "6x2+1"), layout_none=float(kind == "none"))
    return f


def _blockiness(gray: np.ndarray, mask: np.ndarray) -> float:
    """Mean jump across 8-px column boundaries over the mean jump elsewhere, on plain paper (JPEG cue)."""
    d = np.abs(np.diff(gray, axis=1))
    m = mask[:, 1:] & mask[:, :-1]
    cols = np.arange(d.shape[1])
    at = (cols % 8) == 7
    on, off = d[:, at][m[:, at]], d[:, ~at][m[:, ~at]]
    if not on.size or not off.size:
        return 1.0
    return float((on.mean() + 1e-3) / (off.mean() + 1e-3))


def vector(d: dict, names=FEATURES) -> np.ndarray:
    """The features in ``names`` order as a float32 vector (missing ones 0)."""
    return np.array([float(d.get(n, 0.0)) for n in names], np.float32)


def page_file_features(path) -> np.ndarray:
    """:data:`FEATURES` of one page file: its header facts and the statistics of its decoded pixels."""
    from keras_ecg.data.images.io import read_image

    return vector({**file_features(path), **image_features(read_image(path))})


def cached_rows(root, files, tag: str, compute, width: int, cache: bool = True, cache_dir=None, log=None):
    """``(n, width)`` rows ``compute(i, path)`` for ``files`` (relative to ``root``), cached under ``tag``
    by each file's sha256 (a row is measured once per page, whichever task or fold asks for it)."""
    import pathlib

    from keras_ecg.data import cache as _cache
    from keras_ecg.data.images.dedup import sha256_file

    root = pathlib.Path(root)
    croot = _cache.cache_dir(cache_dir) / "format_features" / f"{tag}-v{VERSION}"
    out = []
    for i, rel in enumerate(files):
        path = root / rel
        entry = croot / f"{sha256_file(path)}.npz"
        hit = _cache.load(entry) if cache else None
        if hit is None or hit["x"].shape != (width,):
            x = np.asarray(compute(i, path), np.float32)
            if cache:
                try:
                    _cache.save(entry, x=x)
                except OSError:
                    pass  # a read-only cache must not stop the audit
        else:
            x = hit["x"]
        out.append(x)
        if log and (i + 1) % 200 == 0:
            log(f"format features ({tag}): {i + 1}/{len(files)} pages")
    return np.stack(out) if out else np.zeros((0, width), np.float32)


def folder_features(root, files, cache: bool = True, cache_dir=None, log=None) -> np.ndarray:
    """``(n, len(FEATURES))`` :func:`page_file_features` of ``files`` (relative to ``root``), cached."""
    return cached_rows(root, files, "file", lambda i, path: page_file_features(path), len(FEATURES),
                       cache=cache, cache_dir=cache_dir, log=log)


VERSION = 1  # bump when a feature changes
