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
* Samples are read from a memory map of the data records (our own, from the checked header):
  :func:`ranges` reads the ECG channels in sample ranges, so a 24-hour EDF file is annotated in
  memory bounded by the chunk. ``edfio`` parses the annotations, start time and patient fields
  (lazily for EDF; it reads a BDF file whole) and writes EDF+.

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
        raise DataError(f"{path}: not an EDF file: header field {what} is {text.strip()!r}") from None
    if not np.isfinite(v):
        raise DataError(f"{path}: not an EDF file: header field {what} is {text.strip()!r}")
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


def continuous_header(p: pathlib.Path) -> Header:
    """:func:`header`, refused in one line for a discontinuous EDF+ (EDF+D) file."""
    h = header(p)
    if h.discontinuous:
        raise DataError(f"{p}: a discontinuous EDF+ file (EDF+D): its data records are not one time line; "
                        "keras_ecg reads continuous EDF/EDF+ (EDF+C) and BDF")
    return h


def _open(p: pathlib.Path):
    """``(header, edfio object)``: the file checked, then opened lazily (memory-mapped)."""
    h = continuous_header(p)
    edfio = _edfio()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the header was checked above; edfio's own notes repeat it
            if h.bdf:  # edfio reads a BDF's 24-bit samples whole
                f = edfio.read_bdf(p, header_encoding="latin-1")
            else:
                f = edfio.read_edf(p, lazy_load_data=True, header_encoding="latin-1")
    except Exception as e:  # noqa: BLE001 - edfio raises many types on malformed files
        raise DataError(f"{p}: cannot read the EDF file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
                        ) from None
    return h, f


def _check_rates(h: Header, idx, p) -> None:
    from keras_ecg.data import rates

    rates.check(h.channels[idx[0]].fs, f"{p}: EDF channel {h.channels[idx[0]].label!r}")


def _reader(h: Header, p: pathlib.Path, idx):
    """``(reader, n)``: ``reader(start, stop, indices into idx or None)`` -> float32 samples in mV, read from a
    memory map of the data records (only the records that hold the range are touched); ``n`` samples."""
    width = 3 if h.bdf else 2
    spr = [c.spr for c in h.channels]
    frame = sum(spr)
    try:
        mm = np.memmap(p, dtype=np.uint8 if h.bdf else "<i2", mode="r", offset=256 * (len(spr) + 1),
                       shape=(h.n_records, frame * (width if h.bdf else 1)))
    except (OSError, ValueError) as e:
        raise DataError(f"{p}: cannot map the EDF data records ({type(e).__name__}: {e})") from None
    scale = [_TO_MV.get(h.channels[i].unit.strip().lower(), 1.0) for i in idx]
    k = spr[idx[0]]  # the kept channels share one rate: one number of samples per record
    n = h.n_records * k

    def digital(i, start, stop):
        off = sum(spr[:i])
        r0, r1 = start // k, -(-stop // k)
        if h.bdf:
            b = np.asarray(mm[r0:r1, 3 * off:3 * (off + k)]).reshape(-1, 3).astype(np.int32)
            d = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
            d = np.where(d >= 1 << 23, d - (1 << 24), d)
        else:
            d = np.asarray(mm[r0:r1, off:off + k]).reshape(-1)
        return d[start - r0 * k:stop - r0 * k]

    def read(start, stop, which=None):
        start, stop = max(int(start), 0), min(int(stop), n)
        cols = range(len(idx)) if which is None else which
        out = np.empty((max(stop - start, 0), len(cols)), dtype=np.float32)
        if stop <= start:
            return out
        for j, c in enumerate(cols):
            ch = h.channels[idx[c]]
            out[:, j] = ((digital(idx[c], start, stop) * ch.gain + ch.offset) * scale[c]).astype(np.float32)
        return out

    return read, n


def _identifiers(f) -> dict:
    """``Record.identifiers`` of the file: the EDF+ patient subfields, and the raw patient and recording fields."""
    out = {"name": "", "id": "", "birth_date": "", "sex": "", "patient": f.local_patient_identification,
           "recording": f.local_recording_identification}
    try:
        pt = f.patient
        out.update(name=pt.name if pt.name != "X" else "", id=pt.code if pt.code != "X" else "",
                   sex=pt.sex if pt.sex != "X" else "")
        out["birth_date"] = pt.birthdate.isoformat() if pt.birthdate else ""
    except Exception:  # noqa: BLE001 - a plain EDF (or an unparsable EDF+) patient field: the raw field only
        pass
    return out


