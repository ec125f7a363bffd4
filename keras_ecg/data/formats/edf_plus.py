"""EDF, EDF+ and BDF recordings, read with ``edfio`` (``pip install keras-ecg[formats]``), header checked first.

* Recognised by content: an EDF header starts with ``0`` and seven spaces, a BDF header with
  byte 255 and ``BIOSEMI``.
* The header is checked before any sample is read (:func:`header`): its number of data
  records, their duration, the samples per record of every signal and the file's size must
  agree exactly (a header that promises more or fewer records than the file holds is refused:
  ``edfio`` alone would trust the file and rewrite the header, silently); ``-1`` records (a
  recording still in progress) counts the whole records present.
* Channels: every channel at its own rate, calibrated with its own digital and physical range
  (``(d - dmin) * (pmax - pmin) / (dmax - dmin) + pmin``), converted to mV where the unit is uV,
  mV or V; the ECG channels are kept (a label that is an ECG label or a lead name: ``ECG``,
  ``EKG``, ``II``, ``V1``, ``MLII``, ...) at the rate of the first of them; a file without such a
  label keeps the channels at its highest rate. The lead policy
  (:func:`keras_ecg.data.beats.choose_leads`) then picks among them, as for any recording.
* EDF+ annotations (TAL): those whose text is a WFDB beat symbol (``N``, ``V``, ``A``, ...)
  become the record's beat annotations (``ann_samples`` at the ECG rate, ``ann_symbols``);
  other texts are ignored. A discontinuous EDF+ (``EDF+D``) is refused: its samples are not
  one time line.
* Start time: the header's start date and time (ISO 8601); patient and recording
  identification fields only with ``identifiers=True``.
* :func:`ranges`: the ECG channels read in sample ranges through ``edfio``'s memory map, so
  a 24-hour file is annotated in memory bounded by the chunk.

Writing: :func:`write_annotations` writes beat and rhythm annotations as an EDF+ file
(``EDF+C``: the signal and the annotation channel, or the annotations alone).

Every problem is a :class:`~keras_ecg.errors.DataError` whose one line names the file.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
import re
import warnings

import numpy as np

from keras_ecg.errors import DataError

NAME = "EDF/EDF+/BDF"

_ECG_LABEL = re.compile(r"^(ECG|EKG)\b|^(ECG|EKG)?\s*(I{1,3}|AVR|AVL|AVF|V[1-6]|MLI{1,3}|ML[1-3]|CM5|D[1-3])$",
                        re.IGNORECASE)
_TO_MV = {"uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "mv": 1.0, "v": 1e3}
_EDF, _BDF = b"0       ", b"\xffBIOSEMI"


def sniff(head: bytes) -> bool:
    """An EDF/EDF+ (``0`` and seven spaces) or BDF (byte 255, ``BIOSEMI``) header."""
    return len(head) >= 256 and head[:8] in (_EDF, _BDF) and head[252:256].strip().isdigit()


def _edfio():
    try:
        import edfio
    except ImportError:
        raise ImportError("Reading EDF/EDF+/BDF files needs the 'edfio' package: pip install keras-ecg[formats]"
                          ) from None
    return edfio


def is_ecg(label: str) -> bool:
    """Whether an EDF channel label names an ECG channel or lead."""
    return bool(_ECG_LABEL.search(label.strip()))


@dataclasses.dataclass
class Channel:
    label: str
    fs: float
    unit: str
    gain: float  # physical units per digital step
    offset: float  # physical value of digital 0
    spr: int  # samples per data record


@dataclasses.dataclass
class Header:
    bdf: bool
    n_records: int  # as the file holds them (``-1`` in the header resolved)
    duration: float  # seconds per data record
    channels: list  # Channel per signal, annotation channels included
    annotations: bool  # an EDF+ annotation channel is present
    discontinuous: bool  # EDF+D


def _number(text, what, path) -> float:
    try:
        v = float(text)
    except ValueError:
        raise DataError(f"{path}: not an EDF file: header field {what} is {text!r}") from None
    if not np.isfinite(v):
        raise DataError(f"{path}: not an EDF file: header field {what} is {text!r}")
    return v


def header(path) -> Header:
    """The header of the EDF/BDF file at ``path``, checked against the file's size (see the module doc)."""
    p = pathlib.Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            raw = f.read(256)
            ns = int(_number(raw[252:256].decode("latin-1"), "number of signals", p)) if len(raw) == 256 else 0
            if ns < 1 or ns > 4096:
                raise DataError(f"{p}: not an EDF file ({'shorter than its 256-byte header' if len(raw) < 256 else f'{ns} signals'})")
            raw += f.read(256 * ns)
    except OSError as e:
        raise DataError(f"{p}: cannot read ({type(e).__name__}: {e.strerror or e})") from None
    if len(raw) < 256 * (ns + 1):
        raise DataError(f"{p}: truncated EDF header: {len(raw)} bytes, {ns} signals need {256 * (ns + 1)}")
    head = raw[:256].decode("latin-1")
    bdf = raw[:8] == _BDF
    n_rec = int(_number(head[236:244], "number of data records", p))
    dur = _number(head[244:252], "data record duration", p)
    fields, pos = [], 256
    for w in (16, 80, 8, 8, 8, 8, 8, 80, 8, 32):
        fields.append([raw[pos + i * w:pos + (i + 1) * w].decode("latin-1").strip() for i in range(ns)])
        pos += w * ns
    labels, _, units, pmin, pmax, dmin, dmax, _, spr, _ = fields
    is_ann = [lab.upper().startswith(("EDF ANNOTATIONS", "BDF ANNOTATIONS")) for lab in labels]
    if dur < 0 or (dur == 0 and not all(is_ann)):
        raise DataError(f"{p}: EDF data records of {dur:g} s: no sampling rate can be derived")
    chans = []
    for i in range(ns):
        k = int(_number(spr[i], f"samples per record of signal {i + 1}", p))
        lo, hi = _number(dmin[i], "digital minimum", p), _number(dmax[i], "digital maximum", p)
        plo, phi = _number(pmin[i], "physical minimum", p), _number(pmax[i], "physical maximum", p)
        if k < 1:
            raise DataError(f"{p}: channel {labels[i]!r}: {k} samples per data record")
        if hi <= lo and not is_ann[i]:
            raise DataError(f"{p}: channel {labels[i]!r}: digital maximum {hi:g} is not above the minimum {lo:g}")
        gain = (phi - plo) / (hi - lo) if hi > lo else 1.0
        chans.append(Channel(labels[i], k / dur if dur else 0.0, units[i], gain, plo - lo * gain, k))
    width = 3 if bdf else 2
    frame = width * sum(c.spr for c in chans)
    start = 256 * (ns + 1)
    held, extra = divmod(size - start, frame)
    if n_rec == -1 and size >= start:  # allowed while recording: as many records as the file holds
        n_rec = held
        extra = 0
    if n_rec < 0 or size < start or held != n_rec or extra:
        raise DataError(f"{p}: the EDF header promises {n_rec} data records of {frame} bytes after {start} header "
                        f"bytes ({start + max(n_rec, 0) * frame} bytes), the file has {size} bytes "
                        f"({'truncated' if size < start + max(n_rec, 0) * frame else 'more than the header says'})")
    if n_rec == 0:
        raise DataError(f"{p}: the EDF file holds no data records")
    reserved = head[192:236].strip().upper()
    return Header(bdf, n_rec, dur, chans, any(is_ann), reserved.startswith("EDF+D") or reserved.startswith("BDF+D"))


