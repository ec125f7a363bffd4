"""A folder of class folders of ECG page images -> a :class:`Dataset`.

``load_folder`` reads a folder with one sub-folder per class (any names; the
Khan et al. 2021 "ECG Images dataset of Cardiac and COVID-19 Patients" names
are recognised by keyword), decodes each image safely (:mod:`.io`),
preprocesses it with a named variant (:mod:`.preprocess`), finds exact and
near duplicates (:mod:`.dedup`) and caches the decoded arrays on disk (keyed
by the file's sha256 and the preprocessing parameters), so a second load never
decodes a JPEG again.

NumPy, SciPy and Pillow only; importing this never imports keras.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
import warnings

import numpy as np

from keras_ecg import errors
from keras_ecg.data.dataset import Dataset
from keras_ecg.data.images import dedup, panels
from keras_ecg.data.images.io import DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIZE, ImageError, read_image
from keras_ecg.data.images.panels import LayoutError
from keras_ecg.data.images.preprocess import check_preprocess, normalise, pair, prepare

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


def binary_labels(y, names, where: str):
    """Labels over ``names`` as normal (0) / risky (1), and the binary class names."""
    if "normal" not in names:
        raise ValueError(f"{where}: binary=True needs a 'normal' class; classes are {list(names)}")
    return (np.asarray(y) != list(names).index("normal")).astype(np.int64), list(BINARY_CLASSES)
CACHE_VERSION = 4  # bump when preprocessing or layout detection changes


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


def natural_key(name: str):
    """Sort key that orders "MI (9)" before "MI (10)"."""
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


def _gray_hashes(page) -> dict:
    """The grayscale-proof hash of a page and whether it has a pink grid (:mod:`.dedup`)."""
    return {"phash_gray": dedup.gray_hash(page), "colour": np.array(dedup.is_colour(page))}


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


def _khan_class(folder: str):
    low = folder.lower()
    if low in CLASS_ORDER:  # the short names themselves
        return low
    return next((name for key, name in KHAN_KEYWORDS if key in low), None)


def _check_recognised(root, subs, class_map, binary) -> None:
    """Without ``class_map``: in a Khan-named folder or a binary task every class folder must be recognised."""
    if class_map is not None:
        return
    unknown = [s.name for s in subs if _khan_class(s.name) is None]
    if unknown and (binary or len(unknown) < len(subs)):
        task = "a binary (normal / risky) task" if binary else "a folder of the Khan et al. classes"
        raise ImageError(f"{root}: class folder(s) {unknown} match no known class ({', '.join(CLASS_ORDER)}) in "
                         f"{task}; map them explicitly (class_map / --class-map '{{\"{unknown[0]}\": "
                         "\"normal\"}') or move them out")


def list_folder(path, class_map=None, classes=None, binary: bool = False):
    """``(files, class names, folder->class map, empty folders, ignored files)``.

    Without ``class_map``, a class folder that matches none of the Khan et al.
    names is an error when the other folders do match them, and in a binary
    task (it would silently become "risky"); map it explicitly.
    """
    root = pathlib.Path(path)
    if not root.is_dir():
        raise errors.MissingFileError(f"{root}: image folder not found")
    mapping, files, empty, ignored = {}, {}, [], []
    subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    _check_recognised(root, subs, class_map, binary)
    for sub in subs:
        name = folder_class(sub.name, class_map)
        if name is None:
            ignored.append(f"{sub.name}/ (no class in class_map)")
            continue
        mapping[sub.name] = name
        found = []
        for f in sorted(sub.iterdir(), key=lambda p: natural_key(p.name)):
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
        on_layout_error: for ``panels``: ``"skip"`` pages whose layout
            cannot be read (none of :data:`panels.LAYOUTS`), list them with the
            reason in ``meta["layout_failures"]`` and warn in one line, or
            ``"raise"`` a :class:`LayoutError` naming the file.
        duplicates: ``"near"`` (exact + perceptual hash), ``"exact"`` or ``"none"``.
        near_threshold: Hamming distance (of 576 bits) for near duplicates.
        cache, cache_dir: keep decoded arrays in ``$KERAS_ECG_CACHE`` or
            ``~/.cache/keras_ecg`` (``cache_dir`` overrides).
        max_pixels, min_size: refuse images over / under these sizes before decoding.

    Returns:
        A Dataset whose ``groups`` merge each image with its copies and whose
        ``meta`` holds ``source``, ``preprocess``, ``image_size``/``panel_size``,
        ``class_map``, ``counts``, ``skipped``, ``layout_failures``,
        ``layouts`` (each kept page's layout, in item order, with ``files``),
        ``layout_counts``, ``duplicates`` (see :func:`format_report`).
    """
    check_preprocess(preprocess)
    for arg, val in (("on_error", on_error), ("on_layout_error", on_layout_error)):
        if val not in ("raise", "skip"):
            raise ValueError(f"{arg} must be 'raise' or 'skip', got {val!r}")
    if duplicates not in ("near", "exact", "none"):
        raise ValueError(f"duplicates must be 'near', 'exact' or 'none', got {duplicates!r}")
    if preprocess == "page" and image_size is None:
        raise ValueError("preprocess='page' needs an image_size to stack pages of different sizes")
    root = pathlib.Path(path)
    files, names, mapping, empty, ignored = list_folder(root, class_map, classes, binary=binary)
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
        "panel_size": list(pair(panel_size)) if preprocess == "panels" else None,
        "max_pixels": max_pixels,
        "min_size": min_size,
    }
    croot = _cache_root(cache_dir) if cache else None
    xs, ys, shas, hashes, rels, layout_failures, layouts = [], [], [], [], [], [], []
    gray_hashes, colours = [], []
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
            if entry is not None and "phash_gray" not in entry:  # cached before the grayscale hash: add it
                try:
                    entry = {**entry, **_gray_hashes(read_image(f, max_pixels=max_pixels, min_size=min_size))}
                    _save_entry(_cache_path(croot, sha, params), **entry)
                except ImageError:
                    entry = None
            if entry is None:
                try:
                    page = read_image(f, max_pixels=max_pixels, min_size=min_size)
                except ImageError as e:
                    _fail(on_error, skipped, rel, str(e))
                    continue
                n_decoded += 1
                entry = {"phash": dedup.page_hash(page), **_gray_hashes(page), "error": np.array(""),
                         "layout": np.array(_layout_kind(page))}
                try:
                    entry["x"] = prepare(page, preprocess, image_size, panel_size)
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
            layouts.append(str(entry["layout"]))
            ys.append(label)
            shas.append(sha)
            hashes.append(entry["phash"])
            gray_hashes.append(entry["phash_gray"])
            colours.append(bool(entry["colour"]))
            rels.append(rel)
    if layout_failures:
        first = layout_failures[0]
        warnings.warn(f"{root}: {len(layout_failures)} page(s) without a readable layout left out "
                      f"({preprocess}), e.g. {first['file']}: {first['reason']} (all in meta['layout_failures'])")
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
            gray_hashes=np.stack(gray_hashes) if duplicates == "near" else None,
            colour=colours,
        )
        report["label_conflicts"] = _label_conflicts(groups, ys, rels, names)
    x = np.stack(xs)
    x = normalise(x, preprocess, dtype)
    y = np.asarray(ys, dtype=np.int64)
    class_names = list(names)
    fine_names = list(names)
    if binary:
        y, class_names = binary_labels(y, names, str(root))
    meta = {
        "source": str(root),
        "synthetic": False,
        "preprocess": preprocess,
        "image_size": image_size if preprocess not in ("panels", "digitized") else None,
        "panel_size": list(pair(panel_size)) if preprocess == "panels" else None,
        "panel_names": list(panels.LEADS) if preprocess == "panels" else None,
        "normalisation": {"panels": "x/255", "digitized": "mV"}.get(preprocess, "(x/255 - 0.5) / 0.5"),
        "class_map": {k: v for k, v in mapping.items()},
        "fine_classes": fine_names,
        "binary": bool(binary),
        "counts": {c: int((np.asarray(ys) == i).sum()) for i, c in enumerate(fine_names)},
        "skipped": skipped,
        "ignored": ignored,
        "layout_failures": layout_failures,
        "layouts": layouts,
        "layout_counts": {k: layouts.count(k) for k in sorted(set(layouts))},
        "files": rels,
        "item_keys": ["files", "layouts"],
        "duplicates": report,
        "decoded": n_decoded,
        "files": rels,  # per page, relative to source (drop it before subsetting)
    }
    return Dataset(x, y, groups, class_names, meta)


def _layout_kind(page) -> str:
    """The page's layout (``3x4+1``, ``6x2+1``, ``6x2``), or ``unknown: <reason>``."""
    try:
        return panels.find_layout(page).kind
    except LayoutError as e:
        return f"unknown: {e}"


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
    if m.get("layout_counts"):
        lines.append("layouts: " + ", ".join(f"{k} {v}" for k, v in m["layout_counts"].items()))
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