def ranges(path):
    """``(name, fs, leads, n_samples, reader)``: the ECG channels read in sample ranges (see the module doc)."""
    p = pathlib.Path(path)
    h = continuous_header(p)
    idx = _ecg_channels(h, p)
    _check_rates(h, idx, p)
    read_range, n = _reader(h, p, idx)
    return p.stem, h.channels[idx[0]].fs, [h.channels[i].label for i in idx], n, read_range


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
    read_range, n = _reader(h, p, idx)
    fs = h.channels[idx[0]].fs
    samples, symbols = _beat_annotations(f, fs, n, p) if h.annotations else (None, None)
    return Record(p.stem, read_range(0, n), fs, [h.channels[i].label for i in idx], samples, symbols, str(p),
                  start_time=_start_time(f), identifiers=_identifiers(f) if identifiers else None)


# ----------------------------------------------------------------------------- writing


def _patient(edfio, identifiers):
    """The EDF+ patient field: ``X X X X`` (unknown) unless identifiers are given."""
    if not identifiers:
        return edfio.Patient()

    def field(v):
        return str(v or "").strip().replace(" ", "_") or "X"

    try:
        birth = datetime.date.fromisoformat(str(identifiers.get("birth_date") or "")) or None
    except ValueError:
        birth = None
    sex = str(identifiers.get("sex") or "X")[:1].upper()
    return edfio.Patient(code=field(identifiers.get("id")), sex=sex if sex in ("M", "F") else "X",
                         birthdate=birth, name=field(identifiers.get("name")))


def write(path, record, *, annotations=(), identifiers=None) -> pathlib.Path:
    """Write ``record`` (a :class:`~keras_ecg.data.wfdb_io.Record`: signal (samples, leads) in mV, ``fs``, ``leads``,
    ``start_time``) and its ``(sample, text)`` annotations as an EDF+ file
    (EDF+C) at ``path``, atomically; the path. Each lead is stored in 16 bits over its own range (rounded out
    to 1 uV); a NaN sample is written as the range's minimum (EDF has no missing value); the last data record
    is filled up with the last sample (EDF holds whole records of 1 s, or 2, 5, ... s where the rate needs
    them). The patient field
    is ``X X X X`` unless ``identifiers`` (``Record.identifiers``) are given."""
    from keras_ecg import _atomic

    edfio = _edfio()
    x, fs, leads, start_time = np.asarray(record.signal, dtype=np.float64), float(record.fs), record.leads, \
        record.start_time
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != len(leads):
        raise DataError(f"an EDF+ file needs (samples, leads) samples, got {x.shape} for {len(leads)} leads")
    dur = next((d for d in (1, 2, 5, 10, 20, 50, 100) if abs(fs * d - round(fs * d)) < 1e-6), None)
    if dur is None:
        raise DataError(f"{path}: {fs:g} Hz gives no whole number of samples per EDF data record of 1-100 s")
    per = int(round(fs * dur))
    pad = -len(x) % per  # the last data record is filled with the last sample: EDF holds whole records
    x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)]) if pad else x
    sigs = []
    for j, lead in enumerate(leads):
        col = x[:, j]
        ok = np.isfinite(col)
        lo = np.floor(col[ok].min() * 1000) / 1000 if ok.any() else -1.0
        hi = np.ceil(col[ok].max() * 1000) / 1000 if ok.any() else 1.0
        if hi - lo < 0.002:
            lo, hi = lo - 0.001, hi + 0.001
        sigs.append(edfio.EdfSignal(np.where(ok, col, lo), sampling_frequency=float(fs), label=str(lead)[:16],
                                    physical_dimension="mV", physical_range=(lo, hi)))
    when = None
    try:
        when = datetime.datetime.fromisoformat(start_time) if start_time else None
    except ValueError:
        when = None
    anns = [edfio.EdfAnnotation(float(s) / float(fs), None, str(t)) for s, t in annotations]
    try:
        edf = edfio.Edf(sigs, patient=_patient(edfio, identifiers),
                        recording=edfio.Recording(startdate=when.date() if when else None),
                        starttime=when.time().replace(microsecond=0) if when else None, annotations=anns,
                        data_record_duration=float(dur))
        data = edf.to_bytes()
    except (ValueError, TypeError) as e:
        raise DataError(f"{path}: cannot write the EDF+ file ({type(e).__name__}: {e})") from None
    return _atomic.write_bytes(path, data)
