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

import numpy as np

from keras_ecg import errors
from keras_ecg._atomic import atomic_path
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


class DataFileError(errors.DataError):
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
    wfdb = _wfdb()
    try:
        return wfdb.rdheader(str(base))
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
    wfdb = _wfdb()
    try:
        rec = wfdb.rdrecord(str(base), physical=False)
    except Exception as e:
        raise DataFileError(f"{base}.dat: cannot read signal data ({type(e).__name__}: {e}).") from None
    d = rec.d_signal
    if d is None or d.ndim != 2 or d.shape[0] == 0:
        raise DataFileError(f"{base}.dat: record has no samples.")
    if rec.checksum:
        got = (d.astype(np.int64).sum(axis=0) + 32768) % 65536 - 32768
        for i, (want, have) in enumerate(zip(rec.checksum, got)):
            if want is not None and (int(want) - int(have)) % 65536:  # headers write it signed or not
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
    wfdb = _wfdb()
    try:
        a = wfdb.rdann(str(base), extension)
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


def _lead_and_beats(base, lead, annotator):
    """(lead signal, fs, lead used, beat samples, AAMI labels) of one record."""
    sig, fs0, leads = _read_signal(base)
    samples, symbols = _read_annotations(base, annotator)
    try:
        li, _ = _lead_index(leads, lead, f"{base}.hea")
    except ValueError:
        if isinstance(lead, (int, np.integer)):
            raise
        li = 0  # e.g. records 102/104 have no MLII: use the first lead
    lead_used = leads[li]
    x = sig[:, li]
    nan = np.isnan(x)
    if nan.any():
        raise DataFileError(
            f"{base}.dat: lead {lead_used} has {int(nan.sum())} NaN (invalid) samples, "
            f"first at sample {int(np.argmax(nan))}."
        )
    is_beat = np.isin(symbols, list(AAMI_MAP))
    labels = np.array([AAMI_CLASSES.index(AAMI_MAP[s]) for s in symbols[is_beat]], dtype=np.int64)
    return x, fs0, lead_used, samples[is_beat], labels


def _record_beats(base, window, fs, before, lead, normalize, annotator):
    """Beats of one record as a dict of arrays (what the cache stores)."""
    x, fs0, lead_used, samples, labels = _lead_and_beats(base, lead, annotator)
    if fs != fs0:
        x = _signal.resample(x, fs0, fs)
    if window > len(x):
        raise ValueError(
            f"{base}: window of {window} samples at {fs} Hz is longer than the record "
            f"({len(x)} samples at {fs} Hz)."
        )
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


def _spec_record_beats(base, spec, annotator):
    """Beats of one record cut by a :class:`~keras_ecg.data.beats.BeatSpec` (what the cache stores)."""
    from keras_ecg.data import beats as _beats

    spec = _beats.BeatSpec.from_dict(spec)
    sig, fs0, leads = _read_signal(base)
    samples, symbols = _read_annotations(base, annotator)
    is_beat = np.isin(symbols, list(AAMI_MAP))
    labels = np.array([AAMI_CLASSES.index(AAMI_MAP[s]) for s in symbols[is_beat]], dtype=np.int64)
    peaks = samples[is_beat]
    x, rr, keep, used = _beats.beat_inputs(sig, fs0, peaks, spec, leads, where=f"{base}.dat", fallback=True)
    out = {"beats": x, "labels": labels[keep], "samples": peaks[keep],
           "dropped": np.bincount(labels[~keep], minlength=len(AAMI_CLASSES)), "lead": np.array(used)}
    if rr is not None:
        out["rr"] = rr
    return out


