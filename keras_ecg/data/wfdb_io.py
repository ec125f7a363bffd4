"""WFDB records: headers, signal files and annotations read with ``wfdb`` (``pip install keras-ecg[data]``),
checked against each other.

Malformed files raise :class:`DataFileError` (a :class:`keras_ecg.errors.DataError`) or
``FileNotFoundError`` with the file name and the problem. Invalid samples become NaN.
"""

from __future__ import annotations

import dataclasses
import pathlib
import warnings

import numpy as np

from keras_ecg import errors
from keras_ecg.data import rates

# Bytes per sample of WFDB storage formats, and the digital value that means "no data".
_BYTES = {"8": 1, "16": 2, "61": 2, "80": 1, "160": 2, "212": 1.5, "24": 3, "32": 4, "310": 4 / 3, "311": 4 / 3}
_INVALID = {"8": -128, "16": -32768, "61": -32768, "80": -128, "160": -32768, "212": -2048,
            "24": -8388608, "32": -2147483648, "310": -512, "311": -512}

MAX_FS = rates.MAX_FS  # Hz; a header rate outside the supported range (keras_ecg.data.rates) is refused


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
    """One recording: ``signal`` (samples, leads) float32 in physical units at ``fs``.

    ``start_time``: the recording's start (ISO 8601 text) where its file gives one; ``identifiers``: the
    patient fields of the file's header, ``{"name", "id", "birth_date", "sex"}`` (text, ``""`` where the
    file has none; a format may add its raw fields), filled only when a reader is asked for them
    (``identifiers=True``): nothing that writes reports or files reads them otherwise.
    """

    name: str
    signal: np.ndarray
    fs: float
    leads: list
    ann_samples: np.ndarray | None = None
    ann_symbols: np.ndarray | None = None
    path: str = ""
    start_time: str | None = None
    identifiers: dict | None = None

    def lead(self, lead="MLII") -> np.ndarray:
        """The samples of one lead, chosen by name or index."""
        return self.signal[:, _lead_index(self.leads, lead, self.path)[0]]


def list_records(path) -> list:
    """Record names in a folder: the ``RECORDS`` file if present, else every ``*.hea``."""
    path = pathlib.Path(path)
    if not path.is_dir():
        raise errors.MissingFileError(f"{path}: no such directory of WFDB records.")
    names = sorted(p.stem for p in path.glob("*.hea"))
    listed = path / "RECORDS"
    if listed.exists():
        wanted = [line.strip() for line in listed.read_text().splitlines() if line.strip()]
        names = [n for n in wanted if n in set(names)] or names
    if not names:
        raise errors.MissingFileError(f"{path}: no WFDB records (no .hea header files) in this directory.")
    return names


def _read_header(base: pathlib.Path):
    hea = base.with_suffix(".hea")
    if not hea.exists():
        raise errors.MissingFileError(f"{hea}: header file is missing.")
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
            raise errors.MissingFileError(f"{dat}: signal file named in {base.with_suffix('.hea').name} is missing.")
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


def checked_header(base: pathlib.Path):
    """The record's header, once its rate, its signals and its signal files' sizes are checked."""
    h = _read_header(base)
    hea = base.with_suffix(".hea")
    rates.check(h.fs, f"{hea}: header", error=DataFileError)
    if not h.n_sig or h.n_sig < 1:
        raise DataFileError(f"{hea}: the header lists no signals.")
    _check_signal_files(base, h)
    return h


def _read_signal(base: pathlib.Path):
    """(signal float32 (n, leads), fs, lead names) with NaN where samples are invalid."""
    checked_header(base)
    wfdb = _wfdb()
    try:
        rec = wfdb.rdrecord(str(base), physical=False)
    except Exception as e:
        raise DataFileError(f"{base}.dat: cannot read signal data ({type(e).__name__}: {e}).") from None
    d = rec.d_signal
    if d is None or d.ndim != 2 or d.shape[0] == 0:
        raise DataFileError(f"{base}.dat: record has no samples.")
    if rec.checksum:
        check_checksums(base, rec.sig_name, rec.checksum, d.astype(np.int64).sum(axis=0))
    return physical(d, rec.adc_gain, rec.baseline, rec.fmt), float(rec.fs), list(rec.sig_name)


def check_checksums(base: pathlib.Path, names, checksums, sums) -> None:
    """Refuse a signal file whose per-signal sums of digital samples (``sums``) disagree with the header."""
    got = (np.asarray(sums, dtype=np.int64) + 32768) % 65536 - 32768
    for i, (want, have) in enumerate(zip(checksums, got)):
        if want is not None and (int(want) - int(have)) % 65536:  # headers write it signed or not
            raise DataFileError(
                f"{base}.dat: header disagrees with signal file: checksum of signal "
                f"{names[i]} is {int(have)}, the header says {int(want)}."
            )


