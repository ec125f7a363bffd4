"""A recording opened for reading in ranges: the header now, the samples when asked for.

    rec = record_file.open_recording("holter/day1")     # reads the header only
    x = rec.read(0, 360 * 600, leads=[0])                # the first 10 minutes of lead 0, float32
    rec.signal                                           # everything, read once on first use

For a WFDB record the header is checked as :func:`keras_ecg.data.wfdb_io.load_record`
checks it (rate, signals, signal-file sizes) and :meth:`RecordFile.read` reads a sample
range with wfdb's ``sampfrom``/``sampto``, in physical units (float32, NaN where a sample
is invalid) computed exactly as ``load_record`` computes them. The header's checksums are
verified once every sample has been read in order (reads that overlap or follow the samples
read so far, as a chunked pass makes them). A file read by content whose format module offers
``ranges`` (EDF/EDF+/BDF, DICOM waveform: :mod:`keras_ecg.data.formats`) is read in ranges
by that module, in memory bounded by the range. A CSV, or a format without ranged reading,
is read whole (:func:`keras_ecg.data.signal_files.read`) and :meth:`RecordFile.read` slices it. Every problem is a :class:`~keras_ecg.errors.DataError` naming the file.

A :class:`RecordFile` has the attributes of a :class:`~keras_ecg.data.wfdb_io.Record`
(``name``, ``signal``, ``fs``, ``leads``, ``path``, ``lead()``), plus ``n_samples`` and
``read()``, so code written for a ``Record`` reads it unchanged (``signal`` then reads
the whole recording, once).
"""

from __future__ import annotations

import pathlib

import numpy as np

from keras_ecg.data import formats, rates, signal_files, wfdb_io
from keras_ecg.errors import DataError

# Bits of each WFDB format's samples: the smallest integer type wfdb may return them in.
_BITS = {"8": 8, "16": 16, "61": 16, "80": 8, "160": 16, "212": 12, "24": 24, "32": 32, "310": 10, "311": 10}


class RecordFile:
    """A recording read in ranges (see the module doc)."""

    def __init__(self, name, fs, leads, n_samples, path, reader, signal=None):
        self.name, self.fs, self.leads, self.path = name, float(fs), list(leads), path
        self.n_samples = int(n_samples)
        self.ann_samples = self.ann_symbols = None
        self._reader = reader  # (start, stop, channel indices or None) -> float32 (stop - start, k)
        self._signal = signal

    def read(self, start: int, stop: int, leads=None) -> np.ndarray:
        """Samples ``start:stop`` (clipped to the recording) of ``leads`` (indices; default all), float32."""
        start, stop = max(int(start), 0), min(int(stop), self.n_samples)
        idx = None if leads is None else [int(i) for i in leads]
        if self._signal is not None:
            x = self._signal[start:stop]
            return np.array(x if idx is None else x[:, idx], dtype=np.float32)
        return self._reader(start, max(stop, start), idx)

    @property
    def signal(self) -> np.ndarray:
        """The whole recording (samples, leads) float32, read on first use and kept."""
        if self._signal is None:
            self._signal = self.read(0, self.n_samples)
        return self._signal

    def lead(self, lead="MLII") -> np.ndarray:
        """The samples of one lead, chosen by name or index (the whole recording)."""
        return self.signal[:, wfdb_io._lead_index(self.leads, lead, self.path)[0]]

    def __len__(self) -> int:
        return self.n_samples


class _WfdbRanges:
    """Sample ranges of a WFDB record through ``wfdb.rdrecord``; the checksums summed as the reads advance."""

    def __init__(self, base: pathlib.Path, h):
        self.base, self.h = base, h
        bits = max(_BITS.get(str(f), 64) for f in h.fmt)
        self.res = 16 if bits <= 16 else 32 if bits <= 32 else 64
        self.read_upto = 0  # samples 0:read_upto of every signal are in ``sums``
        self.sums = np.zeros(h.n_sig, dtype=np.int64)

    def __call__(self, start, stop, idx):
        h, n = self.h, int(self.h.sig_len)
        advances = start <= self.read_upto < stop
        channels = None if advances or idx is None else idx  # every signal, for the checksums
        d = self._digital(start, stop, channels)
        if advances:
            new = d[self.read_upto - start:]
            self.sums += [new[:, i].sum(dtype=np.int64) for i in range(new.shape[1])]  # by column: faster
            self.read_upto = stop
            if stop == n and h.checksum:
                wfdb_io.check_checksums(self.base, h.sig_name, h.checksum, self.sums)
        chans = list(range(h.n_sig)) if idx is None else idx
        if channels is None and idx is not None:
            d = d[:, idx]
        return wfdb_io.physical(d, [h.adc_gain[i] for i in chans], [h.baseline[i] for i in chans],
                                [h.fmt[i] for i in chans])

    def _digital(self, start, stop, channels):
        if stop <= start:
            return np.zeros((0, self.h.n_sig if channels is None else len(channels)), dtype=np.int64)
        wfdb = wfdb_io._wfdb()
        try:
            rec = wfdb.rdrecord(str(self.base), sampfrom=start, sampto=stop, channels=channels, physical=False,
                                return_res=self.res)
        except Exception as e:  # noqa: BLE001 - wfdb raises many types on malformed files
            raise wfdb_io.DataFileError(f"{self.base}.dat: cannot read signal data ({type(e).__name__}: "
                                        f"{str(e).splitlines()[0] if str(e) else ''}).") from None
        d = rec.d_signal
        if d is None or d.ndim != 2:
            raise wfdb_io.DataFileError(f"{self.base}.dat: cannot read samples {start}:{stop}.")
        return d


def _wfdb_file(base: pathlib.Path) -> RecordFile:
    h = wfdb_io.checked_header(base)
    simple = getattr(h, "file_name", None) and h.sig_len and all(int(s or 1) == 1 for s in h.samps_per_frame or [1])
    if not simple:  # no length in the header, several samples per frame, a multi-segment record: read it whole
        rec = wfdb_io.load_record(base, annotations=None)
        return RecordFile(rec.name, rec.fs, rec.leads, len(rec.signal), rec.path, None, signal=rec.signal)
    return RecordFile(base.name, float(h.fs), list(h.sig_name), int(h.sig_len), str(base), _WfdbRanges(base, h))


def open_recording(path, fs: float | None = None) -> RecordFile:
    """The recording at ``path`` opened for reading in ranges (see the module doc); ``fs`` for a CSV only."""
    p = pathlib.Path(path)
    k = signal_files.kind(p)
    if k not in ("wfdb", "csv") and hasattr(formats.module(k), "ranges"):
        name, rate, leads, n, reader = formats.module(k).ranges(p)
        rates.check(rate, f"{p}: {formats.module(k).NAME}")
        return RecordFile(name, rate, leads, n, str(p), reader)
    if k != "wfdb":
        rec = signal_files.read(p, fs=fs, annotations=None)
        return RecordFile(rec.name, rec.fs, rec.leads, len(rec.signal), rec.path, None, signal=rec.signal)
    base = p.with_suffix("") if p.suffix in (".hea", ".dat", ".atr") else p
    try:
        return _wfdb_file(base)
    except DataError:
        raise
    except (OSError, ValueError) as e:
        raise DataError(f"{p}: {str(e).splitlines()[0]}") from None