def _header_signal_files(hea: pathlib.Path) -> list:
    """Signal file names listed in a WFDB header (read as text: cheap, no wfdb)."""
    lines = [ln.strip() for ln in hea.read_text(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    try:
        nsig = int(lines[0].split()[1])
        return sorted({ln.split()[0] for ln in lines[1:1 + nsig]})
    except (IndexError, ValueError):
        raise DataFileError(f"{hea}: cannot parse WFDB header (bad record line {lines[:1]}).") from None


def _record_files(base: pathlib.Path, annotator: str):
    files = [base.with_suffix(".hea"), base.with_suffix("." + annotator)]
    for f in files:
        if not f.exists():
            kind = "header" if f.suffix == ".hea" else "annotation"
            raise FileNotFoundError(f"{f}: {kind} file is missing.")
    for fname in _header_signal_files(files[0]):
        dat = base.parent / fname
        if not dat.exists():
            raise FileNotFoundError(f"{dat}: signal file named in {base.name}.hea is missing.")
        files.append(dat)
    return files


def _cache_entry(base, params, cache_dir, builder):
    # the builder's version is in the key: change it when a builder's output changes
    key = _cache.file_key(_record_files(base, params["annotator"]),
                          {**params, "builder": builder, "version": _VERSIONS[builder]})
    return _cache.cache_dir(cache_dir) / builder / f"{base.name}-{key}.npz"


def _cached_record_beats(base, params, cache, cache_dir, builder="beats"):
    build = _BUILDERS[builder]
    if not cache:
        return build(base, **params)
    entry = _cache_entry(base, params, cache_dir, builder)
    hit = _cache.load(entry)
    if hit is not None:
        return hit
    out = build(base, **params)
    try:
        _cache.save(entry, **out)
    except OSError:
        pass  # a read-only cache folder only costs speed
    return out


def _build_one(args):
    return _cached_record_beats(*args)


def _build_all(path, names, params, cache, cache_dir, builder, workers):
    """Per-record arrays: cache hits read here, the rest built (in a pool if workers > 1)."""
    parts = [None] * len(names)
    if cache:
        for i, n in enumerate(names):
            parts[i] = _cache.load(_cache_entry(path / n, params, cache_dir, builder))
    todo = [i for i, p in enumerate(parts) if p is None]
    jobs = [(path / names[i], params, cache, cache_dir, builder) for i in todo]
    if workers and workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # forkserver: forking a process that has started JAX/TF threads can deadlock
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("forkserver")) as pool:
            built = list(pool.map(_build_one, jobs))
    else:
        built = [_build_one(j) for j in jobs]
    for i, b in zip(todo, built):
        parts[i] = b
    return parts


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
    spec=None,
) -> Dataset:
    """Annotated beats of the WFDB records in ``path`` as a :class:`Dataset`.

    With ``spec`` (a :class:`keras_ecg.data.beats.BeatSpec`) the beats are cut
    by :func:`keras_ecg.data.beats.beat_inputs`, the code predict uses too:
    ``x`` is ``beats`` (n, window, channels) or ``(beats, rr)``, and ``window``,
    ``fs``, ``before``, ``lead``, ``rr_features`` and ``normalize`` are ignored.
    The leads used per record are ``meta["leads_used"]``.

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
    if spec is not None:
        return _load_spec_beats(path, names, spec, annotator, cache, cache_dir, workers)
    before = window // 2 if before is None else int(before)
    params = dict(window=window, fs=float(fs), before=before, lead=lead, normalize=normalize,
                  annotator=annotator)
    parts = _build_all(path, names, params, cache, cache_dir, "beats", workers)

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


def _load_spec_beats(path, names, spec, annotator, cache, cache_dir, workers) -> Dataset:
    params = dict(spec=spec.to_dict(), annotator=annotator)
    parts = _build_all(path, names, params, cache, cache_dir, "spec", workers)
    shape = spec.input_shape
    beats = np.concatenate([p["beats"].reshape(-1, *shape) for p in parts]).astype(np.float32)
    y = np.concatenate([p["labels"] for p in parts]).astype(np.int64)
    groups = np.concatenate([np.full(len(p["labels"]), n) for n, p in zip(names, parts)])
    dropped = np.sum([p["dropped"] for p in parts], axis=0)
    x = beats
    if spec.rr:
        x = (beats, np.concatenate([p["rr"].reshape(-1, len(spec.rr_names)) for p in parts]).astype(np.float32))
    used = {n: [str(v) for v in np.atleast_1d(p["lead"])] for n, p in zip(names, parts)}
    meta = {
        "source": f"MIT-BIH Arrhythmia Database ({path})",
        "synthetic": False,
        "sampling_rate": float(spec.fs),
        "window": spec.window,
        "r_offset": spec.before,
        "beat_spec": spec.to_dict(),
        "leads_used": used,
        "lead_fallback": {n: u for n, u in used.items() if u != list(spec.leads)},
        "records": names,
        "edge_dropped": {c: int(k) for c, k in zip(AAMI_CLASSES, dropped)},
        "edge_dropped_total": int(dropped.sum()),
        "normalize": spec.normalize,
        "inputs": ["beats", "rr"] if spec.rr else ["beats"],
    }
    if spec.rr:
        meta["rr_features"] = spec.rr_names
    return Dataset(x, y, groups, AAMI_CLASSES, meta)


# ----------------------------------------------------------------------------- Kaggle CSV


def _kaggle_record(base, lead, annotator, seconds=10.0):
    """Kachuee et al. (2018) beats of one record: 10 s windows at 125 Hz scaled to
    [0, 1]; from each annotated R peak a segment 1.2 x the window's median RR long
    (cut short at the window's end), zero-padded to 187 samples."""
    x, fs0, lead_used, samples, labels = _lead_and_beats(base, lead, annotator)
    x = _signal.resample(x, fs0, KAGGLE_FS)
    r = _signal.resample_index(samples, fs0, KAGGLE_FS)
    win = int(round(seconds * KAGGLE_FS))
    whole_rr = float(np.median(np.diff(r))) if len(r) > 1 else float(KAGGLE_FS)
    out_x, out_y, cut = [], [], np.zeros(len(AAMI_CLASSES), dtype=np.int64)
    for w0 in range(0, len(x), win):
        inside = (r >= w0) & (r < w0 + win)
        if not inside.any():
            continue
        seg = x[w0:w0 + win]
        rs, ys = r[inside] - w0, labels[inside]
        seg = (seg - seg.min()) / max(float(seg.max() - seg.min()), 1e-6)
        rr = float(np.median(np.diff(rs))) if len(rs) > 1 else whole_rr
        length = min(int(round(1.2 * rr)), KAGGLE_WIDTH)
        idx = rs[:, None] + np.arange(length)
        valid = idx < len(seg)
        cut += np.bincount(ys[~valid.all(1)], minlength=len(AAMI_CLASSES))
        beats = np.zeros((len(rs), KAGGLE_WIDTH), dtype=np.float32)
        beats[:, :length] = np.where(valid, seg[np.minimum(idx, len(seg) - 1)], 0.0)
        out_x.append(beats)
        out_y.append(ys)
    return {
        "beats": np.concatenate(out_x) if out_x else np.zeros((0, KAGGLE_WIDTH), np.float32),
        "labels": np.concatenate(out_y) if out_y else np.zeros(0, np.int64),
        "dropped": cut,
        "lead": np.array(lead_used),
    }


_BUILDERS = {"beats": _record_beats, "kaggle": _kaggle_record, "spec": _spec_record_beats}
_VERSIONS = {"beats": 1, "kaggle": 2, "spec": 1}


def kaggle_beats_from_records(path, records=None, lead="MLII", annotator: str = "atr",
                              cache: bool = True, cache_dir=None, workers: int = 1) -> Dataset:
    """Rebuild the Kaggle heartbeat format (Kachuee et al. 2018) from WFDB records.

    Each record is cut into 10 s windows, resampled to 125 Hz and scaled to
    [0, 1]; every annotated beat gives a segment starting at its R peak and
    1.2 x the window's median RR long, zero-padded to 187 samples. Beats are
    anchored on the reference annotations (which also give the AAMI label).
    Beats near a window's end are cut short there (and zero-padded):
    ``meta["window_truncated"]`` counts them per class. A window with one beat
    uses the record's median RR.
    """
    path = pathlib.Path(path)
    names = list_records(path) if records is None else [str(r) for r in records]
    params = dict(lead=lead, annotator=annotator)
    parts = _build_all(path, names, params, cache, cache_dir, "kaggle", workers)
    x = np.concatenate([p["beats"].reshape(-1, KAGGLE_WIDTH) for p in parts]).astype(np.float32)
    y = np.concatenate([p["labels"] for p in parts]).astype(np.int64)
    groups = np.concatenate([np.full(len(p["labels"]), n) for n, p in zip(names, parts)])
    dropped = np.sum([p["dropped"] for p in parts], axis=0)
    meta = {
        "source": f"Kaggle-format beats rebuilt from {path} (Kachuee et al. 2018)",
        "synthetic": False, "sampling_rate": float(KAGGLE_FS), "window": KAGGLE_WIDTH,
        "r_offset": 0, "lead": lead, "records": names, "scaled": "[0, 1] per 10 s window",
        "window_truncated": {c: int(k) for c, k in zip(AAMI_CLASSES, dropped)},
        "inputs": ["beats"],
    }
    return Dataset(x, y, groups, AAMI_CLASSES, meta)


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
        raise FileNotFoundError(f"{path}: no such CSV file.")
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


# ----------------------------------------------------------------------------- whole records


def annotate_record(signal, fs: float, classify_fn, window: int = 187, fs_model: float = 125,
                    before: int | None = None, r_peaks=None, normalize: str | None = None,
                    batch_size: int = 1024):
    """Classify every beat of a continuous single-lead signal.

    R peaks are detected (:func:`keras_ecg.data.signal.detect_r_peaks`) unless
    given (sample indices at ``fs``). The signal is resampled to ``fs_model``
    and a ``window``-sample beat cut around each peak (``before`` samples
    before it, default ``window // 2``, as in :func:`load_beats`);
    ``classify_fn(beats)`` gets batches of shape (n, window) and returns one
    row (class probabilities) or one label per beat.

    Returns ``(r_peaks, outputs)``: the peaks (at ``fs``) whose window fits in
    the signal, and the stacked outputs of ``classify_fn`` for them.
    """
    x = _signal.check_finite(np.asarray(signal, dtype=np.float32).ravel(), "signal")
    peaks = _signal.detect_r_peaks(x, fs) if r_peaks is None else np.asarray(r_peaks, dtype=np.int64)
    xm = _signal.resample(x, fs, fs_model) if fs != fs_model else x
    if window > len(xm):
        raise ValueError(f"window of {window} samples at {fs_model} Hz is longer than the signal "
                         f"({len(xm)} samples at {fs_model} Hz).")
    before = window // 2 if before is None else int(before)
    start = _signal.resample_index(peaks, fs, fs_model) - before
    ok = (start >= 0) & (start + window <= len(xm))
    beats = xm[start[ok, None] + np.arange(window)]
    if normalize:
        beats = _signal.normalize(beats, normalize, axis=-1)
    outs = [np.asarray(classify_fn(beats[i:i + batch_size])) for i in range(0, len(beats), batch_size)]
    outputs = np.concatenate(outs) if outs else np.zeros((0,))
    return peaks[ok], outputs