# Formats whose samples fit in 16 bits: converted through a table of every value (the same numbers, faster).
_SMALL = {"8", "16", "61", "80", "160", "212", "310", "311"}


def physical(d, adc_gain, baseline, fmt) -> np.ndarray:
    """Digital samples ``d`` (samples, signals) in physical units, float32, NaN where a sample is invalid:
    ``(d - baseline) / gain`` in float64, rounded to float32."""
    gain = np.array([g if g else 200.0 for g in adc_gain], dtype=np.float64)
    base = np.array([b or 0 for b in baseline], dtype=np.float64)
    sig = np.empty(d.shape, dtype=np.float32)
    for i, f in enumerate(fmt):
        bad = _INVALID.get(str(f))
        if str(f) in _SMALL:
            table = ((np.arange(-32768, 32768, dtype=np.float64) - base[i]) / gain[i]).astype(np.float32)
            if bad is not None:
                table[bad + 32768] = np.nan
            np.take(table, d[:, i].astype(np.int32) + 32768, out=sig[:, i])
            continue
        sig[:, i] = ((d[:, i] - base[i]) / gain[i]).astype(np.float32)
        if bad is not None:
            sig[d[:, i] == bad, i] = np.nan
    return sig


def known_symbols() -> set:
    """The annotation symbols of the WFDB standard (wfdb's label table)."""
    from wfdb.io.annotation import ann_label_table

    return {str(s) for s in ann_label_table.symbol if str(s).strip()}


def _read_annotations(base: pathlib.Path, extension: str = "atr", length: int | None = None):
    """(samples, symbols) of an annotation file; refused by name when it is corrupt.

    Corrupt: unreadable, a code that is no WFDB annotation symbol, samples that
    decrease, or (with the record's ``length``) a sample outside the record. The one
    exception: a last annotation at exactly ``length`` (one past the last sample) is
    dropped with a warning naming it, and the record's other beats are kept.
    """
    ann = base.with_suffix("." + extension)
    if not ann.exists():
        raise errors.MissingFileError(f"{ann}: annotation file is missing (needed for beat labels).")
    wfdb = _wfdb()
    try:
        a = wfdb.rdann(str(base), extension)
    except Exception as e:
        raise DataFileError(f"{ann}: cannot read annotations ({type(e).__name__}: {errors.one_line(e)}).") from None
    samples = np.asarray(a.sample, dtype=np.int64)
    symbols = np.asarray(a.symbol, dtype="U2")
    known = known_symbols()
    bad = [i for i, s in enumerate(a.symbol) if not isinstance(s, str) or s not in known]
    if bad:
        raise DataFileError(f"{ann}: corrupt annotation file: {len(bad)} annotation(s) with an unknown code, the "
                            f"first at sample {int(samples[bad[0]])}.")
    if len(samples) > 1 and (np.diff(samples) < 0).any():
        raise DataFileError(f"{ann}: corrupt annotation file: samples decrease at annotation "
                            f"{int(np.argmax(np.diff(samples) < 0)) + 1}.")
    if length is not None and len(samples) and samples[-1] == length and (samples[:-1] < length).all():
        # one annotation one past the last sample (seen in public databases): dropped, the rest kept
        warnings.warn(f"{ann}: annotation {len(samples) - 1} ({a.symbol[-1]!r}) at sample {length} is one past "
                      f"the record's last sample ({length - 1}); dropped, the other {len(samples) - 1} kept")
        samples, symbols = samples[:-1], symbols[:-1]
    if length is not None and len(samples) and (samples.min() < 0 or samples.max() >= length):
        out = samples[(samples < 0) | (samples >= length)]
        raise DataFileError(f"{ann}: corrupt annotation file: {len(out)} annotation(s) outside the record "
                            f"(sample {int(out[0])}; the record has {length} samples).")
    return samples, symbols


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
        samples, symbols = _read_annotations(base, annotations, length=len(sig))
    return Record(base.name, sig, fs, leads, samples, symbols, str(base))


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
            raise errors.MissingFileError(f"{f}: {kind} file is missing.")
    for fname in _header_signal_files(files[0]):
        dat = base.parent / fname
        if not dat.exists():
            raise errors.MissingFileError(f"{dat}: signal file named in {base.name}.hea is missing.")
        files.append(dat)
    return files