def _ecg_channels(h: Header, p) -> list:
    """Indices of the channels read: the ECG channels at the first one's rate (see the module doc)."""
    sig = [i for i, c in enumerate(h.channels) if not c.label.upper().startswith(("EDF ANNOTATIONS",
                                                                                   "BDF ANNOTATIONS"))]
    if not sig:
        raise DataError(f"{p}: the EDF file holds no signal channels")
    ecg = [i for i in sig if is_ecg(h.channels[i].label)]
    fs = h.channels[ecg[0]].fs if ecg else max(h.channels[i].fs for i in sig)
    return [i for i in (ecg or sig) if h.channels[i].fs == fs]


def _open(p: pathlib.Path):
    """``(header, edfio object)``: the file checked, then opened lazily (memory-mapped)."""
    h = header(p)
    if h.discontinuous:
        raise DataError(f"{p}: a discontinuous EDF+ file (EDF+D): its data records are not one time line; "
                        "keras_ecg reads continuous EDF/EDF+ (EDF+C) and BDF")
    edfio = _edfio()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the header was checked above; edfio's own notes repeat it
            f = (edfio.read_bdf if h.bdf else edfio.read_edf)(p, lazy_load_data=True, header_encoding="latin-1")
    except Exception as e:  # noqa: BLE001 - edfio raises many types on malformed files
        raise DataError(f"{p}: cannot read the EDF file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
                        ) from None
    return h, f


