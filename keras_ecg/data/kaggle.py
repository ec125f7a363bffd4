"""The Kaggle heartbeat CSV format (Kachuee et al. 2018): one beat per row, 187 samples at 125 Hz scaled to
[0, 1], then the class label. Read and written here; rebuilt from records by
:func:`keras_ecg.data.mitbih.kaggle_beats_from_records`.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from keras_ecg import errors
from keras_ecg._atomic import atomic_path
from keras_ecg.data.dataset import Dataset
from keras_ecg.data.wfdb_io import DataFileError

AAMI_CLASSES = ["N", "S", "V", "F", "Q"]
KAGGLE_WIDTH = 187
KAGGLE_FS = 125


def _csv_problem(path, width):
    """Find the first bad line of a CSV and describe it (slow path, after a failure)."""
    with open(path, "r", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            cells = line.strip().split(",")
            if cells == [""]:
                continue
            if width is None:
                width = len(cells)
            if len(cells) != width:
                return (f"{path}: line {lineno} has {len(cells)} columns, expected {width} "
                        f"(samples then a label, like the first line).")
            for col, cell in enumerate(cells, 1):
                try:
                    float(cell)
                except ValueError:
                    return f"{path}: line {lineno}, column {col}: {cell.strip()!r} is not a number."
    return f"{path}: cannot parse as a numeric CSV."


def _read_one_csv(path, width):
    path = pathlib.Path(path)
    if not path.exists():
        raise errors.MissingFileError(f"{path}: no such CSV file.")
    try:
        data = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        raise DataFileError(_csv_problem(path, width)) from None
    if data.size == 0:
        raise DataFileError(f"{path}: CSV file is empty.")
    if width is not None and data.shape[1] != width:
        raise DataFileError(f"{path}: rows have {data.shape[1]} columns, expected {width} "
                            f"({width - 1} samples then a label).")
    if data.shape[1] < 2:
        raise DataFileError(f"{path}: rows need samples then a label; found {data.shape[1]} column.")
    bad = ~np.isfinite(data)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataFileError(f"{path}: line {row + 1}, column {col + 1} is {data[row, col]} (not a finite number).")
    labels = data[:, -1]
    if (labels != np.round(labels)).any() or (labels < 0).any():
        row = int(np.flatnonzero((labels != np.round(labels)) | (labels < 0))[0])
        raise DataFileError(f"{path}: line {row + 1}: label {labels[row]} is not a class index (0, 1, ...).")
    return data[:, :-1].astype(np.float32), labels.astype(np.int64)


def read_kaggle_csv(path, class_names=None, width: int | None = KAGGLE_WIDTH + 1) -> Dataset:
    """Read Kaggle heartbeat CSVs (``mitbih_train.csv``, ``ptbdb_normal.csv``...).

    Each row: 187 samples (125 Hz, scaled to [0, 1]) then a label, no header.
    ``path`` may be one file or a list of files (concatenated). Class names
    default to N S V F Q, or normal/abnormal for ``ptbdb_*`` files. The CSVs
    carry no record ids, so each row is its own group (``meta["groups"]``).
    ``width=None`` accepts any column count (the same in every row).
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths:
        raise ValueError("read_kaggle_csv needs at least one file.")
    xs, ys, groups = [], [], []
    for p in paths:
        x, y = _read_one_csv(p, width)
        xs.append(x)
        ys.append(y)
        groups.append(np.char.add(pathlib.Path(p).stem + ":", np.arange(len(y)).astype(str)))
    if len({x.shape[1] for x in xs}) > 1:
        raise DataFileError(f"{paths}: files have different row widths {[x.shape[1] for x in xs]}.")
    y = np.concatenate(ys)
    if class_names is None:
        if all(pathlib.Path(p).name.startswith("ptbdb") for p in paths) and y.max() <= 1:
            class_names = ["normal", "abnormal"]
        elif y.max() < len(AAMI_CLASSES):
            class_names = list(AAMI_CLASSES)
        else:
            class_names = [str(i) for i in range(int(y.max()) + 1)]
    if y.max() >= len(class_names):
        raise DataFileError(f"{paths}: label {int(y.max())} has no name in class_names {class_names}.")
    meta = {"source": "Kaggle heartbeat CSV (" + ", ".join(str(p) for p in paths) + ")",
            "synthetic": False, "sampling_rate": float(KAGGLE_FS), "window": xs[0].shape[1],
            "r_offset": 0, "groups": "row (the CSV has no record ids)", "inputs": ["beats"]}
    return Dataset(np.concatenate(xs), y, np.concatenate(groups), class_names, meta)


def write_kaggle_csv(path, ds: Dataset) -> pathlib.Path:
    """Write ``ds`` (one input of shape (n, width)) as a Kaggle heartbeat CSV.

    Values are written with 9 significant digits, which float32 reads back
    exactly; the file is written to a temporary name and renamed.
    """
    if isinstance(ds.x, tuple):
        raise ValueError("write_kaggle_csv writes one waveform input; this Dataset has several (x is a tuple).")
    x = np.asarray(ds.x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"write_kaggle_csv needs x of shape (n, width); got {x.shape}.")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.concatenate([x.astype(np.float64), ds.y.astype(np.float64)[:, None]], axis=1)
    fmt = ["%.9e"] * x.shape[1] + ["%.1f"]
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        np.savetxt(f, data, fmt=fmt, delimiter=",")
    return path
