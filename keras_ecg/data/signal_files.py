"""Whole recordings from a WFDB record, a CSV of samples or an EDF file, as one :class:`~keras_ecg.data.wfdb_io.Record`.

* WFDB: a path without extension or with ``.hea``/``.dat`` (:func:`keras_ecg.data.wfdb_io.load_record`);
* CSV: one column per lead, one row per sample, an optional header row of lead names (a
  column named ``time``/``t``/``seconds`` is dropped); the sampling rate must be given (``fs``);
* EDF (``.edf``): read with ``wfdb``; the file carries its rate and lead names.

Every problem is a :class:`~keras_ecg.errors.DataError` naming the file.
"""

from __future__ import annotations

import csv
import pathlib

import numpy as np

from keras_ecg.data import wfdb_io
from keras_ecg.errors import DataError

TIME_COLUMNS = ("time", "t", "seconds", "time_s", "sample")


def kind(path) -> str:
    """``wfdb``, ``csv`` or ``edf`` for a recording path; raises for anything else."""
    p = pathlib.Path(path)
    if p.suffix.lower() == ".csv":
        return "csv"
    if p.suffix.lower() == ".edf":
        return "edf"
    if p.suffix in (".hea", ".dat", ".atr") or p.with_name(p.name + ".hea").exists():
        return "wfdb"
    if not p.exists():
        raise DataError(f"{p}: no such recording (a WFDB record path without extension, a .csv or an .edf)")
    raise DataError(f"{p}: not a recording keras_ecg reads (a WFDB record, a .csv of samples or an .edf file)")


def _csv(path: pathlib.Path, fs) -> wfdb_io.Record:
    if not fs or fs <= 0:
        raise DataError(f"{path}: a CSV of samples needs its sampling rate (--fs HZ)")
    try:
        with open(path, newline="") as f:
            first = next(csv.reader(f), None)
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({type(e).__name__}: {e})") from None
    if not first:
        raise DataError(f"{path}: empty CSV")
    try:
        [float(v) for v in first]
        names, skip = [f"ECG{i + 1}" for i in range(len(first))], 0
    except ValueError:
        names, skip = [v.strip() for v in first], 1
    try:
        x = np.loadtxt(path, delimiter=",", skiprows=skip, dtype=np.float32, ndmin=2)
    except ValueError as e:
        raise DataError(f"{path}: not a numeric CSV of samples ({str(e).splitlines()[0]})") from None
    if x.shape[1] != len(names):
        raise DataError(f"{path}: {len(names)} header names for {x.shape[1]} columns")
    keep = [i for i, n in enumerate(names) if n.lower() not in TIME_COLUMNS]
    if not keep or len(x) < 2:
        raise DataError(f"{path}: no signal columns / too few samples")
    return wfdb_io.Record(path.stem, x[:, keep], float(fs), [names[i] for i in keep], path=str(path.with_suffix("")))


def _edf(path: pathlib.Path) -> wfdb_io.Record:
    try:
        from wfdb.io.convert.edf import read_edf

        rec = read_edf(str(path))
        sig = rec.p_signal if rec.p_signal is not None else rec.dac()
    except ImportError:
        raise
    except Exception as e:  # noqa: BLE001 - wfdb raises many types on malformed files
        raise DataError(f"{path}: cannot read EDF ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") \
            from None
    return wfdb_io.Record(path.stem, np.asarray(sig, np.float32), float(rec.fs), list(rec.sig_name),
                          path=str(path.with_suffix("")))


def read(path, fs: float | None = None, annotations: str | None = None) -> wfdb_io.Record:
    """The recording at ``path`` (see the module doc); ``fs`` is needed for a CSV only."""
    p = pathlib.Path(path)
    k = kind(p)
    if k == "csv":
        return _csv(p, fs)
    if k == "edf":
        return _edf(p)
    try:
        return wfdb_io.load_record(p, annotations=annotations)
    except (OSError, ValueError) as e:
        raise DataError(f"{p}: {str(e).splitlines()[0]}") from None
