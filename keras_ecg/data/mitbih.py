"""MIT-BIH Arrhythmia Database: beats from WFDB records, and the Kaggle
heartbeat CSV format (Kachuee et al. 2018).

``load_beats`` reads every record of a folder with ``wfdb`` (``pip install
keras-ecg[data]``), cuts a window around each annotated beat, maps the beat
symbols to the five AAMI classes and keeps the record id of every beat as its
group. Beats are cached on disk per record (see :mod:`keras_ecg.data.cache`).
Malformed files raise :class:`DataFileError` (a ``ValueError``) or
``FileNotFoundError`` with the file name and the problem.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import tempfile

import numpy as np

from keras_ecg.data import cache as _cache
from keras_ecg.data import signal as _signal
from keras_ecg.data.dataset import Dataset

AAMI_CLASSES = ["N", "S", "V", "F", "Q"]
# Standard AAMI EC57 grouping of MIT-BIH beat symbols. Other annotations
# (rhythm changes, noise, comments, '~', '+', '|', '!' ...) are not beats.
AAMI_MAP = {
    "N": "N", "L": "N", "R": "N", "e": "N", "j": "N",
    "A": "S", "a": "S", "J": "S", "S": "S",
    "V": "V", "E": "V",
    "F": "F",
    "/": "Q", "f": "Q", "Q": "Q",
}
RR_FEATURES = ["prev_rr_s", "next_rr_s", "local_rr_s"]
KAGGLE_WIDTH = 187
KAGGLE_FS = 125

# Bytes per sample of WFDB storage formats, and the digital value that means "no data".
_BYTES = {"8": 1, "16": 2, "61": 2, "80": 1, "160": 2, "212": 1.5, "24": 3, "32": 4, "310": 4 / 3, "311": 4 / 3}
_INVALID = {"8": -128, "16": -32768, "61": -32768, "80": -128, "160": -32768, "212": -2048,
            "24": -8388608, "32": -2147483648, "310": -512, "311": -512}


class DataFileError(ValueError):
    """A data file is malformed; the message names the file and the problem."""


def _wfdb():
    try:
        import wfdb
    except ImportError:
        raise ImportError(
            "Reading WFDB records needs the 'wfdb' package: pip install keras-ecg[data]"
        ) from None
    return wfdb


# ----------------------------------------------------------------------------- records


@dataclasses.dataclass
class Record:
    """One WFDB record: ``signal`` (samples, leads) float32 in physical units at ``fs``."""

    name: str
    signal: np.ndarray
    fs: float
    leads: list
    ann_samples: np.ndarray | None = None
    ann_symbols: np.ndarray | None = None
    path: str = ""

    def lead(self, lead="MLII") -> np.ndarray:
        """The samples of one lead, chosen by name or index."""
        return self.signal[:, _lead_index(self.leads, lead, self.path)[0]]


def list_records(path) -> list:
    """Record names in a folder: the ``RECORDS`` file if present, else every ``*.hea``."""
    path = pathlib.Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such directory of WFDB records.")
    names = sorted(p.stem for p in path.glob("*.hea"))
    listed = path / "RECORDS"
    if listed.exists():
        wanted = [line.strip() for line in listed.read_text().splitlines() if line.strip()]
        names = [n for n in wanted if n in set(names)] or names
    if not names:
        raise FileNotFoundError(f"{path}: no WFDB records (no .hea header files) in this directory.")
    return names


def _read_header(base: pathlib.Path):
    hea = base.with_suffix(".hea")
    if not hea.exists():
        raise FileNotFoundError(f"{hea}: header file is missing.")
    try:
        return _wfdb().rdheader(str(base))
    except Exception as e:  # wfdb raises many types on malformed headers
        raise DataFileError(f"{hea}: cannot parse WFDB header ({type(e).__name__}: {e}).") from None


def _check_signal_files(base: pathlib.Path, h) -> None:
    """Missing, truncated or over-long signal files, checked against the header."""
    files = {}
    for i, fname in enumerate(h.file_name or []):
        files.setdefault(fname, []).append(i)
    for fname, chans in files.items():
        dat = base.parent / fname
        if not dat.exists():
            raise FileNotFoundError(f"{dat}: signal file named in {base.with_suffix('.hea').name} is missing.")
        fmts = [str(h.fmt[i]) for i in chans]
        if h.sig_len is None or any(f not in _BYTES for f in fmts):
            continue
        offset = (h.byte_offset[chans[0]] or 0) if h.byte_offset else 0
        frame = sum(_BYTES[f] for f in fmts)
        expected = int(np.ceil(h.sig_len * frame)) + offset
        size = dat.stat().st_size
        if size < int(h.sig_len * frame) + offset:
            raise DataFileError(
                f"{dat}: truncated signal file: {size} bytes, but the header promises "
                f"{h.sig_len} samples x {len(chans)} signals in format {fmts[0]} ({expected} bytes)."
            )
        if size > expected + 3:
            raise DataFileError(
                f"{dat}: header disagrees with signal file: the file has {size} bytes, the header's "
                f"{h.sig_len} samples x {len(chans)} signals in format {fmts[0]} need {expected}."
            )


def _read_signal(base: pathlib.Path):
    """(signal float32 (n, leads), fs, lead names) with NaN where samples are invalid."""
    h = _read_header(base)
    _check_signal_files(base, h)
    try:
        rec = _wfdb().rdrecord(str(base), physical=False)
    except Exception as e:
        raise DataFileError(f"{base}.dat: cannot read signal data ({type(e).__name__}: {e}).") from None
    d = rec.d_signal
    if d is None or d.ndim != 2 or d.shape[0] == 0:
        raise DataFileError(f"{base}.dat: record has no samples.")
    if rec.checksum:
        got = (d.astype(np.int64).sum(axis=0) + 32768) % 65536 - 32768
        for i, (want, have) in enumerate(zip(rec.checksum, got)):
            if want is not None and int(want) != int(have):
                raise DataFileError(
                    f"{base}.dat: header disagrees with signal file: checksum of signal "
                    f"{rec.sig_name[i]} is {int(have)}, the header says {int(want)}."
                )
    gain = np.array([g if g else 200.0 for g in rec.adc_gain], dtype=np.float64)
    baseline = np.array([b or 0 for b in rec.baseline], dtype=np.float64)
    sig = ((d - baseline) / gain).astype(np.float32)
    for i, f in enumerate(rec.fmt):
        bad = _INVALID.get(str(f))
        if bad is not None:
            sig[d[:, i] == bad, i] = np.nan
    return sig, float(rec.fs), list(rec.sig_name)


def _read_annotations(base: pathlib.Path, extension: str = "atr"):
    ann = base.with_suffix("." + extension)
    if not ann.exists():
        raise FileNotFoundError(f"{ann}: annotation file is missing (needed for beat labels).")
    try:
        a = _wfdb().rdann(str(base), extension)
    except Exception as e:
        raise DataFileError(f"{ann}: cannot read annotations ({type(e).__name__}: {e}).") from None
    return np.asarray(a.sample, dtype=np.int64), np.asarray(a.symbol, dtype="U2")


def _lead_index(leads, lead, where):
    """(index, substituted) of ``lead`` (name or int) among ``leads``."""
    if isinstance(lead, (int, np.integer)):
        if not 0 <= lead < len(leads):
            raise ValueError(f"{where}: lead index {lead} out of range; leads are {leads}.")
        return int(lead), False
    if lead in leads:
        return leads.index(lead), False
    raise ValueError(f"{where}: no lead named {lead!r}; leads are {leads}.")


def load_record(path_or_record, annotations: str | None = "atr") -> Record:
    """Read one WFDB record (path without extension, or with ``.hea``/``.dat``).

    Returns a :class:`Record` with the signal at its native rate, ``fs``, the
    lead names and, if the annotation file exists, annotation samples/symbols.
    """
    base = pathlib.Path(path_or_record)
    if base.suffix in (".hea", ".dat", ".atr"):
        base = base.with_suffix("")
    sig, fs, leads = _read_signal(base)
    samples = symbols = None
    if annotations and base.with_suffix("." + annotations).exists():
        samples, symbols = _read_annotations(base, annotations)
    return Record(base.name, sig, fs, leads, samples, symbols, str(base))


# ----------------------------------------------------------------------------- beats


def rr_intervals(samples, fs: float, local: int = 10) -> np.ndarray:
    """(n, 3) float32: previous RR, next RR and mean of the last ``local`` RRs, in seconds."""
    s = np.asarray(samples, dtype=np.float64)
    n = len(s)
    if n < 2:
        return np.zeros((n, 3), dtype=np.float32)
    d = np.diff(s) / fs
    prev = np.concatenate([[d[0]], d])
    nxt = np.concatenate([d, [d[-1]]])
    c = np.concatenate([[0.0], np.cumsum(prev)])
    lo = np.maximum(np.arange(n) + 1 - local, 0)
    loc = (c[np.arange(n) + 1] - c[lo]) / (np.arange(n) + 1 - lo)
    return np.stack([prev, nxt, loc], axis=1).astype(np.float32)


def _record_beats(base, window, fs, before, lead, normalize, annotator):
    """Beats of one record as a dict of arrays (what the cache stores)."""
    sig, fs0, leads = _read_signal(base)
    samples, symbols = _read_annotations(base, annotator)
    try:
        li, _ = _lead_index(leads, lead, f"{base}.hea")
        lead_used = leads[li]
    except ValueError:
        if isinstance(lead, (int, np.integer)):
            raise
        li, lead_used = 0, leads[0]  # e.g. records 102/104 have no MLII: use the first lead
    x = sig[:, li]
    nan = np.isnan(x)
    if nan.any():
        raise DataFileError(
            f"{base}.dat: lead {lead_used} has {int(nan.sum())} NaN (invalid) samples, "
            f"first at sample {int(np.argmax(nan))}."
        )
    if fs != fs0:
        x = _signal.resample(x, fs0, fs)
    if window > len(x):
        raise ValueError(
            f"{base}: window of {window} samples at {fs} Hz is longer than the record "
            f"({len(x)} samples at {fs} Hz)."
        )
    is_beat = np.isin(symbols, list(AAMI_MAP))
    samples, symbols = samples[is_beat], symbols[is_beat]
    labels = np.array([AAMI_CLASSES.index(AAMI_MAP[s]) for s in symbols], dtype=np.int64)
    rr = rr_intervals(samples, fs0)
    r = _signal.resample_index(samples, fs0, fs) if fs != fs0 else samples
    start = r - before
    ok = (start >= 0) & (start + window <= len(x))
    beats = x[start[ok, None] + np.arange(window)]
    if normalize:
        beats = _signal.normalize(beats, normalize, axis=-1)
    return {
        "beats": beats.astype(np.float32),
        "labels": labels[ok],
        "rr": rr[ok],
        "samples": samples[ok],
        "dropped": np.bincount(labels[~ok], minlength=len(AAMI_CLASSES)),
        "lead": np.array(lead_used),
    }


def _record_files(base: pathlib.Path, annotator: str):
    files = [base.with_suffix(".hea"), base.with_suffix("." + annotator)]
    for f in files:
        if not f.exists():
            kind = "header" if f.suffix == ".hea" else "annotation"
            raise FileNotFoundError(f"{f}: {kind} file is missing.")
    h = _read_header(base)
    for fname in sorted(set(h.file_name or [])):
        dat = base.parent / fname
        if not dat.exists():
            raise FileNotFoundError(f"{dat}: signal file named in {base.name}.hea is missing.")
        files.append(dat)
    return files


def _cached_record_beats(base, params, cache, cache_dir):
    if not cache:
        return _record_beats(base, **params)
    key = _cache.file_key(_record_files(base, params["annotator"]), params)
    entry = _cache.cache_dir(cache_dir) / "beats" / f"{base.name}-{key}.npz"
    hit = _cache.load(entry)
    if hit is not None:
        return hit
    out = _record_beats(base, **params)
    try:
        _cache.save(entry, **out)
    except OSError:
        pass  # a read-only cache folder only costs speed
    return out


def _build_one(args):
    return _cached_record_beats(*args)


def load_beats(
    path,
    records=None,
    window: int = 187,
    fs: float = 125,
    before: int | None = None,
    lead="MLII",
    rr_features: bool = False,
    normalize: str | None = None,
    annotator: str = "atr",
    cache: bool = True,
    cache_dir=None,
    workers: int = 1,
) -> Dataset:
    """Annotated beats of the WFDB records in ``path`` as a :class:`Dataset`.

    Args:
        path: folder of ``NNN.hea/.dat/.atr`` records (e.g. mitdb).
        records: record names to load (default: all in the folder).
        window: samples per beat at ``fs`` (default 187 at 125 Hz, i.e. 1.5 s
            as in the Kaggle set; use ``fs=360`` for the native rate).
        fs: sampling rate of the beats; records are resampled if it differs.
        before: samples before the R peak (default ``window // 2``, centred).
        lead: lead name or index (default "MLII"; records without it, 102 and
            104 in mitdb, fall back to their first lead, listed in
            ``meta["lead_fallback"]``).
        rr_features: if True, ``x`` is ``(beats, rr)`` with ``rr`` of shape
            (n, 3): previous RR, next RR, mean of the last 10 RRs (seconds).
        normalize: None, "zscore" or "minmax", applied per beat.
        cache, cache_dir: reuse beats cached on disk (keyed by file name, size,
            mtime and these parameters).
        workers: processes for records not yet cached.

    ``y`` holds AAMI classes N S V F Q; ``groups`` the record name of each beat.
    Beats whose window runs past the record edge are dropped; their per-class
    count is ``meta["edge_dropped"]``.
    """
    path = pathlib.Path(path)
    names = list_records(path) if records is None else [str(r) for r in records]
    if not names:
        raise ValueError(f"{path}: empty list of records.")
    window = int(window)
    if window < 1:
        raise ValueError(f"window must be a positive number of samples; got {window}.")
    before = window // 2 if before is None else int(before)
    params = dict(window=window, fs=float(fs), before=before, lead=lead, normalize=normalize,
                  annotator=annotator)
    jobs = [(path / n, params, cache, cache_dir) for n in names]
    if workers and workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
            parts = list(pool.map(_build_one, jobs))
    else:
        parts = [_build_one(j) for j in jobs]

    beats = np.concatenate([p["beats"].reshape(-1, window) for p in parts]).astype(np.float32)
    y = np.concatenate([p["labels"] for p in parts]).astype(np.int64)
    groups = np.concatenate([np.full(len(p["labels"]), n) for n, p in zip(names, parts)])
    dropped = np.sum([p["dropped"] for p in parts], axis=0)
    x = beats
    if rr_features:
        x = (beats, np.concatenate([p["rr"].reshape(-1, 3) for p in parts]).astype(np.float32))
    leads = {n: str(p["lead"]) for n, p in zip(names, parts)}
    meta = {
        "source": f"MIT-BIH Arrhythmia Database ({path})",
        "synthetic": False,
        "sampling_rate": float(fs),
        "window": window,
        "r_offset": before,
        "lead": lead,
        "lead_fallback": {n: l for n, l in leads.items() if l != lead},
        "records": names,
        "edge_dropped": {c: int(k) for c, k in zip(AAMI_CLASSES, dropped)},
        "edge_dropped_total": int(dropped.sum()),
        "normalize": normalize,
        "inputs": ["beats", "rr"] if rr_features else ["beats"],
    }
    if rr_features:
        meta["rr_features"] = RR_FEATURES
    return Dataset(x, y, groups, AAMI_CLASSES, meta)
