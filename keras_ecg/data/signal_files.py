"""Whole recordings from a WFDB record, a CSV of samples or an EDF file, as one :class:`~keras_ecg.data.wfdb_io.Record`.

* WFDB: a path without extension or with ``.hea``/``.dat`` (:func:`keras_ecg.data.wfdb_io.load_record`);
* CSV: one column per lead, one row per sample, an optional header row of lead names; the
  sampling rate must be given (``fs``). A time column is dropped: one named ``time``/``t``/
  ``seconds``/``time_s``/``sample``, or an unnamed first column that rises in equal steps (no ECG
  does). Its step must agree with ``fs`` (seconds, milliseconds or sample numbers), else the file
  is refused: a wrong ``--fs`` would shift every time and rate silently;
* any other file by its content, whatever its name (:mod:`keras_ecg.data.formats`): DICOM
  waveform, EDF/EDF+/BDF, and the other formats of that package; the file carries its rate
  and lead names (and, where the format does, beat annotations and a start time). A file
  whose name claims one format and holds another is refused in one line.

Rates outside :mod:`keras_ecg.data.rates`'s range are refused (``fs`` of a CSV too). The
record's ``path`` is the file itself for a CSV or a file read by content, the path without
extension for WFDB. Patient identifiers of a file's header are read only with
``identifiers=True``. Every problem is a :class:`~keras_ecg.errors.DataError` naming the file.
"""

from __future__ import annotations

import csv
import pathlib

import numpy as np

from keras_ecg.data import formats, rates, wfdb_io
from keras_ecg.errors import DataError

TIME_COLUMNS = ("time", "t", "seconds", "time_s", "sample")


def kind(path) -> str:
    """``wfdb``, ``csv`` or the :mod:`keras_ecg.data.formats` module (``dicom``, ``edf_plus``, ...) of a
    recording path, the last by the file's content; raises for anything else."""
    p = pathlib.Path(path)
    if p.suffix in (".hea", ".dat", ".atr") or p.with_name(p.name + ".hea").exists():
        return "wfdb"
    if not p.is_file():
        raise DataError(f"{p}: no such recording (a WFDB record path without extension, a .csv of samples, or a "
                        f"file of a format read by content: {formats.read_what()})")
    found = formats.recognise(p)
    if p.suffix.lower() == ".csv":
        if found:
            raise DataError(f"{p}: named as a CSV of samples (.csv) but holds {formats.module(found).NAME} content")
        return "csv"
    if found:
        return found
    raise DataError(f"{p}: not a recording keras_ecg reads: not a WFDB record, a .csv of samples, nor by its "
                    f"content any of {formats.read_what()}")


def _header(path: pathlib.Path):
    """``(lead names, rows to skip)`` from the CSV's first row: names if it is not numeric."""
    try:
        with open(path, newline="") as f:
            first = next(csv.reader(f), None)
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({type(e).__name__}: {e})") from None
    if not first:
        raise DataError(f"{path}: empty CSV")
    try:
        [float(v) for v in first]
        return [f"ECG{i + 1}" for i in range(len(first))], 0
    except ValueError:
        return [v.strip() for v in first], 1


def _time_step(path, col, skip) -> float | None:
    """The mean step of column ``col`` if it rises as a time column does (every value within half a step of a
    line of equal steps: text rounding allowed, no ECG passes), else None. Read again in float64: a float32
    time of a long recording cannot hold its steps."""
    t = np.loadtxt(path, delimiter=",", skiprows=skip, usecols=col, dtype=np.float64, ndmin=1)
    step = (t[-1] - t[0]) / (len(t) - 1)
    if not np.isfinite(t).all() or not step > 0 or (np.diff(t) < 0).any():
        return None
    return float(step) if np.abs(t - (t[0] + step * np.arange(len(t)))).max() <= 0.5 * step else None


def _time_columns(x, names, fs, path, skip) -> list:
    """Indices of the time columns (see the module doc); a time column whose step disagrees with ``fs`` is refused."""
    named = [i for i, n in enumerate(names) if n.lower() in TIME_COLUMNS]
    head = x[:1000, 0]
    maybe = not named and x.shape[1] > 1 and not skip and (np.diff(head) >= 0).all() and head[-1] > head[0]
    found = named or ([0] if maybe and _time_step(path, 0, skip) else [])
    for i in found:
        step = _time_step(path, i, skip)
        if step is None:
            raise DataError(f"{path}: column {names[i]!r} is a time column but does not rise in equal steps")
        if not any(abs(step * fs / unit - 1) < 0.01 for unit in (1.0, 1e3, fs)):  # s, ms, sample numbers
            raise DataError(f"{path}: the time column {'' if i in named else '(first column) '}steps by {step:g}, "
                            f"which is neither 1/{fs:g} s, 1000/{fs:g} ms nor 1 sample: the file is not at --fs "
                            f"{fs:g} Hz (give its rate)")
    return found


def _csv(path: pathlib.Path, fs) -> wfdb_io.Record:
    if fs is None:
        raise DataError(f"{path}: a CSV of samples needs its sampling rate (--fs HZ)")
    fs = rates.check(fs, f"{path}: --fs")
    names, skip = _header(path)
    try:
        x = np.loadtxt(path, delimiter=",", skiprows=skip, dtype=np.float32, ndmin=2)
    except ValueError as e:
        raise DataError(f"{path}: not a numeric CSV of samples ({str(e).splitlines()[0]})") from None
    if x.shape[1] != len(names):
        raise DataError(f"{path}: {len(names)} header names for {x.shape[1]} columns")
    if len(x) < 2:
        raise DataError(f"{path}: too few samples ({len(x)})")
    drop = _time_columns(x, names, fs, path, skip)
    keep = [i for i in range(len(names)) if i not in drop]
    if not keep:
        raise DataError(f"{path}: no signal columns (only a time column)")
    return wfdb_io.Record(path.stem, x[:, keep], fs, [names[i] for i in keep], path=str(path))


def read(path, fs: float | None = None, annotations: str | None = None,
         identifiers: bool = False) -> wfdb_io.Record:
    """The recording at ``path`` (see the module doc); ``fs`` is needed for a CSV only. ``annotations``: the
    WFDB annotation file's extension to read with a WFDB record (a file read by content brings the beat
    annotations it carries whenever ``annotations`` is set); ``identifiers``: keep the patient fields of
    a file's header (``Record.identifiers``)."""
    p = pathlib.Path(path)
    k = kind(p)
    if k == "csv":
        return _csv(p, fs)
    if k != "wfdb":
        rec = formats.module(k).read(p, identifiers=identifiers)
        rates.check(rec.fs, f"{p}: {formats.module(k).NAME}")
        if not annotations:
            rec.ann_samples = rec.ann_symbols = None
        return rec
    try:
        return wfdb_io.load_record(p, annotations=annotations)
    except (OSError, ValueError) as e:
        raise DataError(f"{p}: {str(e).splitlines()[0]}") from None
