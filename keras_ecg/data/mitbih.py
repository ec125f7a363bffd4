"""MIT-BIH Arrhythmia Database: labelled beats from WFDB records (AAMI classes), cached per record.

Reading records is :mod:`keras_ecg.data.wfdb_io`, the beat representation :mod:`keras_ecg.data.beats`,
the Kaggle CSV format :mod:`keras_ecg.data.kaggle` (its names are re-exported here).

``load_beats`` reads every record of a folder with ``wfdb`` (``pip install
keras-ecg[data]``), cuts a window around each annotated beat, maps the beat
symbols to the five AAMI classes and keeps the record id of every beat as its
group. Beats are cached on disk per record (see :mod:`keras_ecg.data.cache`).
Malformed files raise :class:`DataFileError` (a ``ValueError``) or
``FileNotFoundError`` with the file name and the problem.
"""

from __future__ import annotations

import pathlib

import numpy as np

from keras_ecg.data import cache as _cache
from keras_ecg.data import signal as _signal
from keras_ecg.data.dataset import Dataset
from keras_ecg.data.kaggle import KAGGLE_FS, KAGGLE_WIDTH, read_kaggle_csv, write_kaggle_csv  # noqa: F401
from keras_ecg.data.wfdb_io import (  # noqa: F401  (re-exported: the public names of the record reader)
    DataFileError,
    Record,
    _lead_index,
    _read_annotations,
    _read_signal,
    _record_files,
    list_records,
    load_record,
)

AAMI_CLASSES = ["N", "S", "V", "F", "Q"]
MATCH_TOLERANCE_S = 0.15  # a detection labelled by the reference beat within 150 ms (EC57's matching window)
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
    samples, symbols = _read_annotations(base, annotator, length=len(sig))
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


def _windows(x, fs_in, peaks, fs, window, before, normalize, where):
    """One-lead beat windows cut by :func:`keras_ecg.data.beats.beat_inputs` (the one windowing code):
    ``(beats (m, window) float32, keep mask of peaks)``."""
    from keras_ecg.data import beats as _beats

    length = len(x) * fs / fs_in
    if window > length:
        raise ValueError(f"{where}: window of {window} samples at {fs} Hz is longer than the record "
                         f"({int(length)} samples at {fs} Hz).")
    spec = _beats.BeatSpec(fs=fs, before_s=before / fs, after_s=(window - before) / fs, leads=("ECG",),
                           filter=None, normalize=None, rr=False)
    beats, _, keep, _ = _beats.beat_inputs(x, fs_in, peaks, spec, ["ECG"], where)
    beats = beats[..., 0]
    if normalize:
        beats = _signal.normalize(beats, normalize, axis=-1)
    return beats.astype(np.float32), keep


def _record_beats(base, window, fs, before, lead, normalize, annotator):
    """Beats of one record as a dict of arrays (what the cache stores)."""
    x, fs0, lead_used, samples, labels = _lead_and_beats(base, lead, annotator)
    beats, ok = _windows(x, fs0, samples, fs, window, before, normalize, str(base))
    return {
        "beats": beats,
        "labels": labels[ok],
        "rr": rr_intervals(samples, fs0)[ok],
        "samples": samples[ok],
        "dropped": np.bincount(labels[~ok], minlength=len(AAMI_CLASSES)),
        "lead": np.array(lead_used),
    }


