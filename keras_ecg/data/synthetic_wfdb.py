"""A synthetic record written as WFDB files (header, signal, reference ``atr`` annotations).

    keras-ecg synth-record demo/synth --minutes 2          # demo/synth.hea, .dat, .atr

The signal is :func:`keras_ecg.data.synthetic.record` (one pseudo-patient, a mostly
normal rhythm with premature S and V beats, some fusion and paced beats), written
with ``wfdb`` in mV at ``fs`` (format 16), by default as one lead named ``MLII``. With
``leads=("MLII", "V1")`` (``--leads MLII,V1``) lead ``k`` is the first lead scaled by
``1 - 0.4 k`` (as :func:`keras_ecg.data.synthetic.record_beats` does) plus its own noise. The reference
annotations use the MIT-BIH symbols of :data:`SYMBOLS`, so every reader of MIT-BIH
records reads it. Each file is written under a temporary name and renamed.
"""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np

from keras_ecg import _atomic
from keras_ecg.data import synthetic

# AAMI class -> the MIT-BIH beat symbol written for it (annotate writes the same).
SYMBOLS = {"N": "N", "S": "A", "V": "V", "F": "F", "Q": "Q"}
DEMO_CLASS_PROBS = (0.82, 0.07, 0.08, 0.02, 0.01)


def write_files(base, files: dict) -> list:
    """Move the already-written ``{suffix: temp file}`` beside ``base`` (``base.<suffix>``), each atomically."""
    base = pathlib.Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for suffix, src in files.items():
        final = base.with_name(f"{base.name}.{suffix}")
        with _atomic.atomic_path(final) as tmp:
            pathlib.Path(src).replace(tmp)
        out.append(final)
    return out


def wfdb_files(name, signal, fs, leads, ann_samples=None, ann_symbols=None, extension="atr",
               comments=None, write_dir=None):
    """Write a WFDB record ``name`` (``signal`` None: only its annotations) into ``write_dir`` with ``wfdb``.

    Returns ``{suffix: path}`` of what was written.
    """
    from keras_ecg.data.wfdb_io import _wfdb

    wfdb = _wfdb()
    d, files = pathlib.Path(write_dir), {}
    if signal is not None:  # None: the annotations only
        sig = np.asarray(signal, dtype=np.float64)
        sig = sig[:, None] if sig.ndim == 1 else sig
        wfdb.wrsamp(name, fs=float(fs), units=["mV"] * sig.shape[1], sig_name=list(leads), p_signal=sig,
                    fmt=["16"] * sig.shape[1], comments=list(comments or []), write_dir=str(d))
        files = {"hea": d / f"{name}.hea", "dat": d / f"{name}.dat"}
    if ann_samples is not None:
        wfdb.wrann(name, extension, np.asarray(ann_samples, dtype=np.int64), symbol=list(ann_symbols),
                   fs=float(fs), write_dir=str(d))
        files[extension] = d / f"{name}.{extension}"
    return files


def _leads(sig, n: int, seed: int) -> np.ndarray:
    """(samples, n) float32: lead k is ``sig * (1 - 0.4 k)`` plus its own 0.02 mV noise (lead 0: ``sig``)."""
    out = np.empty((len(sig), n), dtype=np.float32)
    out[:, 0] = sig
    for k in range(1, n):
        noise = np.random.default_rng([seed, k]).normal(0.0, 0.02, len(sig)).astype(np.float32)
        out[:, k] = sig * np.float32(1.0 - 0.4 * k) + noise
    return out


def write_record(base, minutes: float = 2.0, fs: float = 360.0, seed: int = 0, leads=("MLII",)) -> list:
    """Write the synthetic record ``base`` (``.hea``, ``.dat``, ``.atr``) with ``leads``; the paths written."""
    if minutes <= 0 or minutes > 24 * 60:
        raise ValueError(f"minutes must be in (0, 1440]; got {minutes}")
    leads = [str(n).strip() for n in leads]
    if not leads or not all(leads) or len(set(leads)) != len(leads):
        raise ValueError(f"leads must be distinct non-empty names; got {leads}")
    sig, peaks, labels = synthetic.record(duration_s=60.0 * minutes, fs=fs, seed=seed, class_probs=DEMO_CLASS_PROBS)
    sig = _leads(sig, len(leads), seed) if len(leads) > 1 else sig
    symbols = [SYMBOLS[synthetic.CLASSES[k]] for k in labels]
    base = pathlib.Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".synth-", dir=base.parent) as tmp:
        files = wfdb_files(base.name, sig, fs, leads, peaks, symbols, write_dir=tmp,
                           comments=[f"keras_ecg synthetic record: {minutes:g} min, seed {seed}; NOT real ECG"])
        return write_files(base, files)
