"""EDF/EDF+ files read by keras_ecg itself: every channel at its own rate, in physical units (mV).

EDF stores each channel with its own samples per data record, so a file may hold an ECG at
256 Hz beside a respiration or SpO2 channel at 1-32 Hz. :func:`read` converts the digital
samples with each channel's own calibration (``(d - dmin) * (pmax - pmin) / (dmax - dmin) + pmin``),
converts the units to mV where the header says uV, mV or V, and keeps the channels that are
ECG: those whose label is an ECG label or a lead name (``ECG``, ``EKG``, ``II``, ``V1``, ``MLII``,
...), at the rate of the first of them. A file without such a label keeps the channels at its
highest rate. The lead policy (:func:`keras_ecg.data.beats.choose_leads`) then picks among them,
as for any recording. EDF+ annotation channels are skipped. Every problem is a
:class:`~keras_ecg.errors.DataError` naming the file.
"""

from __future__ import annotations

import pathlib
import re

import numpy as np

from keras_ecg.errors import DataError

_ECG_LABEL = re.compile(r"^(ECG|EKG)\b|^(ECG|EKG)?\s*(I{1,3}|AVR|AVL|AVF|V[1-6]|MLI{1,3}|ML[1-3]|CM5|D[1-3])$",
                        re.IGNORECASE)
_TO_MV = {"uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "mv": 1.0, "v": 1e3}


def _fields(raw: bytes, ns: int, widths) -> list:
    """The per-signal header fields: ``widths`` (bytes per signal of each field), each a list of ``ns`` strings."""
    out, pos = [], 256
    for w in widths:
        out.append([raw[pos + i * w:pos + (i + 1) * w].decode("latin-1").strip() for i in range(ns)])
        pos += w * ns
    return out


def _number(text, what, path) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{path}: not an EDF file: header field {what} is {text!r}") from None


def read_channels(path) -> list:
    """``[(label, rate Hz, samples float32 in physical units, unit)]`` of every signal channel of the EDF file."""
    p = pathlib.Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise DataError(f"{p}: cannot read ({type(e).__name__}: {e.strerror or e})") from None
    if len(data) < 256:
        raise DataError(f"{p}: not an EDF file (shorter than its 256-byte header)")
    head = data[:256].decode("latin-1")
    ns = int(_number(head[252:256], "number of signals", p))
    n_rec = int(_number(head[236:244], "number of data records", p))
    dur = _number(head[244:252], "data record duration", p)
    if ns < 1 or dur <= 0 or len(data) < 256 * (ns + 1):
        raise DataError(f"{p}: not an EDF file ({ns} signals, data records of {dur} s)")
    labels, _, units, pmin, pmax, dmin, dmax, _, spr, _ = _fields(data, ns, (16, 80, 8, 8, 8, 8, 8, 80, 8, 32))
    spr = [int(_number(v, "samples per record", p)) for v in spr]
    frame = sum(spr)
    start = 256 * (ns + 1)
    if n_rec < 0:  # EDF allows -1 while recording: as many records as the file holds
        n_rec = (len(data) - start) // (2 * frame)
    if frame < 1 or len(data) < start + 2 * frame * n_rec:
        raise DataError(f"{p}: truncated EDF file: {len(data)} bytes, the header promises {n_rec} data records "
                        f"of {2 * frame} bytes after {start} header bytes")
    d = np.frombuffer(data, dtype="<i2", count=frame * n_rec, offset=start).reshape(n_rec, frame)
    out, col = [], 0
    for i in range(ns):
        x, col = d[:, col:col + spr[i]].reshape(-1), col + spr[i]
        if labels[i].upper().startswith("EDF ANNOTATIONS"):
            continue
        lo, hi = _number(dmin[i], "digital minimum", p), _number(dmax[i], "digital maximum", p)
        plo, phi = _number(pmin[i], "physical minimum", p), _number(pmax[i], "physical maximum", p)
        if hi <= lo:
            raise DataError(f"{p}: channel {labels[i]!r}: digital maximum {hi:g} is not above the minimum {lo:g}")
        gain = (phi - plo) / (hi - lo)
        out.append((labels[i], spr[i] / dur, ((x - lo) * gain + plo).astype(np.float32), units[i]))
    if not out:
        raise DataError(f"{p}: the EDF file holds no signal channels")
    return out


def is_ecg(label: str) -> bool:
    """Whether an EDF channel label names an ECG channel or lead."""
    return bool(_ECG_LABEL.search(label.strip()))


def read(path):
    """``(signal (samples, leads) float32 in mV where the unit is known, fs, lead names)`` (see the module doc)."""
    chans = read_channels(path)
    ecg = [c for c in chans if is_ecg(c[0])]
    fs = ecg[0][1] if ecg else max(c[1] for c in chans)
    keep = [c for c in (ecg or chans) if c[1] == fs]
    n = min(len(c[2]) for c in keep)
    sig = np.stack([c[2][:n] * np.float32(_TO_MV.get(c[3].strip().lower(), 1.0)) for c in keep], axis=1)
    return sig.astype(np.float32), float(fs), [c[0] for c in keep]