def _spec_record_beats(base, spec, annotator, peaks="reference"):
    """Beats of one record cut by a :class:`~keras_ecg.data.beats.BeatSpec` (what the cache stores).

    ``peaks="detected"``: the beats are cut at the toolkit's own R-peak detections (as deployed),
    each labelled by the reference beat it matches within :data:`MATCH_TOLERANCE_S` (EC57's window);
    the RR features come from all detections; detections that match no reference beat are left out.
    """
    from keras_ecg.data import beats as _beats

    spec = _beats.BeatSpec.from_dict(spec)
    sig, fs0, leads = _read_signal(base)
    samples, symbols = _read_annotations(base, annotator, length=len(sig))
    is_beat = np.isin(symbols, list(AAMI_MAP))
    labels = np.array([AAMI_CLASSES.index(AAMI_MAP[s]) for s in symbols[is_beat]], dtype=np.int64)
    ref = samples[is_beat]
    if peaks == "detected":
        lead0 = sig[:, _beats.choose_leads(leads, spec.leads[:1], f"{base}.hea", fallback=True)[0]]
        at = _signal.detect_r_peaks(lead0, fs0)
        ri, di = _signal.match_pairs(ref, at, int(round(MATCH_TOLERANCE_S * fs0)))
        lab = np.full(len(at), -1, dtype=np.int64)
        lab[di] = labels[ri]
    elif peaks == "reference":
        at, lab = ref, labels
    else:
        raise ValueError(f"peaks must be 'reference' or 'detected'; got {peaks!r}.")
    x, rr, keep, used = _beats.beat_inputs(sig, fs0, at, spec, leads, where=f"{base}.dat", fallback=True)
    ok = lab[keep] >= 0
    y = lab[keep][ok]
    out = {"beats": x[ok], "labels": y, "samples": at[keep][ok],
           "dropped": np.bincount(labels, minlength=len(AAMI_CLASSES)) - np.bincount(y, minlength=len(AAMI_CLASSES)),
           "lead": np.array(used)}
    if rr is not None:
        out["rr"] = rr[ok]
    return out


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
    peaks: str = "reference",
) -> Dataset:
    """Annotated beats of the WFDB records in ``path`` as a :class:`Dataset`.

    With ``spec`` (a :class:`keras_ecg.data.beats.BeatSpec`) the beats are cut
    by :func:`keras_ecg.data.beats.beat_inputs`, the code predict uses too:
    ``x`` is ``beats`` (n, window, channels) or ``(beats, rr)``, and ``window``,
    ``fs``, ``before``, ``lead``, ``rr_features`` and ``normalize`` are ignored.
    The leads used per record are ``meta["leads_used"]``. ``peaks="detected"`` (with ``spec``) cuts
    the beats at the toolkit's R-peak detections, labelled by the matched reference beats
    (:func:`_spec_record_beats`); ``meta["peaks"]`` says which.

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
        return _load_spec_beats(path, names, spec, annotator, cache, cache_dir, workers, peaks)
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


def _load_spec_beats(path, names, spec, annotator, cache, cache_dir, workers, peaks="reference") -> Dataset:
    params = dict(spec=spec.to_dict(), annotator=annotator, **({"peaks": peaks} if peaks != "reference" else {}))
    parts = _build_all(path, names, params, cache, cache_dir, "spec", workers)
    shape = spec.input_shape
    beats = np.concatenate([p["beats"].reshape(-1, *shape) for p in parts]).astype(np.float32)
    y = np.concatenate([p["labels"] for p in parts]).astype(np.int64)
    groups = np.concatenate([np.full(len(p["labels"]), n) for n, p in zip(names, parts)])
    dropped = np.sum([p["dropped"] for p in parts], axis=0)
    x = beats
    extra = spec.extra_names  # RR, then shape features: the second input
    if extra:
        x = (beats, np.concatenate([p["rr"].reshape(-1, len(extra)) for p in parts]).astype(np.float32))
    used = {n: [str(v) for v in np.atleast_1d(p["lead"])] for n, p in zip(names, parts)}
    meta = {
        "source": f"MIT-BIH Arrhythmia Database ({path})",
        "synthetic": False,
        "sampling_rate": float(spec.fs),
        "window": spec.window,
        "r_offset": spec.before,
        "beat_spec": spec.to_dict(),
        "peaks": peaks,
        "leads_used": used,
        "lead_fallback": {n: u for n, u in used.items() if u != list(spec.leads)},
        "records": names,
        "edge_dropped": {c: int(k) for c, k in zip(AAMI_CLASSES, dropped)},
        "edge_dropped_total": int(dropped.sum()),
        "normalize": spec.normalize,
        "inputs": ["beats", "rr"] if extra else ["beats"],
    }
    if extra:
        meta["rr_features"] = extra
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
    before = window // 2 if before is None else int(before)
    beats, ok = _windows(x, fs, peaks, fs_model, window, before, normalize, "signal")
    outs = [np.asarray(classify_fn(beats[i:i + batch_size])) for i in range(0, len(beats), batch_size)]
    outputs = np.concatenate(outs) if outs else np.zeros((0,))
    return peaks[ok], outputs
