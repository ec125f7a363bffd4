"""ISHNE Holter files (``.ecg``, the ISHNE 1998 standard output format), read in ranges.

Layout (little-endian): the magic ``ISHNE1.0`` (``ANN  1.0`` for an annotation file, which
holds no samples and is refused here), a CRC-CCITT (polynomial 0x1021, start 0xFFFF) of the
512-byte fixed header and the variable-length block that follows it, then the fixed header:
the variable block's size, samples per lead, the offsets of the variable block and of the
samples, the file version, the subject's first and last name, id, sex, race and birth date,
the recording and file dates, the start time, the number of leads (1-12), twelve lead codes
(5 = I ... 16 = V6), twelve lead qualities, twelve resolutions in nV per unit, the
pacemaker code, the recorder, the sampling rate in Hz and free text. Samples are int16,
interleaved by sample (lead 1, lead 2, ... for sample 0, then sample 1, ...); -32768 marks
a missing sample and is read as NaN.

:func:`header` checks the header (magic, CRC, counts, rate, the file's length);
:func:`ranges` gives :func:`keras_ecg.data.record_file.open_recording` a reader that reads only
the samples asked for (a seek and one read of that range): a 24-hour recording is annotated in
bounded memory. :func:`read` is the whole recording as a :class:`~keras_ecg.data.wfdb_io.Record`
with ``start_time`` (ISO 8601 text, or ``None``); the subject's name, id, sex and birth date are
read only with ``identifiers=True`` (``Record.identifiers``, a dict). :func:`write` writes a record
(it builds the tests' files; it writes identifiers only when given them).
"""

from __future__ import annotations

import binascii
import datetime
import pathlib
import struct

import numpy as np

from keras_ecg import _atomic
from keras_ecg.data import rates, wfdb_io
from keras_ecg.errors import DataError

NAME = "ISHNE Holter"
MAGIC = b"ISHNE1.0"
ANN_MAGIC = b"ANN  1.0"
FIXED = 512  # bytes of the fixed header, after the magic (8) and the CRC (2)
PRE = 10
MISSING = -32768
LEADS = {0: "unknown", 1: "bipolar", 2: "X", 3: "Y", 4: "Z", 5: "I", 6: "II", 7: "III", 8: "aVR", 9: "aVL",
         10: "aVF", 11: "V1", 12: "V2", 13: "V3", 14: "V4", 15: "V5", 16: "V6", 17: "ES", 18: "AS", 19: "AI"}
# The fixed header, field by field (struct codes, little-endian); its size is FIXED.
_FIELDS = (("var_size", "i"), ("n_samples", "i"), ("var_offset", "i"), ("ecg_offset", "i"), ("version", "h"),
           ("first_name", "40s"), ("last_name", "40s"), ("id", "20s"), ("sex", "h"), ("race", "h"),
           ("birth", "3h"), ("record_date", "3h"), ("file_date", "3h"), ("start", "3h"), ("n_leads", "h"),
           ("lead_spec", "12h"), ("lead_quality", "12h"), ("resolution", "12h"), ("pacemaker", "h"),
           ("recorder", "40s"), ("fs", "h"), ("proprietary", "80s"), ("copyright", "80s"), ("reserved", "88s"))
_STRUCT = struct.Struct("<" + "".join(code for _, code in _FIELDS))
assert _STRUCT.size == FIXED


def sniff(head: bytes) -> bool:
    """Whether the file starts with the ISHNE magic (a Holter file or an ISHNE annotation file)."""
    return head[:8] in (MAGIC, ANN_MAGIC)


def crc(data: bytes) -> int:
    """The ISHNE header checksum: CRC-CCITT (polynomial 0x1021, initial value 0xFFFF, not reflected)."""
    return binascii.crc_hqx(data, 0xFFFF)


def _unpack(fixed: bytes) -> dict:
    values, out = list(_STRUCT.unpack(fixed)), {}
    for name, code in _FIELDS:
        n = int(code[:-1]) if code[-1] == "h" and len(code) > 1 else 1
        out[name] = tuple(values[:n]) if n > 1 else values[0]
        del values[:n]
    return out


