"""Images per second through decoding and preprocessing, first and cached epochs.

For ``page`` and ``panels`` preprocessing it measures:

- ``first_epoch``: :func:`images.load_folder` with an empty cache (hash the
  file, decode the JPEG, preprocess, perceptual hash, write the cache entry);
- ``cached_load``: the same call again (hash the file, read the cache entry);
- ``pipeline_epochs``: batches of the loaded arrays through the pipeline's
  :class:`BatchPlan` (what ``to_tf_dataset``/``to_pydataset`` run per batch),
  with and without :func:`images.image_augment`;
- ``lazy``: a Dataset of file paths with ``image_loader`` through the plan with
  ``cache=True``: epoch 1 decodes, later epochs use the memoised arrays.

Usage::

    python benchmarks/image_pipeline.py [--data DIR] [--n 150] [--out benchmarks/results/image_pipeline.json]

``--data`` defaults to ``$KERAS_ECG_DATA/ecg_images``; without it, rendered
synthetic pages written to a temporary folder are used (and the JSON says so).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from keras_ecg.data import images  # noqa: E402
from keras_ecg.data.images import synthetic_pages  # noqa: E402
from keras_ecg.data.dataset import Dataset  # noqa: E402
from keras_ecg.data.pipeline import BatchPlan  # noqa: E402


def _subset_folder(src: pathlib.Path, n: int, dst: pathlib.Path) -> pathlib.Path:
    """Symlinks to about ``n`` files spread over the class folders (no copies)."""
    folders = sorted(p for p in src.iterdir() if p.is_dir())
    per = max(1, n // len(folders))
    for f in folders:
        (dst / f.name).mkdir(parents=True)
        files = sorted(f.iterdir(), key=lambda p: images._natural_key(p.name))[:per]
        for p in files:
            (dst / f.name / p.name).symlink_to(p.resolve())
    return dst


def _synthetic_folder(n: int, dst: pathlib.Path) -> pathlib.Path:
    from PIL import Image

    per = max(1, n // len(synthetic_pages.CLASSES))
    for c in synthetic_pages.CLASSES:
        (dst / c).mkdir(parents=True)
        for i in range(per):
            page = synthetic_pages.render_page(c, seed=i)
            Image.fromarray(page).save(dst / c / f"{c} ({i}).jpg", quality=80)
    return dst


def _rate(n, seconds):
    return round(n / seconds, 1) if seconds > 0 else None


def _plan_epochs(ds, epochs, augment=None, loader=None):
    plan = BatchPlan(ds, batch_size=32, shuffle=True, seed=0, augment=augment, loader=loader, cache=True)
    out = []
    for e in range(epochs):
        t = time.perf_counter()
        for i in range(len(plan)):
            plan.batch(i, e)
        out.append(_rate(len(ds), time.perf_counter() - t))
    return out


def run(folder: pathlib.Path, epochs: int, source: str):
    results = {}
    for pre, kw in (("page", {"image_size": 224}), ("panels", {"panel_size": (64, 64)})):
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter()
            ds = images.load_folder(folder, preprocess=pre, cache_dir=cache, on_error="skip", **kw)
            first = time.perf_counter() - t
            n_files = len(ds) + len(ds.meta["layout_failures"]) + len(ds.meta["skipped"])
            t = time.perf_counter()
            again = images.load_folder(folder, preprocess=pre, cache_dir=cache, on_error="skip", **kw)
            cached = time.perf_counter() - t
            assert again.meta["decoded"] == 0
        paths = np.array(_usable_paths(folder, ds), dtype=object)
        lazy_ds = Dataset(paths, ds.y, ds.groups, ds.class_names)
        loader = images.image_loader(pre, **kw)
        results[pre] = {
            "n_files": n_files,
            "n_images": len(ds),
            "layout_failures": len(ds.meta["layout_failures"]),
            "x_shape": list(ds.x.shape[1:]),
            "first_epoch_images_per_s": _rate(n_files, first),
            "cached_load_images_per_s": _rate(n_files, cached),
            "pipeline_epochs_images_per_s": _plan_epochs(ds, epochs),
            "pipeline_epochs_augmented_images_per_s": _plan_epochs(ds, 2, augment=images.image_augment()),
            "lazy_loader_epochs_images_per_s": _plan_epochs(lazy_ds, epochs, loader=loader),
        }
        print(pre, json.dumps(results[pre]), flush=True)
    return {
        "source": source,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "note": "seconds measured on a shared machine; first epoch includes sha256, decode, "
        "preprocess, perceptual hash and cache write",
        "results": results,
    }


def _usable_paths(folder, ds):
    """Paths of the images that made it into ``ds`` (load order, minus failures)."""
    files, names, *_ = images.list_folder(folder)
    bad = {f["file"] for f in ds.meta["layout_failures"]} | {f["file"] for f in ds.meta["skipped"]}
    out = [str(f) for c in names for f in files[c] if str(f.relative_to(folder)) not in bad]
    assert len(out) == len(ds)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="folder of class folders (default $KERAS_ECG_DATA/ecg_images)")
    ap.add_argument("--n", type=int, default=150, help="about this many images, spread over classes")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results" / "image_pipeline.json"))
    args = ap.parse_args(argv)
    data = args.data
    if data is None and os.environ.get("KERAS_ECG_DATA"):
        cand = pathlib.Path(os.environ["KERAS_ECG_DATA"]) / "ecg_images"
        data = str(cand) if cand.exists() else None
    with tempfile.TemporaryDirectory() as tmp:
        if data:
            folder = _subset_folder(pathlib.Path(data), args.n, pathlib.Path(tmp) / "subset")
            source = f"{data} (first {args.n // 5} files of each class)"
        else:
            folder = _synthetic_folder(args.n, pathlib.Path(tmp) / "synthetic")
            source = "synthetic pages (render_page, 1107x786 JPEG q80)"
        report = run(folder, args.epochs, source)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp_out, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
