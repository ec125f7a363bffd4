"""Where a recipe's data comes from: a path, the embedded synthetic data, or ``auto``.

``--data auto`` (the default) looks, in order, at

1. ``$KERAS_ECG_DATA`` (a folder holding ``mitdb/``, ``ecg_images/`` ... or the
   dataset folder itself),
2. the Keras datasets cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``),
3. an open download (MIT-BIH from PhysioNet, every file checked against the
   SHA256 sums shipped in ``keras_ecg/mitdb_sha256.txt``), unless
   ``KERAS_ECG_OFFLINE=1``,
4. the embedded synthetic data, with a warning (``Resolved.warnings``) that the
   runner prints and writes into every report.

``--data PATH`` must exist (a clear :class:`DataError` otherwise) and
``--data synthetic`` skips the search. Importing this module never imports keras.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import shutil
import tempfile
import urllib.request

import numpy as np

from keras_ecg.data.images.io import IMAGE_SUFFIXES
from keras_ecg.errors import DataError

DATA_ENV = "KERAS_ECG_DATA"
OFFLINE_ENV = "KERAS_ECG_OFFLINE"
MITDB_URL = "https://physionet.org/files/mitdb/1.0.0/"
SHA256_FILE = pathlib.Path(__file__).parents[1] / "mitdb_sha256.txt"

SYNTHETIC_FALLBACK = (
    "No real {what} data found (looked at --data, ${env}, {cache}{dl}); using the EMBEDDED "
    "SYNTHETIC data instead. Results say nothing about ECG performance. Point --data or "
    "${env} at the real data to train on it."
)


@dataclasses.dataclass
class Resolved:
    """Where the data was found: ``kind`` is ``"path"`` or ``"synthetic"``."""

    kind: str
    path: pathlib.Path | None = None
    how: str = ""
    warnings: list = dataclasses.field(default_factory=list)

    @property
    def synthetic(self) -> bool:
        return self.kind == "synthetic"


# ----------------------------------------------------------------------------- layout


def keras_datasets_dir() -> pathlib.Path:
    """``$KERAS_HOME/datasets`` or ``~/.keras/datasets`` (where keras caches downloads)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return pathlib.Path(home) / "datasets"


def _has_wfdb(p: pathlib.Path) -> bool:
    return p.is_dir() and any(p.glob("*.hea"))


def _has_kaggle_csv(p: pathlib.Path) -> bool:
    return (p / "mitbih_train.csv").is_file() and (p / "mitbih_test.csv").is_file()


def _has_image_classes(p: pathlib.Path) -> bool:
    if not p.is_dir():
        return False
    for sub in p.iterdir():
        if sub.is_dir() and any(f.suffix.lower() in IMAGE_SUFFIXES for f in sub.iterdir() if f.is_file()):
            return True
    return False


# kind -> (sub-folders to try under a data root, test for a dataset folder, what)
LAYOUTS = {
    "mitdb": (("mitdb", "mit-bih-arrhythmia-database-1.0.0", "mitbih"), _has_wfdb, "MIT-BIH (WFDB)"),
    "mitbih_csv": (("mitbih_csv", "mitbih", "heartbeat", "kaggle"), _has_kaggle_csv,
                   "Kaggle heartbeat CSV (mitbih_train.csv/mitbih_test.csv)"),
    "ecg_images": (("ecg_images",), _has_image_classes, "ECG image folders"),
}


def find_in(root, kind: str) -> pathlib.Path | None:
    """The dataset folder of ``kind`` at ``root`` or in one of its known sub-folders."""
    subdirs, test, _ = LAYOUTS[kind]
    root = pathlib.Path(root).expanduser()
    for cand in (root, *(root / s for s in subdirs)):
        if test(cand):
            return cand
    return None


# ----------------------------------------------------------------------------- download


def fetch(url: str, dest: pathlib.Path, timeout: float = 30.0) -> None:
    """Download ``url`` to ``dest`` (tests monkeypatch this)."""
    with urllib.request.urlopen(url, timeout=timeout) as r, open(dest, "wb") as f:
        shutil.copyfileobj(r, f)