def _text(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("latin-1").strip()


def _date(dmy) -> str | None:
    try:
        return datetime.date(dmy[2], dmy[1], dmy[0]).isoformat()
    except ValueError:
        return None


def header(path) -> dict:
    """The checked header of the ISHNE file at ``path`` (see the module doc), with ``leads`` and ``scale`` (mV/unit)."""
    p = pathlib.Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            pre = f.read(PRE + FIXED)
            if len(pre) < PRE + FIXED:
                raise DataError(f"{p}: truncated ISHNE header ({size} bytes; the header alone is {PRE + FIXED})")
            if pre[:8] == ANN_MAGIC:
                raise DataError(f"{p}: an ISHNE annotation file (ANN  1.0), not a recording")
            if pre[:8] != MAGIC:
                raise DataError(f"{p}: not an ISHNE Holter file (no ISHNE1.0 magic)")
            h = _unpack(pre[PRE:])
            if not 0 <= h["var_size"] <= size - PRE - FIXED:
                raise DataError(f"{p}: variable-length block of {h['var_size']} bytes does not fit in the file")
            var = f.read(h["var_size"])
    except OSError as e:
        raise DataError(f"{p}: cannot read ({e.strerror or type(e).__name__})") from None
    stored = struct.unpack("<H", pre[8:10])[0]
    if crc(pre[PRE:] + var) != stored:
        raise DataError(f"{p}: the ISHNE header's CRC does not match (stored {stored:#06x}, computed "
                        f"{crc(pre[PRE:] + var):#06x}): a corrupt header")
    n, k = h["n_samples"], h["n_leads"]
    if not 1 <= k <= 12:
        raise DataError(f"{p}: {k} leads (an ISHNE file holds 1 to 12)")
    if n < 2:
        raise DataError(f"{p}: {n} samples per lead")
    fs = rates.check(h["fs"], f"{p}: ISHNE header")
    res = h["resolution"][:k]
    if any(r <= 0 for r in res):
        raise DataError(f"{p}: lead resolution {min(res)} nV is not positive")
    if h["ecg_offset"] < PRE + FIXED + h["var_size"]:
        raise DataError(f"{p}: the samples' offset {h['ecg_offset']} lies inside the header")
    need = h["ecg_offset"] + 2 * n * k
    if size < need:
        raise DataError(f"{p}: truncated: the header says {n} samples of {k} leads ({need} bytes), "
                        f"the file has {size} bytes")
    if size - need >= 2 * n:  # room for another lead: the header's lead or sample count is wrong
        raise DataError(f"{p}: the file holds {size - need} bytes more than the header's {n} samples of {k} leads: "
                        f"a wrong lead or sample count")
    leads = [LEADS.get(c, f"ECG{i + 1}") for i, c in enumerate(h["lead_spec"][:k])]
    if len(set(leads)) < k:  # unknown or repeated lead codes: number them
        leads = [f"{name}_{i + 1}" if leads.count(name) > 1 else name for i, name in enumerate(leads)]
    start = None
    if _date(h["record_date"]) is not None:
        hh, mm, ss = h["start"]
        start = f"{_date(h['record_date'])}T{hh:02d}:{mm:02d}:{ss:02d}" if 0 <= hh < 24 and 0 <= mm < 60 \
            and 0 <= ss < 60 else None
    return dict(h, fs=fs, leads=leads, scale=np.array(res, dtype=np.float64) * 1e-6, start_time=start)


class _Ranges:
    """Samples ``start:stop`` of chosen leads: one seek and one read of that range (bounded memory)."""

    def __init__(self, path: pathlib.Path, h: dict):
        self.path, self.h = path, h

    def __call__(self, start, stop, idx):
        k = self.h["n_leads"]
        cols = list(range(k)) if idx is None else idx
        if stop <= start:
            return np.zeros((0, len(cols)), dtype=np.float32)
        try:
            with open(self.path, "rb") as f:
                f.seek(self.h["ecg_offset"] + 2 * start * k)
                d = np.fromfile(f, dtype="<i2", count=(stop - start) * k)
        except OSError as e:
            raise DataError(f"{self.path}: cannot read samples {start}:{stop} ({e.strerror or type(e).__name__})") from None
        if len(d) != (stop - start) * k:
            raise DataError(f"{self.path}: truncated: samples {start}:{stop} are not all in the file")
        d = d.reshape(-1, k)[:, cols]
        x = d.astype(np.float32) * self.h["scale"][cols].astype(np.float32)
        x[d == MISSING] = np.nan
        return x


def _identifiers(h: dict) -> dict:
    """``Record.identifiers``: the keys every reader gives (``name`` as DICOM's ``LAST^FIRST``, ``id``,
    ``birth_date``, ``sex``) plus the header's ``first_name`` and ``last_name``."""
    first, last = _text(h["first_name"]), _text(h["last_name"])
    return {"name": "^".join(v for v in (last, first) if v), "id": _text(h["id"]),
            "sex": {1: "M", 2: "F"}.get(h["sex"]), "birth_date": _date(h["birth"]),
            "first_name": first, "last_name": last}


def ranges(path):
    """``(name, fs, leads, n_samples, reader)``: the ISHNE recording at ``path`` read in sample ranges
    (:func:`keras_ecg.data.record_file.open_recording` takes it); ``reader(start, stop, channels)``."""
    p = pathlib.Path(path)
    h = header(p)
    return p.stem, h["fs"], h["leads"], h["n_samples"], _Ranges(p, h)


def read(path, *, identifiers: bool = False) -> wfdb_io.Record:
    """The whole ISHNE recording at ``path`` in mV (see the module doc)."""
    p = pathlib.Path(path)
    h = header(p)
    signal = _Ranges(p, h)(0, h["n_samples"], None)
    return wfdb_io.Record(p.stem, signal, h["fs"], h["leads"], path=str(p), start_time=h["start_time"],
                          identifiers=_identifiers(h) if identifiers else None)


def write(path, record, *, resolution_nv: int = 1000, start: datetime.datetime | None = None,
          identifiers: dict | None = None, chunk: int = 1 << 20) -> pathlib.Path:
    """Write ``record`` (``signal`` in mV, ``fs``, ``leads``) as an ISHNE file, quantised to ``resolution_nv``.

    ``identifiers`` (``first_name`` and ``last_name``, or ``name`` as ``LAST^FIRST``; ``id``, ``sex`` ``M``/``F``, ``birth_date`` a
    :class:`datetime.date`) go into the header only when given.
    Written atomically, ``chunk`` samples at a time. NaN samples are written as missing (-32768)."""
    p = pathlib.Path(path)
    x = record.signal
    n, k = x.shape
    if not 1 <= k <= 12:
        raise DataError(f"{p}: an ISHNE file holds 1 to 12 leads, not {k}")
    codes = {v: c for c, v in LEADS.items()}
    ids = dict(identifiers or {})
    if ids.get("name") and not (ids.get("first_name") or ids.get("last_name")):  # DICOM's LAST^FIRST
        last, _, first = str(ids["name"]).partition("^")
        ids.update(first_name=first, last_name=last)
    born = ids.get("birth_date")
    t = start or datetime.datetime(2000, 1, 1)
    pad12 = lambda v: tuple(v) + (0,) * (12 - len(v))  # noqa: E731
    fields = dict(var_size=0, n_samples=n, var_offset=PRE + FIXED, ecg_offset=PRE + FIXED, version=1,
                  first_name=ids.get("first_name", "").encode("latin-1"),
                  last_name=ids.get("last_name", "").encode("latin-1"), id=ids.get("id", "").encode("latin-1"),
                  sex={"M": 1, "F": 2}.get(ids.get("sex"), 0), race=0,
                  birth=(born.day, born.month, born.year) if born else (0, 0, 0), record_date=(t.day, t.month, t.year), file_date=(t.day, t.month, t.year),
                  start=(t.hour, t.minute, t.second), n_leads=k, lead_spec=pad12([codes.get(name, 0) for name in record.leads]),
                  lead_quality=pad12([0] * k), resolution=pad12([resolution_nv] * k), pacemaker=0,
                  recorder=b"keras_ecg", fs=int(round(record.fs)), proprietary=b"", copyright=b"", reserved=b"")
    values = []
    for name, code in _FIELDS:
        v = fields[name]
        values.extend(v if isinstance(v, tuple) else [v])
    fixed = _STRUCT.pack(*values)
    with _atomic.atomic_path(p) as tmp, open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<H", crc(fixed)) + fixed)
        for i in range(0, n, chunk):
            part = np.asarray(x[i:i + chunk], dtype=np.float64) * 1e6 / resolution_nv
            d = np.clip(np.rint(np.nan_to_num(part, nan=MISSING)), MISSING + 1, 32767).astype("<i2")
            d[np.isnan(part)] = MISSING
            f.write(d.tobytes())
    return p