def _check_rates(h: Header, idx, p) -> None:
    from keras_ecg.data import rates

    rates.check(h.channels[idx[0]].fs, f"{p}: EDF channel {h.channels[idx[0]].label!r}")


def _reader(h: Header, f, idx, p):
    """``reader(start, stop, channel indices into idx or None)``: float32 samples in mV."""
    digital = [f.signals[i].digital for i in idx]
    scale = [np.float32(_TO_MV.get(h.channels[i].unit.strip().lower(), 1.0)) for i in idx]
    n = min(len(d) for d in digital)

    def read(start, stop, which=None):
        cols = range(len(idx)) if which is None else which
        out = np.empty((max(stop - start, 0), len(cols)), dtype=np.float32)
        for j, k in enumerate(cols):
            c = h.channels[idx[k]]
            try:
                d = np.asarray(digital[k][start:stop], dtype=np.float64)
            except (OSError, ValueError) as e:
                raise DataError(f"{p}: cannot read samples {start}:{stop} ({type(e).__name__}: {e})") from None
            out[:, j] = ((d * c.gain + c.offset) * scale[k]).astype(np.float32)
        return out

    return read, n


def ranges(path):
    """``(name, fs, leads, n_samples, reader)``: the ECG channels read in sample ranges (see the module doc)."""
    p = pathlib.Path(path)
    h, f = _open(p)
    idx = _ecg_channels(h, p)
    _check_rates(h, idx, p)
    read, n = _reader(h, f, idx, p)
    return p.stem, h.channels[idx[0]].fs, [h.channels[i].label for i in idx], n, read


def _start_time(f) -> str | None:
    try:
        return datetime.datetime.combine(f.startdate, f.starttime).isoformat()
    except Exception:  # noqa: BLE001 - an anonymised or malformed start date: no start time
        return None


def _beat_annotations(f, fs: float, n: int, p):
    """``(samples, symbols)`` of the EDF+ annotations that are WFDB beat symbols, or ``(None, None)``."""
    from keras_ecg.data.mitbih import AAMI_MAP

    try:
        anns = f.annotations
    except Exception as e:  # noqa: BLE001 - a malformed TAL
        raise DataError(f"{p}: cannot read the EDF+ annotations ({type(e).__name__}: {e})") from None
    beats = [(a.onset, a.text.strip()) for a in anns if a.text.strip() in AAMI_MAP]
    if not beats:
        return None, None
    samples = np.array([int(round(t * fs)) for t, _ in beats], dtype=np.int64)
    symbols = np.array([s for _, s in beats], dtype="U2")
    if samples.min() < 0 or samples.max() >= n:
        raise DataError(f"{p}: an EDF+ beat annotation lies outside the recording (onset "
                        f"{float(beats[int(np.argmax((samples < 0) | (samples >= n)))][0]):g} s)")
    order = np.argsort(samples, kind="stable")
    return samples[order], symbols[order]


def read(path, *, identifiers: bool = False):
    """The recording in the EDF/EDF+/BDF file at ``path`` (see the module doc)."""
    from keras_ecg.data.wfdb_io import Record

    p = pathlib.Path(path)
    h, f = _open(p)
    idx = _ecg_channels(h, p)
    _check_rates(h, idx, p)
    read_range, n = _reader(h, f, idx, p)
    fs = h.channels[idx[0]].fs
    samples, symbols = _beat_annotations(f, fs, n, p) if h.annotations else (None, None)
    ids = None
    if identifiers:
        ids = {"patient": f.local_patient_identification, "recording": f.local_recording_identification}
    return Record(p.stem, read_range(0, n), fs, [h.channels[i].label for i in idx], samples, symbols, str(p),
                  start_time=_start_time(f), identifiers=ids)
