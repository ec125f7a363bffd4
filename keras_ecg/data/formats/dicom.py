"""DICOM ECG waveform objects, read and written with ``pydicom`` (``pip install keras-ecg[formats]``).

Read: 12-Lead ECG, General ECG and Ambulatory ECG Waveform Storage objects (recognised by
the ``DICM`` marker after the 128-byte preamble, then by their SOP class).

* The multiplex group read is the longest of the ``WaveformSequence`` (the rhythm, not a
  group of median beats); its ``SamplingFrequency`` is checked against the supported range,
  its ``NumberOfWaveformChannels`` against its channel definitions, and its
  ``WaveformData`` against channels x samples x bytes (a truncated object is refused).
* Samples in mV: ``(stored x ChannelSensitivity x ChannelSensitivityCorrectionFactor +
  ChannelBaseline)`` in the channel's ``ChannelSensitivityUnitsSequence`` unit (uV, mV, V;
  channels in other units, e.g. a pressure, are left out); the group's
  ``WaveformPaddingValue`` is NaN.
* Lead names from each channel's ``ChannelSourceSequence`` code meaning (``Lead II`` -> ``II``),
  else its ``ChannelLabel``.
* Start time: ``AcquisitionDateTime`` (else the acquisition or content date and time), ISO 8601.
* Beat annotations: the ``WaveformAnnotationSequence`` items on the group read whose text
  (``UnformattedTextValue`` or coded ``CodeValue``) is a WFDB beat symbol, at their
  ``ReferencedSamplePositions`` (1-based) or ``ReferencedTimeOffsets``.
* Patient module fields (``PatientName``, ``PatientID``, ``PatientBirthDate``, ``PatientSex``)
  only with ``identifiers=True``.
* :func:`ranges`: the file is parsed once, then the samples are read in ranges from a
  memory map of the waveform data (little-endian, uncompressed files), so an ambulatory
  (24-hour) object is annotated without its float signal held whole.

Write (:func:`write`): a 12-Lead ECG object (at most 16 s, 13 channels, 200-1000 Hz), else a
General ECG object (at most 24 channels, 200-1000 Hz), else an Ambulatory ECG object (at most 12
channels, 50-1000 Hz); int16 samples at a sensitivity of 1 uV (coarser where a lead exceeds
+-32 mV), NaN as the padding value; annotations as a ``WaveformAnnotationSequence``. The patient
module is written empty unless identifiers are given.

Every problem is a :class:`~keras_ecg.errors.DataError` whose one line names the file.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import mmap
import pathlib

import numpy as np

from keras_ecg.errors import DataError

NAME = "DICOM"

TWELVE_LEAD, GENERAL, AMBULATORY = ("1.2.840.10008.5.1.4.1.1.9.1.1", "1.2.840.10008.5.1.4.1.1.9.1.2",
                                    "1.2.840.10008.5.1.4.1.1.9.1.3")
ECG_CLASSES = {TWELVE_LEAD: "12-Lead ECG", GENERAL: "General ECG", AMBULATORY: "Ambulatory ECG"}
_DTYPES = {(8, "SB"): "i1", (8, "UB"): "u1", (16, "SS"): "i2", (16, "US"): "u2", (32, "SL"): "i4", (32, "UL"): "u4"}
_TO_MV = {"uv": 1e-3, "mv": 1.0, "v": 1e3}
# SCP-ECG lead codes (DICOM CID 3001), scheme SCPECG: lead name -> code value
SCPECG = {"I": "5.6.3-9-1", "II": "5.6.3-9-2", "V1": "5.6.3-9-3", "V2": "5.6.3-9-4", "V3": "5.6.3-9-5",
          "V4": "5.6.3-9-6", "V5": "5.6.3-9-7", "V6": "5.6.3-9-8", "III": "5.6.3-9-61", "aVR": "5.6.3-9-62",
          "aVL": "5.6.3-9-63", "aVF": "5.6.3-9-64"}
LOCAL_SCHEME = "99KERASECG"  # a private coding scheme (DICOM's 99 prefix): lead names and annotation texts
# The patient module's fields -> the keys of ``Record.identifiers``
IDENTIFIERS = {"PatientName": "name", "PatientID": "id", "PatientBirthDate": "birth_date", "PatientSex": "sex"}


def sniff(head: bytes) -> bool:
    """A DICOM Part 10 file: ``DICM`` after the 128-byte preamble."""
    return len(head) >= 132 and head[128:132] == b"DICM"


def _pydicom():
    try:
        import pydicom
    except ImportError:
        raise ImportError("Reading and writing DICOM files needs the 'pydicom' package: "
                          "pip install keras-ecg[formats]") from None
    return pydicom


@dataclasses.dataclass
class Group:
    """The multiplex group read: its place, rate, layout and the channels kept."""

    index: int  # in the WaveformSequence (0-based)
    fs: float
    n_samples: int
    n_channels: int
    dtype: str  # numpy dtype of one stored sample (byte order included)
    keep: list  # channel indices kept (voltage channels)
    leads: list
    scale: np.ndarray  # per kept channel: mV per stored unit
    baseline: np.ndarray  # per kept channel: mV
    padding: int | None  # the stored value that means "no sample"


def _dataset(p: pathlib.Path):
    pydicom = _pydicom()
    try:
        ds = pydicom.dcmread(p)
        sop = str(ds.get("SOPClassUID", "") or ds.file_meta.get("MediaStorageSOPClassUID", ""))
    except Exception as e:  # noqa: BLE001 - pydicom raises many types on malformed files
        raise DataError(f"{p}: cannot read the DICOM file ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else 'malformed'})") from None
    if sop not in ECG_CLASSES:
        raise DataError(f"{p}: a DICOM object of SOP class {sop or '(none)'}, not an ECG waveform "
                        f"({', '.join(ECG_CLASSES.values())} Waveform Storage)")
    if not ds.get("WaveformSequence"):
        raise DataError(f"{p}: a DICOM {ECG_CLASSES[sop]} object without waveform data (no WaveformSequence)")
    return ds


def _int(item, key, p, i):
    v = item.get(key)
    if v is None or v == "":
        raise DataError(f"{p}: DICOM multiplex group {i + 1} lacks {key}")
    try:
        return int(v)
    except (TypeError, ValueError):
        raise DataError(f"{p}: DICOM multiplex group {i + 1}: {key} is {v!r}") from None


def _lead_name(ch, j) -> str:
    src = ch.get("ChannelSourceSequence")
    meaning = str(src[0].get("CodeMeaning", "")).strip() if src else ""
    if meaning.lower().startswith("lead "):
        meaning = meaning[5:].strip()
    return meaning or str(ch.get("ChannelLabel", "")).strip() or f"ch{j + 1}"


def _unit(ch) -> str:
    units = ch.get("ChannelSensitivityUnitsSequence")
    return str(units[0].get("CodeValue", "")).strip() if units else ""


def _group(ds, p: pathlib.Path, little: bool) -> Group:
    """The longest multiplex group, checked (see the module doc)."""
    from keras_ecg.data import rates

    seq = ds.WaveformSequence
    durations = []
    for i, item in enumerate(seq):
        fs = item.get("SamplingFrequency")
        n = item.get("NumberOfWaveformSamples")
        try:
            durations.append(float(n) / float(fs) if fs and float(fs) > 0 and n else 0.0)
        except (TypeError, ValueError):
            durations.append(0.0)
    i = int(np.argmax(durations))
    item = seq[i]
    fs = rates.check(item.get("SamplingFrequency"), f"{p}: DICOM multiplex group {i + 1}")
    n, c = _int(item, "NumberOfWaveformSamples", p, i), _int(item, "NumberOfWaveformChannels", p, i)
    bits, interp = _int(item, "WaveformBitsAllocated", p, i), str(item.get("WaveformSampleInterpretation", ""))
    if (bits, interp) not in _DTYPES:
        raise DataError(f"{p}: DICOM multiplex group {i + 1}: samples of {bits} bits {interp!r} are not read "
                        f"(read: {', '.join(f'{b} {s}' for b, s in _DTYPES)})")
    chans = ds.WaveformSequence[i].get("ChannelDefinitionSequence") or []
    if n < 1 or c < 1 or len(chans) != c:
        raise DataError(f"{p}: DICOM multiplex group {i + 1}: {c} channels of {n} samples, "
                        f"{len(chans)} channel definitions")
    keep, leads, scale, base = [], [], [], []
    for j, ch in enumerate(chans):
        unit = _unit(ch).lower()
        if unit not in _TO_MV:
            continue
        if ch.get("ChannelSensitivity") in (None, ""):
            raise DataError(f"{p}: DICOM channel {_lead_name(ch, j)!r} has no ChannelSensitivity: uncalibrated "
                            "samples cannot be read in mV")
        s = float(ch.ChannelSensitivity) * float(ch.get("ChannelSensitivityCorrectionFactor", 1.0) or 1.0)
        keep.append(j)
        leads.append(_lead_name(ch, j))
        scale.append(s * _TO_MV[unit])
        base.append(float(ch.get("ChannelBaseline", 0.0) or 0.0) * _TO_MV[unit])
    if not keep:
        raise DataError(f"{p}: DICOM multiplex group {i + 1}: no channel in uV, mV or V (units "
                        f"{sorted({_unit(ch) for ch in chans})})")
    pad = item.get("WaveformPaddingValue")
    dtype = np.dtype(_DTYPES[(bits, interp)]).newbyteorder("<" if little else ">")
    if pad is not None and not isinstance(pad, int):
        pad = int(np.frombuffer(bytes(pad)[:dtype.itemsize], dtype=dtype)[0])
    return Group(i, fs, n, c, dtype.str, keep, leads, np.array(scale), np.array(base), pad)


def _data(ds, g: Group, p) -> bytes:
    data = ds.WaveformSequence[g.index].get("WaveformData")
    need = g.n_samples * g.n_channels * np.dtype(g.dtype).itemsize
    have = 0 if data is None else len(data)
    if have < need:
        raise DataError(f"{p}: truncated DICOM waveform: {have} bytes of WaveformData, {g.n_channels} channels x "
                        f"{g.n_samples} samples need {need}")
    if have > need + 1:  # one pad byte keeps an odd length even
        raise DataError(f"{p}: DICOM WaveformData of {have} bytes, {g.n_channels} channels x {g.n_samples} samples "
                        f"need {need}: the channel or sample count is wrong")
    return data


def _physical(stored: np.ndarray, g: Group, cols) -> np.ndarray:
    x = stored.astype(np.float64) * g.scale[cols] + g.baseline[cols]
    if g.padding is not None:
        x[stored == g.padding] = np.nan
    return x.astype(np.float32)


def _little(ds) -> bool:
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    return True if ts is None else bool(_pydicom().uid.UID(str(ts)).is_little_endian)


def _start_time(ds) -> str | None:
    valuerep = _pydicom().valuerep
    try:
        if ds.get("AcquisitionDateTime"):
            return valuerep.DT(str(ds.AcquisitionDateTime)).isoformat()
        for d, t in (("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime")):
            if ds.get(d):
                date = valuerep.DA(str(ds.get(d)))
                time = valuerep.TM(str(ds.get(t))) if ds.get(t) else datetime.time()
                return datetime.datetime.combine(date, time).isoformat()
    except (TypeError, ValueError):
        return None
    return None


def _annotation_text(item) -> str:
    text = str(item.get("UnformattedTextValue", "") or "").strip()
    if not text and item.get("ConceptNameCodeSequence"):
        text = str(item.ConceptNameCodeSequence[0].get("CodeValue", "")).strip()
    return text


def _beat_annotations(ds, g: Group, p):
    """``(samples, symbols)`` of the group's point annotations that are WFDB beat symbols, or ``(None, None)``."""
    from keras_ecg.data.mitbih import AAMI_MAP

    out = []
    for item in ds.get("WaveformAnnotationSequence") or []:
        text = _annotation_text(item)
        chans = item.get("ReferencedWaveformChannels")
        if text not in AAMI_MAP or (chans and int(list(chans)[0]) != g.index + 1):
            continue
        if item.get("ReferencedSamplePositions") is not None:
            pos = item.ReferencedSamplePositions
            s = int(pos[0] if isinstance(pos, (list, tuple)) or hasattr(pos, "__getitem__") else pos) - 1
        elif item.get("ReferencedTimeOffsets") is not None:
            t = item.ReferencedTimeOffsets
            s = int(round(float(t[0] if hasattr(t, "__getitem__") else t) * g.fs))
        else:
            continue
        if not 0 <= s < g.n_samples:
            raise DataError(f"{p}: a DICOM beat annotation ({text!r}) at sample {s + 1} lies outside the "
                            f"{g.n_samples} samples of its multiplex group")
        out.append((s, text))
    if not out:
        return None, None
    out.sort(key=lambda r: r[0])
    return np.array([s for s, _ in out], dtype=np.int64), np.array([t for _, t in out], dtype="U2")