def read_sha256sums(path=SHA256_FILE) -> dict:
    """``{file name: sha256 hex}`` from a ``sha256sum`` listing."""
    sums = {}
    for line in pathlib.Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_mitdb(dest=None, url: str = MITDB_URL, sums: dict | None = None, log=print) -> pathlib.Path:
    """Download MIT-BIH from PhysioNet into ``dest`` (default the keras cache), verified.

    Files land in a temporary folder beside ``dest``; each is checked against its
    SHA256 sum and the folder is renamed to ``dest`` only when all match, so an
    interrupted or corrupted download never looks like a dataset.
    """
    dest = pathlib.Path(dest) if dest is not None else keras_datasets_dir() / "mitdb"
    sums = read_sha256sums() if sums is None else sums
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=".mitdb-download-", dir=dest.parent))
    try:
        log(f"Downloading MIT-BIH Arrhythmia Database ({len(sums)} files, ~100 MB) from {url} to {dest}")
        for name, want in sorted(sums.items()):
            target = tmp / name
            fetch(url + name, target)
            got = sha256_of(target)
            if got != want:
                raise DataError(f"download of {url + name}: SHA256 mismatch (got {got[:12]}..., expected {want[:12]}...)")
        names = sorted({n.rsplit(".", 1)[0] for n in sums})
        (tmp / "RECORDS").write_text("\n".join(names) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


DOWNLOADERS = {"mitdb": download_mitdb}


# ----------------------------------------------------------------------------- resolve


def resolve(data: str | None, kind: str, *, download: bool = True, log=print) -> Resolved:
    """Find the data of ``kind`` (a key of :data:`LAYOUTS`) for ``--data``.

    ``data``: a path, ``"synthetic"`` or ``"auto"``/None.
    """
    _, _, what = LAYOUTS[kind]
    if data == "synthetic":
        return Resolved("synthetic", how="--data synthetic",
                        warnings=["--data synthetic: trained and evaluated on the EMBEDDED SYNTHETIC data."])
    if data not in (None, "", "auto"):
        root = pathlib.Path(data).expanduser()
        if not root.exists():
            raise DataError(f"--data {data}: no such file or directory.")
        found = find_in(root, kind)
        if found is None:
            raise DataError(f"--data {data}: no {what} data found there.")
        return Resolved("path", found, how=f"--data {data}")
    env = os.environ.get(DATA_ENV)
    notes = []
    if env:
        found = find_in(env, kind)
        if found is not None:
            return Resolved("path", found, how=f"${DATA_ENV}={env}")
        notes.append(f"${DATA_ENV}={env} holds no {what} data")
    cache = keras_datasets_dir()
    found = find_in(cache, kind)
    if found is not None:
        return Resolved("path", found, how=f"keras datasets cache {cache}")
    dl = ""
    if kind in DOWNLOADERS and download:
        if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
            dl = f", download skipped (${OFFLINE_ENV} set)"
        else:
            try:
                path = DOWNLOADERS[kind](cache / "mitdb", log=log)
                return Resolved("path", path, how=f"downloaded from {MITDB_URL} (SHA256 verified)")
            except Exception as e:  # no network, server error, checksum mismatch
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                dl = f", download failed: {msg}"
    warning = SYNTHETIC_FALLBACK.format(what=what, env=DATA_ENV, cache=cache, dl=dl)
    if notes:
        warning += " (" + "; ".join(notes) + ")"
    return Resolved("synthetic", how="fallback", warnings=[warning])  # the caller prints it and reports it


# ----------------------------------------------------------------------------- loading


@dataclasses.dataclass
class Data:
    """Train and test sides plus what the report and model card need."""

    train: object
    test: object
    source: str
    synthetic: bool
    warnings: list
    input_kind: str
    preprocessing: dict
    loader: object = None  # callable loading a batch of x (paths) into arrays, or None
    path: object = None  # the folder the data was read from (None for synthetic data)


def _channel_last(ds):
    """Beats ``(n, T)`` -> ``(n, T, 1)`` (the models take (T, C))."""
    xs = list(ds.inputs)
    if xs[0].ndim == 2:
        xs[0] = xs[0][..., None].astype(np.float32)
    ds.x = tuple(xs) if isinstance(ds.x, tuple) else xs[0]
    return ds


def _run_config(cfg, task: str):
    """``cfg`` as a :class:`~keras_ecg.config.RunConfig` (a dict is checked and completed with defaults)."""
    from keras_ecg.config import RunConfig

    return cfg if isinstance(cfg, RunConfig) else RunConfig.for_recipe({"task": task, **cfg})


def check_classes(ds, what: str) -> None:
    """A clear error when a side of the data holds fewer than two classes."""
    present = np.unique(ds.y)
    if len(present) < 2:
        name = ds.class_names[present[0]] if len(present) else "none"
        raise DataError(
            f"{what} holds {len(present)} class ({name}); a classifier needs at least two classes."
        )


def beat_spec(cfg):
    """The :class:`~keras_ecg.data.beats.BeatSpec` of a run configuration's MIT-BIH settings."""
    from keras_ecg.data.beats import BeatSpec

    return BeatSpec(fs=float(cfg.fs), before_s=float(cfg.before_s), after_s=float(cfg.after_s),
                    leads=tuple(cfg.leads), filter=cfg.filter, normalize=cfg.normalize, rr=bool(cfg.rr_features),
                    template_beats=int(cfg.template_beats), shape=bool(cfg.shape_features),
                    align=bool(cfg.align_peaks), secondary_fallback=len(cfg.leads) > 1,
                    rr_context=bool(cfg.rr_context))


def ds_fallback(*sides) -> dict:
    """``{record: leads read}`` where the lead policy fell back to another lead, on the given split sides."""
    out = {}
    for ds in sides:
        out.update(ds.meta.get("lead_fallback") or {})
    return {r: (list(u) if isinstance(u, (list, tuple)) else [u]) for r, u in sorted(out.items())}


def _inter_records(path):
    """The DS1 and DS2 records (the inter split needs no others; with some missing, the split is renamed)."""
    from keras_ecg.data import mitbih, splits

    have = set(mitbih.list_records(path))
    return [r for r in (*splits.DS1, *splits.DS2) if r in have]


def load_mitbih(cfg, data: str | None, seed: int = 0, log=print) -> Data:
    """MIT-BIH beats split by ``cfg.split`` (inter | intra | ds1cv) from WFDB or the Kaggle CSVs.

    ``cfg``: a :class:`~keras_ecg.config.RunConfig` (or a dict of its settings).
    """
    from keras_ecg.data import splits

    cfg = _run_config(cfg, "mitbih")
    split = cfg.split
    source = cfg.source
    kind = "mitbih_csv" if source == "csv" else "mitdb"
    res = resolve(data, kind, log=log)
    try:
        spec = beat_spec(cfg)
    except ValueError as e:
        raise DataError(str(e)) from None
    prep = {"input_kind": "waveform", **spec.to_card()}
    if res.synthetic:
        from keras_ecg.data import synthetic

        ds = synthetic.record_beats(spec, n_per_class=int(cfg.synthetic_n), seed=seed)
        train, test = splits.group_split(ds, test_size=0.25, seed=seed)
        desc = ds.meta.get("source", "embedded synthetic records")
    elif source == "csv":
        from keras_ecg.data import mitbih

        if split != "intra":
            raise DataError("--source csv: the Kaggle CSVs carry no record ids, so no inter-patient split; "
                            "use --split intra.")
        try:
            train = mitbih.read_kaggle_csv(res.path / "mitbih_train.csv")
            test = mitbih.read_kaggle_csv(res.path / "mitbih_test.csv")
        except (OSError, ValueError) as e:
            raise DataError(str(e).splitlines()[0]) from None
        for side in (train, test):
            side.meta["split"] = "kaggle mitbih_train.csv / mitbih_test.csv (intra-patient)"
        desc = f"Kaggle MIT-BIH heartbeat CSVs ({res.path})"
        width = int(train.inputs[0].shape[1])
        prep = {"input_kind": "waveform", "window": width, "fs": float(train.meta.get("sampling_rate", 125)),
                "r_offset": int(train.meta.get("r_offset", 0)), "leads": ["MLII"],
                "normalize": "kaggle (row min-max, zero-padded)", "format": "kaggle_csv"}
    else:
        from keras_ecg.data import mitbih

        try:
            by_record = split in ("inter", "ds1cv")
            records = _inter_records(res.path) if by_record else None
            if split == "ds1cv":  # DS2 is not even read
                records = [r for r in records if r in splits.DS1]
            ds = mitbih.load_beats(res.path, spec=spec, records=records)
        except (OSError, ValueError) as e:
            raise DataError(f"{res.path}: {str(e).splitlines()[0]}") from None
        if by_record:
            train, test = splits.inter_patient(ds) if split == "inter" else splits.ds1_fold(ds, int(cfg.fold))
            if cfg.train_peaks == "detected":  # the training side cut where the deployed detector finds beats
                train = _detected_train(res.path, spec, train)
        else:
            train, test = splits.intra_patient(ds, test_size=float(cfg.test_size), seed=seed)
        desc = ds.meta.get("source", f"MIT-BIH ({res.path})")
        prep["leads_used"] = ds.meta.get("leads_used")
    train, test = _channel_last(train), _channel_last(test)
    check_classes(train, "the training side")
    warns = list(res.warnings)
    fallback = (prep.get("leads_used") and ds_fallback(train, test)) or {}
    if fallback:  # the lead policy's fallback (e.g. records 102/104 lack MLII) is said in every report
        warns.append("lead policy fallback: " + "; ".join(f"record {r} has no {'/'.join(cfg.leads)}: read "
                                                           f"{'/'.join(map(str, u))}" for r, u in fallback.items()))
    if train.meta.get("missing_records"):  # a split named after a protocol never hides missing records
        warns.append(f"{train.meta['split']}: missing {', '.join(train.meta['missing_records'])}")
    return Data(train, test, f"{desc} [{res.how}]", res.synthetic or bool(train.meta.get("synthetic")),
                warns, "waveform", prep, path=None if res.synthetic else res.path)


def _detected_train(path, spec, train):
    """The training side's records again, cut at detected R peaks labelled by the matched reference beats."""
    from keras_ecg.data import mitbih

    names = sorted(set(train.groups.astype(str)), key=list(train.groups.astype(str)).index)
    det = mitbih.load_beats(path, spec=spec, records=names, peaks="detected")
    keep = {k: v for k, v in train.meta.items() if k not in det.meta or k in ("split", "split_side")}
    return det.subset(np.arange(len(det)), **keep)


def data_input_kind(task: str, model_name: str) -> str:
    """The input a model reads in a task: its registry kind, except that a waveform (1-D) model in the
    images task reads the leads digitised off each page (``digitized``)."""
    from keras_ecg import registry

    kind = registry.input_kind(model_name)
    return "digitized" if task == "images" and kind == "waveform" else kind


def image_dataset(cfg, data: str | None, input_kind: str, seed: int = 0, log=print):
    """``(dataset, preprocessing dict, source description, resolved)``: the whole image data, not split.

    ``meta["files"]`` (folders only) names each page relative to ``meta["source"]``.
    """
    cfg = _run_config(cfg, "images")
    preprocess = {"panels": cfg.panel_preprocess, "digitized": "digitized"}.get(input_kind, cfg.page_preprocess)
    image_size = cfg.image_size
    classes = cfg.classes
    binary = cfg.binary
    res = resolve(data, "ecg_images", log=log)
    prep = {"input_kind": input_kind, "preprocess": preprocess,
            "image_size": None if input_kind == "digitized" else image_size, "classes": classes, "binary": binary}
    if res.synthetic:
        from keras_ecg.data.images import synthetic_pages

        ds = synthetic_pages.pages(n_per_class=int(cfg.synthetic_n), classes=classes,
                                   image_size=image_size, preprocess=preprocess, seed=seed, binary=binary)
        desc = ds.meta.get("source", "embedded synthetic ECG pages")
    else:
        from keras_ecg.data import images

        try:
            ds = images.load_folder(res.path, class_map=cfg.class_map, preprocess=preprocess,
                                    classes=classes, binary=binary, image_size=image_size)
        except (OSError, ValueError) as e:
            raise DataError(f"{res.path}: {str(e).splitlines()[0]}") from None
        desc = ds.meta.get("source", f"ECG images ({res.path})")
    check_classes(ds, "the image dataset")
    for key in ("image_size", "panel_size", "layout", "preprocess", "num_panels"):
        if key in ds.meta:
            prep[key] = ds.meta[key]
    return ds, prep, f"{desc} [{res.how}]", res


def load_images(cfg, data: str | None, input_kind: str, seed: int = 0, log=print) -> Data:
    """ECG page images (``input_kind`` image) or lead panels (``panels``), group-split by content.

    ``cfg``: a :class:`~keras_ecg.config.RunConfig` (or a dict of its settings).
    """
    from keras_ecg.data import splits

    cfg = _run_config(cfg, "images")
    ds, prep, desc, res = image_dataset(cfg, data, input_kind, seed=seed, log=log)
    train, test = splits.group_split(ds, test_size=float(cfg.test_size), seed=seed)
    check_classes(train, "the training side")
    return Data(train, test, desc, res.synthetic or bool(ds.meta.get("synthetic")),
                list(res.warnings), input_kind, prep)
