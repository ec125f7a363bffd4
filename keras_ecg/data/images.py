"""ECG page images: a folder of class folders -> a :class:`Dataset`.

``load_folder`` reads a folder with one sub-folder per class (any names; the
Khan et al. 2021 "ECG Images dataset of Cardiac and COVID-19 Patients" names
are recognised by keyword), decodes each image safely, preprocesses it with a
named variant, finds exact and near duplicates and caches the decoded arrays
on disk (keyed by the file's sha256 and the preprocessing parameters), so a
second load never decodes a JPEG again.

Preprocessing variants (:data:`PREPROCESS`):

- ``page``: the whole page resized to ``image_size`` square, RGB, normalised
  with mean 0.5 and std 0.5 -> float32 ``(S, S, 3)`` in [-1, 1];
- ``panels``: the 13 panels (12 leads + rhythm strip, :data:`panels.LEADS`
  order) cropped from the measured layout, gray, inverted, dilated, resized
  -> float32 ``(13, H, W, 1)`` in [0, 1];
- ``grid_removed``: the page with its pink grid removed, gray, resized to
  ``image_size`` square (page size if ``image_size`` is None), normalised like
  ``page`` -> float32 ``(S, S, 1)``.

NumPy, SciPy and Pillow only; importing this never imports keras.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import warnings

import numpy as np

from keras_ecg.data import dedup, panels
from keras_ecg.data.dataset import Dataset

PREPROCESS = ("page", "panels", "grid_removed")
CLASS_ORDER = ["normal", "abnormal_heartbeat", "mi", "history_of_mi", "covid19"]
# Keyword rules for folder names, checked in order (first match wins).
KHAN_KEYWORDS = [
    ("covid", "covid19"),
    ("history", "history_of_mi"),
    ("abnormal", "abnormal_heartbeat"),
    ("myocardial", "mi"),
    ("infarction", "mi"),
    ("normal", "normal"),
]
BINARY_CLASSES = ["normal", "risky"]
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MIN_SIZE = 32
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp")
CACHE_VERSION = 3  # bump when preprocessing or layout detection changes


class ImageError(ValueError):
    """An image file that cannot be used; the message names the file."""


LayoutError = panels.LayoutError  # re-exported: a page without a known layout


# ---------------------------------------------------------------- decoding


def read_image(path, max_pixels: int = DEFAULT_MAX_PIXELS, min_size: int = DEFAULT_MIN_SIZE):
    """Decode an image file to uint8 ``(H, W, 3)`` RGB, safely.

    The header is read first: an image over ``max_pixels`` (a decompression
    bomb) or with a side under ``min_size`` is refused before decoding. Gray,
    palette, 16-bit and RGBA images (alpha composited on white) become RGB.

    Raises:
        ImageError: naming ``path`` and the problem (not an image, corrupt or
            truncated, too large, too small).
    """
    from PIL import Image

    path = str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: image too large to decode safely ({e})") from None
    except (Image.UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: not a readable image file ({type(e).__name__}: {e})") from None
    with im:
        w, h = im.size
        if w * h > max_pixels:
            raise ImageError(
                f"{path}: {w}x{h} = {w * h / 1e6:.1f} Mpx is over max_pixels="
                f"{max_pixels} (possible decompression bomb); not decoded"
            )
        if min(w, h) < min_size:
            raise ImageError(f"{path}: {w}x{h} is too small (min side {min_size} px)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im.load()
                return _to_rgb(im)
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise ImageError(f"{path}: corrupt or truncated image ({type(e).__name__}: {e})") from None


def _to_rgb(im) -> np.ndarray:
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
        return np.repeat(a.round().astype(np.uint8)[..., None], 3, axis=-1)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def as_page(image) -> np.ndarray:
    """An array image (gray, RGB, RGBA; uint8 or float in [0, 1]) as uint8 RGB."""
    a = np.asarray(image)
    if a.dtype.kind == "f":
        a = np.clip(a * 255.0 if a.max() <= 1.0 else a, 0, 255).round().astype(np.uint8)
    if a.ndim == 3 and a.shape[-1] == 4:  # composite on white
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3] * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
    return panels.as_rgb(a)


# ------------------------------------------------------------ preprocessing


def _resize(a: np.ndarray, size) -> np.ndarray:
    from PIL import Image

    h, w = size
    return np.asarray(Image.fromarray(a).resize((int(w), int(h)), Image.BILINEAR))


def _square(image_size):
    return None if image_size is None else (int(image_size), int(image_size))


def _pair(size):
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    return int(size[0]), int(size[1])


def _raw(page: np.ndarray, preprocess: str, image_size, panel_size) -> np.ndarray:
    """Preprocessed uint8 array (what is cached); :func:`_finish` makes floats."""
    if preprocess == "page":
        size = _square(image_size) or page.shape[:2]
        return _resize(page, size)
    if preprocess == "panels":
        return panels.crop_panels(page, size=_pair(panel_size))
    if preprocess == "grid_removed":
        g = panels.remove_grid(page)
        size = _square(image_size)
        return (g if size is None else _resize(g, size))[..., None]
    raise ValueError(f"unknown preprocess {preprocess!r}; choose one of {PREPROCESS}")


def _finish(raw: np.ndarray, preprocess: str, dtype="float32") -> np.ndarray:
    x = raw.astype(dtype)
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
):
    """One image (a file path or an array) preprocessed as in :func:`load_folder`.

    Returns float32 ``(S, S, 3)`` for ``page``, ``(13, H, W, 1)`` for
    ``panels``, ``(S, S, 1)`` for ``grid_removed``. Raises :class:`ImageError`
    (or :class:`LayoutError` for ``panels``) naming the file.
    """
    if preprocess not in PREPROCESS:
        raise ValueError(f"unknown preprocess {preprocess!r}; choose one of {PREPROCESS}")
    if isinstance(path_or_array, (str, os.PathLike)):
        name = str(path_or_array)
        page = read_image(name, max_pixels=max_pixels, min_size=min_size)
    else:
        name = "<array>"
        page = as_page(path_or_array)
    try:
        raw = _raw(page, preprocess, image_size, panel_size)
    except LayoutError as e:
        raise LayoutError(f"{name}: {e}") from None
    return _finish(raw, preprocess)


def page_hash(page: np.ndarray) -> np.ndarray:
    """Perceptual hash of a page's traces (for near duplicates).

    The page is cut to its grid (or to its ink, if it has no grid), so copies
    that were rescaled, shifted or cropped at the margins still match; the
    grid is removed and the rest hashed with :func:`dedup.phash`.
    """
    from PIL import Image

    try:
        y0, y1, x0, x1 = panels.find_grid(page)
    except LayoutError:
        ink = panels.darkness(page) > 0.5
        ys, xs = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
        if len(ys) < 2 or len(xs) < 2:
            y0, y1, x0, x1 = 0, page.shape[0], 0, page.shape[1]
        else:
            y0, y1, x0, x1 = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
    crop = np.ascontiguousarray(page[y0:y1, x0:x1])
    small = np.asarray(Image.fromarray(crop).resize((256, 64), Image.BOX))
    return dedup.phash(panels.darkness(small, lo=60, hi=235))


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
    if preprocess not in PREPROCESS:
        raise ValueError(f"unknown preprocess {preprocess!r}; choose one of {PREPROCESS}")
    if on_error == "blank" and preprocess != "panels" and image_size is None:
        raise ValueError("on_error='blank' needs an image_size (the shape of a blank page)")

    def blank():
        if preprocess == "panels":
            return np.zeros((len(panels.LEADS),) + _pair(panel_size) + (1,), np.float32)
        return np.ones(_square(image_size) + ((3,) if preprocess == "page" else (1,)), np.float32)

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


# ------------------------------------------------------------------ classes


def folder_class(folder: str, class_map=None):
    """The class name of a class folder, or None if ``class_map`` drops it.

    ``class_map`` may be a dict (exact folder name first, then each key as a
    case-insensitive keyword) or a callable; None uses the built-in keywords
    of the Khan et al. dataset (:data:`KHAN_KEYWORDS`), else the folder name.
    """
    if callable(class_map):
        return class_map(folder)
    low = folder.lower()
    if class_map is not None:
        if folder in class_map:
            return class_map[folder]
        for key, name in class_map.items():
            if str(key).lower() in low:
                return name
        return None
    for key, name in KHAN_KEYWORDS:
        if key in low:
            return name
    return folder


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _class_order(names):
    known = [c for c in CLASS_ORDER if c in names]
    return known + sorted(n for n in names if n not in CLASS_ORDER)


# -------------------------------------------------------------------- cache


def _cache_root(cache_dir):
    from keras_ecg.data import cache as _cache

    return _cache.cache_dir(cache_dir) / "images"


def _cache_path(root, sha: str, params: dict):
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return root / sha[:2] / f"{sha}-{key}.npz"


def _load_entry(path):
    from keras_ecg.data import cache as _cache

    return _cache.load(path)


def _save_entry(path, **arrays):
    from keras_ecg.data import cache as _cache

    try:
        _cache.save(path, **arrays)
    except OSError as e:  # a read-only cache must not stop loading
        warnings.warn(f"could not write image cache {path}: {e}")


# ------------------------------------------------------------- load_folder


def list_folder(path, class_map=None, classes=None):
    """``(files, class names, folder->class map, empty folders, ignored files)``."""
    root = pathlib.Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: image folder not found")
    mapping, files, empty, ignored = {}, {}, [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        name = folder_class(sub.name, class_map)
        if name is None:
            continue
        mapping[sub.name] = name
        found = []
        for f in sorted(sub.iterdir(), key=lambda p: _natural_key(p.name)):
            if f.name.startswith(".") or not f.is_file():
                ignored.append(str(f.relative_to(root)))
            else:
                found.append(f)
        if not found:
            empty.append(sub.name)
        files.setdefault(name, []).extend(found)
    if not mapping:
        raise ValueError(f"{root}: no class sub-folders found")
    names = _class_order(set(mapping.values()))
    if classes is not None:
        missing = [c for c in classes if c not in names]
        if missing:
            raise ValueError(f"{root}: classes {missing} not found; found {names}")
        names = list(classes)
    return files, names, mapping, empty, ignored


def load_folder(
    path,
    class_map=None,
    preprocess: str = "page",
    classes=None,
    binary: bool = False,
    image_size: int | None = 224,
    panel_size=(64, 64),
    on_error: str = "raise",
    on_layout_error: str = "skip",
    duplicates: str = "near",
    near_threshold: int = dedup.NEAR_THRESHOLD,
    cache: bool = True,
    cache_dir=None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_size: int = DEFAULT_MIN_SIZE,
    dtype: str = "float32",
) -> Dataset:
    """A :class:`Dataset` of preprocessed page images from a folder of class folders.

    Args:
        path: folder with one sub-folder per class.
        class_map: folder name -> class name (dict, keywords or callable, see
            :func:`folder_class`); None recognises the Khan et al. folders.
        preprocess: ``"page"``, ``"panels"`` or ``"grid_removed"``.
        classes: keep only these classes, in this order (e.g. the 4-class
            task without ``covid19``).
        binary: relabel ``normal`` -> 0 "normal", every other class -> 1 "risky".
        image_size: side of ``page`` / ``grid_removed`` outputs.
        panel_size: ``(height, width)`` of each panel for ``panels``.
        on_error: ``"raise"`` an :class:`ImageError` naming the file, or
            ``"skip"`` it and list it in ``meta["skipped"]`` (unreadable,
            corrupt, truncated, too large or tiny files, non-images, empty
            class folders).
        on_layout_error: for ``panels``: ``"skip"`` pages without a
            3x4 + rhythm-strip layout and list them in ``meta["layout_failures"]``,
            or ``"raise"`` a :class:`LayoutError` naming the file.
        duplicates: ``"near"`` (exact + perceptual hash), ``"exact"`` or ``"none"``.
        near_threshold: Hamming distance (of 576 bits) for near duplicates.
        cache, cache_dir: keep decoded arrays in ``$KERAS_ECG_CACHE`` or
            ``~/.cache/keras_ecg`` (``cache_dir`` overrides).
        max_pixels, min_size: refuse images over / under these sizes before decoding.

    Returns:
        A Dataset whose ``groups`` merge each image with its copies and whose
        ``meta`` holds ``source``, ``preprocess``, ``image_size``/``panel_size``,
        ``class_map``, ``counts``, ``skipped``, ``layout_failures``,
        ``duplicates`` (see :func:`format_report`).
    """
    if preprocess not in PREPROCESS:
        raise ValueError(f"unknown preprocess {preprocess!r}; choose one of {PREPROCESS}")
    for arg, val in (("on_error", on_error), ("on_layout_error", on_layout_error)):
        if val not in ("raise", "skip"):
            raise ValueError(f"{arg} must be 'raise' or 'skip', got {val!r}")
    if duplicates not in ("near", "exact", "none"):
        raise ValueError(f"duplicates must be 'near', 'exact' or 'none', got {duplicates!r}")
    if preprocess == "page" and image_size is None:
        raise ValueError("preprocess='page' needs an image_size to stack pages of different sizes")
    root = pathlib.Path(path)
    files, names, mapping, empty, ignored = list_folder(root, class_map, classes)
    skipped = []
    for folder in empty:
        if mapping[folder] not in names:
            continue
        msg = f"{root / folder}: class folder has no images"
        if on_error == "raise":
            raise ImageError(msg)
        skipped.append({"file": folder, "reason": "class folder has no images"})
    params = {
        "v": CACHE_VERSION,
        "preprocess": preprocess,
        "image_size": image_size,
        "panel_size": list(_pair(panel_size)) if preprocess == "panels" else None,
        "max_pixels": max_pixels,
        "min_size": min_size,
    }
    croot = _cache_root(cache_dir) if cache else None
    xs, ys, shas, hashes, rels, layout_failures = [], [], [], [], [], []
    n_decoded = 0
    for label, cname in enumerate(names):
        for f in files.get(cname, []):
            rel = str(f.relative_to(root))
            try:
                sha = dedup.sha256_file(f)
            except OSError as e:
                _fail(on_error, skipped, rel, f"{f}: cannot read ({e})")
                continue
            entry = _load_entry(_cache_path(croot, sha, params)) if cache else None
            if entry is None:
                try:
                    page = read_image(f, max_pixels=max_pixels, min_size=min_size)
                except ImageError as e:
                    _fail(on_error, skipped, rel, str(e))
                    continue
                n_decoded += 1
                entry = {"phash": page_hash(page), "error": np.array("")}
                try:
                    entry["x"] = _raw(page, preprocess, image_size, panel_size)
                except LayoutError as e:
                    entry["error"] = np.array(str(e))
                if cache:
                    _save_entry(_cache_path(croot, sha, params), **entry)
            err = str(entry["error"])
            if err:
                if on_layout_error == "raise":
                    raise LayoutError(f"{f}: {err}")
                layout_failures.append({"file": rel, "reason": err})
                continue
            x = entry["x"]
            if xs and x.shape != xs[0].shape:
                _fail(on_error, skipped, rel, f"{f}: size {x.shape} differs from {xs[0].shape}; set image_size")
                continue
            xs.append(x)
            ys.append(label)
            shas.append(sha)
            hashes.append(entry["phash"])
            rels.append(rel)
    if not xs:
        raise ImageError(f"{root}: no usable images (skipped {len(skipped)}, layout failures {len(layout_failures)})")
    if duplicates == "none":
        groups = np.array([s[:16] for s in shas], dtype=object)
        report = {}
    else:
        groups, report = dedup.find_duplicates(
            shas,
            np.stack(hashes) if duplicates == "near" else None,
            names=rels,
            threshold=near_threshold if duplicates == "near" else -1,
        )
        report["label_conflicts"] = _label_conflicts(groups, ys, rels, names)
    x = np.stack(xs)
    x = _finish(x, preprocess, dtype)
    y = np.asarray(ys, dtype=np.int64)
    class_names = list(names)
    fine_names = list(names)
    if binary:
        if "normal" not in names:
            raise ValueError(f"{root}: binary=True needs a 'normal' class; classes are {names}")
        y = (y != names.index("normal")).astype(np.int64)
        class_names = list(BINARY_CLASSES)
    meta = {
        "source": str(root),
        "synthetic": False,
        "preprocess": preprocess,
        "image_size": image_size if preprocess != "panels" else None,
        "panel_size": list(_pair(panel_size)) if preprocess == "panels" else None,
        "panel_names": list(panels.LEADS) if preprocess == "panels" else None,
        "normalisation": "x/255" if preprocess == "panels" else "(x/255 - 0.5) / 0.5",
        "class_map": {k: v for k, v in mapping.items()},
        "fine_classes": fine_names,
        "binary": bool(binary),
        "counts": {c: int((np.asarray(ys) == i).sum()) for i, c in enumerate(fine_names)},
        "skipped": skipped,
        "ignored": ignored,
        "layout_failures": layout_failures,
        "duplicates": report,
        "decoded": n_decoded,
    }
    return Dataset(x, y, groups, class_names, meta)


def _fail(on_error, skipped, rel, message):
    if on_error == "raise":
        raise ImageError(message)
    skipped.append({"file": rel, "reason": message})


def _label_conflicts(groups, ys, rels, names):
    by = {}
    for g, y, r in zip(groups, ys, rels):
        by.setdefault(g, []).append((names[y], r))
    return [items for items in by.values() if len({c for c, _ in items}) > 1]


def format_report(ds: Dataset) -> str:
    """A readable report of an image Dataset: counts, skips, layouts, duplicates."""
    m = ds.meta
    lines = [ds.summary()]
    if m.get("counts"):
        lines.append("images per class: " + ", ".join(f"{k} {v}" for k, v in m["counts"].items()))
    if m.get("class_map"):
        lines.append("class map: " + "; ".join(f"{k!r} -> {v}" for k, v in m["class_map"].items()))
    for s in m.get("skipped", []):
        lines.append(f"skipped: {s['file']}: {s['reason']}")
    fails = m.get("layout_failures", [])
    if fails:
        lines.append(f"layout failures: {len(fails)}")
        for s in fails:
            lines.append(f"  {s['file']}: {s['reason']}")
    dup = m.get("duplicates")
    lines.append(dedup.format_duplicates(dup))
    for items in (dup or {}).get("label_conflicts", []):
        lines.append("  label conflict: " + ", ".join(f"{r} ({c})" for c, r in items))
    return "\n".join(lines)


# ------------------------------------------------------------- augmentation


def image_augment(rotation=2.0, scale=0.05, brightness=0.1, contrast=0.1, blur=0.5, noise=0.02):
    """Augmentation for scanned pages: ``fn(x_batch, rng) -> x_batch``.

    Each image (the last three axes, so page batches ``(B, H, W, C)`` and
    panel batches ``(B, 13, H, W, 1)`` both work) gets a small rotation
    (degrees, uniform in +-``rotation``) and zoom (+-``scale``) about its centre
    (bilinear, Pillow) with the background value filled in, then brightness and contrast shifts
    (fractions of the data's value range), a Gaussian blur with sigma in
    [0, ``blur``] px and Gaussian noise (std ``noise`` x range). NumPy/SciPy.
    """
    from PIL import Image
    from scipy import ndimage

    def fn(x_batch, rng):
        x = np.asarray(x_batch)
        shape = x.shape
        imgs = x.reshape((-1,) + shape[-3:]).astype(np.float32, copy=True)
        lo, hi = float(imgs.min()), float(imgs.max())
        span = (hi - lo) or 1.0
        for i in range(len(imgs)):
            img = imgs[i]
            h, w = img.shape[:2]
            bg = float(np.median(img))
            if rotation or scale:
                ang = np.deg2rad(rng.uniform(-rotation, rotation))
                z = 1.0 + rng.uniform(-scale, scale)
                c, s = np.cos(ang) / z, np.sin(ang) / z
                # output pixel centre (x, y) -> input (PIL's affine map, about the centre)
                cx, cy = w / 2.0, h / 2.0
                data = (c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy)
                for ch in range(img.shape[-1]):
                    src = Image.fromarray(np.ascontiguousarray(img[..., ch]), mode="F")
                    img[..., ch] = np.asarray(
                        src.transform((w, h), Image.AFFINE, data, resample=Image.BILINEAR, fillcolor=bg)
                    )
            if blur:
                sigma = rng.uniform(0, blur)
                if sigma > 0.05:
                    img[:] = ndimage.gaussian_filter(img, sigma=(sigma, sigma, 0))
            if contrast:
                mean = img.mean()
                img[:] = (img - mean) * (1.0 + rng.uniform(-contrast, contrast)) + mean
            if brightness:
                img += rng.uniform(-brightness, brightness) * span
            if noise:
                img += np.float32(noise * span) * rng.standard_normal(img.shape, dtype=np.float32)
            np.clip(img, lo, hi, out=img)
        return imgs.reshape(shape).astype(x.dtype if x.dtype.kind == "f" else np.float32)

    return fn