def read(path, *, identifiers: bool = False):
    """The recording in the DICOM ECG waveform object at ``path`` (see the module doc)."""
    from keras_ecg.data.wfdb_io import Record

    p = pathlib.Path(path)
    ds = _dataset(p)
    g = _group(ds, p, _little(ds))
    stored = np.frombuffer(_data(ds, g, p), dtype=g.dtype, count=g.n_samples * g.n_channels)
    stored = stored.reshape(g.n_samples, g.n_channels)[:, g.keep]
    ids = {key: str(ds.get(k, "") or "") for k, key in IDENTIFIERS.items()} if identifiers else None
    if ids and len(ids["birth_date"]) == 8 and ids["birth_date"].isdigit():  # DICOM DA -> ISO 8601
        b = ids["birth_date"]
        ids["birth_date"] = f"{b[:4]}-{b[4:6]}-{b[6:]}"
    samples, symbols = _beat_annotations(ds, g, p)
    return Record(p.stem, _physical(stored, g, slice(None)), g.fs, list(g.leads), samples, symbols, str(p),
                  start_time=_start_time(ds), identifiers=ids)


def _offset(p: pathlib.Path, data: bytes) -> int | None:
    """The file offset of the waveform data ``data``: found after its (5400,1010) tag and length, checked by
    content; None where the file does not hold it as such (e.g. a deflated transfer syntax)."""
    probe = bytes(data[:4096])
    with open(p, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        for tag in (b"\x00\x54\x10\x10", b"\x54\x00\x10\x10"):  # little, big endian
            start = 0
            while (k := mm.find(tag, start)) >= 0:
                for skip in (12, 8):  # explicit VR (tag, VR, 2 reserved, length), implicit VR (tag, length)
                    if mm[k + skip:k + skip + len(probe)] == probe:
                        return k + skip
                start = k + 1
    return None


def ranges(path):
    """``(name, fs, leads, n_samples, reader)``: the group's kept channels read in sample ranges from a memory
    map of the file (see the module doc); an object whose data cannot be mapped is read whole."""
    p = pathlib.Path(path)
    ds = _dataset(p)
    g = _group(ds, p, _little(ds))
    data = _data(ds, g, p)
    at = _offset(p, data)
    if at is None:
        rec = read(p)
        return rec.name, rec.fs, rec.leads, len(rec.signal), lambda a, b, idx=None: np.array(
            rec.signal[a:b] if idx is None else rec.signal[a:b][:, idx], dtype=np.float32)
    del ds, data
    mm = np.memmap(p, dtype=g.dtype, mode="r", offset=at, shape=(g.n_samples, g.n_channels))

    def reader(start, stop, idx=None):
        cols = list(range(len(g.keep))) if idx is None else list(idx)
        return _physical(np.asarray(mm[start:stop][:, [g.keep[k] for k in cols]]), g, cols)

    return p.stem, g.fs, list(g.leads), g.n_samples, reader


# ----------------------------------------------------------------------------- writing


def sop_class(n_samples: int, fs: float, n_leads: int) -> str:
    """The ECG waveform SOP class whose limits the recording fits (see the module doc)."""
    if n_samples / fs <= 16 and n_leads <= 13 and 200 <= fs <= 1000:
        return TWELVE_LEAD
    if n_leads <= 24 and 200 <= fs <= 1000:
        return GENERAL
    if n_leads <= 12 and 50 <= fs <= 1000:
        return AMBULATORY
    raise DataError(f"{n_leads} leads at {fs:g} Hz fit no DICOM ECG waveform object (12-lead and general ECG: "
                    "200-1000 Hz, at most 24 leads; ambulatory: 50-1000 Hz, at most 12 leads)")


def _code(value, scheme, meaning):
    from pydicom.dataset import Dataset

    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def _channel(lead: str, sensitivity_uv: float):
    from pydicom.dataset import Dataset

    ch = Dataset()
    name = {k.upper(): k for k in SCPECG}.get(str(lead).strip().upper())
    src = _code(SCPECG[name], "SCPECG", f"Lead {name}") if name else _code(str(lead)[:16], LOCAL_SCHEME, str(lead))
    ch.ChannelSourceSequence = [src]
    ch.ChannelLabel = str(lead)[:64]
    ch.ChannelSensitivity = f"{sensitivity_uv:.6g}"
    ch.ChannelSensitivityUnitsSequence = [_code("uV", "UCUM", "microvolt")]
    ch.ChannelSensitivityCorrectionFactor = "1"
    ch.ChannelBaseline = "0"
    ch.ChannelSampleSkew = "0"
    ch.WaveformBitsStored = 16
    return ch


def _annotation(text: str, sample: int, channel: int):
    from pydicom.dataset import Dataset

    a = Dataset()
    a.UnformattedTextValue = str(text)[:1024]
    a.ReferencedWaveformChannels = [1, channel]
    a.TemporalRangeType = "POINT"
    a.ReferencedSamplePositions = [int(sample) + 1]
    return a


def _patient_value(keyword: str, v) -> str:
    """A patient field as its DICOM VR takes it: a date as YYYYMMDD, a sex as M/F/O, a name with ``^``."""
    v = str(v or "").strip()
    if keyword == "PatientBirthDate" and v:
        digits = v.replace("-", "")
        return digits if len(digits) == 8 and digits.isdigit() else ""
    if keyword == "PatientSex":
        return v[:1].upper() if v[:1].upper() in ("M", "F", "O") else ""
    return v[:64]


def _date_time(start_time):
    try:
        t = datetime.datetime.fromisoformat(start_time) if start_time else None
    except ValueError:
        t = None
    return t


def dataset(signal, fs: float, leads, *, annotations=(), annotation_channel: int = 0, identifiers=None,
            start_time: str | None = None, description: str = ""):
    """A DICOM ECG waveform dataset of ``signal`` (samples, leads) in mV at ``fs`` (see the module doc).

    ``annotations``: ``(sample, text)`` pairs, referenced to lead ``annotation_channel`` (an index);
    ``identifiers``: ``{"name", "id", "birth_date", "sex"}`` (``Record.identifiers``) to write into the patient
    module, else it is written empty; ``start_time``: ISO 8601 text, the acquisition time.
    """
    pydicom = _pydicom()
    from pydicom.dataset import Dataset, FileMetaDataset

    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != len(leads):
        raise DataError(f"a DICOM waveform needs (samples, leads) samples, got {x.shape} for {len(leads)} leads")
    sop = sop_class(x.shape[0], float(fs), x.shape[1])
    peak = np.nanmax(np.abs(x), axis=0, initial=0.0) * 1000.0  # uV
    sens = np.maximum(1.0, np.ceil(peak / 32000.0 * 100) / 100)  # uV per step: 1, coarser past +-32 mV
    stored = np.round(x * 1000.0 / sens)
    stored[~np.isfinite(stored)] = -32768
    stored = stored.astype("<i2")
    uid = pydicom.uid
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop, uid.generate_uid()
    meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop, meta.MediaStorageSOPInstanceUID
    ds.SpecificCharacterSet = "ISO_IR 192"
    ids = identifiers or {}
    for k, key in IDENTIFIERS.items():
        setattr(ds, k, _patient_value(k, ids.get(key)))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uid.generate_uid(), uid.generate_uid()
    ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "", "", ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "ECG", 1, 1
    ds.Manufacturer = "keras_ecg"
    when = _date_time(start_time)
    ds.StudyDate = ds.ContentDate = when.strftime("%Y%m%d") if when else ""
    ds.StudyTime = ds.ContentTime = when.strftime("%H%M%S") if when else ""
    if when:
        ds.AcquisitionDateTime = when.strftime("%Y%m%d%H%M%S.%f")
    ds.AcquisitionContextSequence = []
    if description:
        ds.SeriesDescription = str(description)[:64]
    g = Dataset()
    g.MultiplexGroupTimeOffset = "0"
    g.WaveformOriginality = "ORIGINAL"
    g.NumberOfWaveformChannels, g.NumberOfWaveformSamples = x.shape[1], x.shape[0]
    g.SamplingFrequency = f"{float(fs):.6g}"
    g.MultiplexGroupLabel = "RHYTHM"
    g.ChannelDefinitionSequence = [_channel(lead, s) for lead, s in zip(leads, sens)]
    g.WaveformBitsAllocated, g.WaveformSampleInterpretation = 16, "SS"
    g.WaveformPaddingValue = np.int16(-32768).tobytes()
    g.WaveformData = stored.tobytes()
    ds.WaveformSequence = [g]
    if len(annotations):
        ds.WaveformAnnotationSequence = [_annotation(t, s, annotation_channel + 1) for s, t in annotations]
    return ds


def write(path, record, *, annotations=(), annotation_channel: int = 0, identifiers=None,
          description: str = "") -> pathlib.Path:
    """Write ``record`` (a :class:`~keras_ecg.data.wfdb_io.Record`: signal in mV, ``fs``, ``leads``,
    ``start_time``) as a DICOM ECG waveform file at ``path`` (:func:`dataset`), atomically; the path."""
    from keras_ecg import _atomic

    try:
        ds = dataset(record.signal, record.fs, record.leads, annotations=annotations,
                     annotation_channel=annotation_channel, identifiers=identifiers,
                     start_time=record.start_time, description=description)
    except DataError as e:
        raise DataError(f"{path}: {e}") from None
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return _atomic.write_bytes(path, buf.getvalue())
