"""GE MUSE XML exports (root element ``RestingECG``): the rhythm (or median) waveform in mV. Read only.

Each ``Waveform`` element has a ``WaveformType`` (``Rhythm``: the whole recording, usually
10 s; ``Median``: one representative beat per lead), a rate ``SampleBase`` x 10^``SampleExponent``
Hz and one ``LeadData`` per stored lead: ``WaveFormData`` is base64 of little-endian int16
samples (``LeadSampleSize`` 2), ``LeadSampleCountTotal`` of them, each worth
``LeadAmplitudeUnitsPerBit`` ``LeadAmplitudeUnits`` (``MICROVOLTS`` as a rule). A stated
``LeadByteCountTotal`` or ``LeadDataCRC32`` (zlib's CRC-32 of the decoded bytes) that does
not match the data refuses the file.

MUSE usually stores 8 leads (I, II, V1-V6): the other limb leads are derived as the
machine derives them, by Einthoven's and Goldberger's relations, III = II - I,
aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2, and the record holds the 12 leads in the
order I, II, III, aVR, aVL, aVF, V1-V6 (``derived_leads`` names the ones computed). A lead
that is stored is never replaced. Other stored leads follow in the file's order.

``PatientDemographics`` (name, id, birth date, sex, age) are read only when
``identifiers=True`` (``Record.identifiers``); ``start_time`` comes from
``TestDemographics``' ``AcquisitionDate`` and ``AcquisitionTime``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import pathlib
import zlib

import numpy as np

from keras_ecg.data import rates, wfdb_io
from keras_ecg.data.formats import _xml
from keras_ecg.errors import DataError

NAME = "GE MUSE XML"
_MV = {"VOLTS": 1e3, "MILLIVOLTS": 1.0, "MICROVOLTS": 1e-3, "NANOVOLTS": 1e-6}
ORDER = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
DERIVED = {  # lead: its value from I and II
    "III": lambda i, ii: ii - i,
    "aVR": lambda i, ii: -(i + ii) / 2,
    "aVL": lambda i, ii: i - ii / 2,
    "aVF": lambda i, ii: ii - i / 2,
}
_ALIASES = {"AVR": "aVR", "AVL": "aVL", "AVF": "aVF"}
_PATIENT = {"PatientID": "id", "PatientLastName": "last_name", "PatientFirstName": "first_name",
            "DateofBirth": "birth_date", "Gender": "sex", "PatientAge": "age"}


def sniff(head: bytes) -> bool:
    """Whether the file's first bytes open a ``RestingECG`` element (no namespace)."""
    return _xml.root(head) == ("RestingECG", "")


def _num(lead, tag, path, name, kind=float):
    t = _xml.text(lead.find(tag))
    try:
        v = kind(t)
    except (TypeError, ValueError):
        raise DataError(f"{path}: lead {name}: {tag} {t!r} is not a number") from None
    if not np.isfinite(v):
        raise DataError(f"{path}: lead {name}: {tag} {t!r} is not finite")
    return v


def _lead(lead, path, name) -> np.ndarray:
    raw_text = _xml.text(lead.find("WaveFormData"))
    if raw_text is None:
        raise DataError(f"{path}: lead {name} has no WaveFormData")
    try:
        raw = base64.b64decode("".join(raw_text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise DataError(f"{path}: lead {name}: WaveFormData is not base64") from None
    size = _xml.text(lead.find("LeadSampleSize"), "2")
    if size != "2":
        raise DataError(f"{path}: lead {name}: LeadSampleSize {size} (only 2-byte samples are known)")
    count = lead.find("LeadByteCountTotal")
    if count is not None and _num(lead, "LeadByteCountTotal", path, name, int) != len(raw):
        raise DataError(f"{path}: lead {name}: {len(raw)} bytes of data, LeadByteCountTotal says {_xml.text(count)}")
    crc = lead.find("LeadDataCRC32")
    if crc is not None and _num(lead, "LeadDataCRC32", path, name, int) != zlib.crc32(raw):
        raise DataError(f"{path}: lead {name}: the data's CRC-32 is not LeadDataCRC32 (a corrupt file)")
    if len(raw) % 2:
        raise DataError(f"{path}: lead {name}: an odd number of bytes ({len(raw)}) for 2-byte samples")
    x = np.frombuffer(raw, dtype="<i2")
    n = _num(lead, "LeadSampleCountTotal", path, name, int) if lead.find("LeadSampleCountTotal") is not None else len(x)
    if n != len(x):
        raise DataError(f"{path}: lead {name}: {len(x)} samples, LeadSampleCountTotal says {n}")
    units = _xml.text(lead.find("LeadAmplitudeUnits"), "MICROVOLTS").upper()
    if units not in _MV:
        raise DataError(f"{path}: lead {name}: amplitude units {units!r} are not a voltage")
    per_bit = _num(lead, "LeadAmplitudeUnitsPerBit", path, name)
    if per_bit <= 0:
        raise DataError(f"{path}: lead {name}: LeadAmplitudeUnitsPerBit {per_bit:g} is not positive")
    return (x.astype(np.float64) * per_bit * _MV[units]).astype(np.float32)


def _waveform(root, kind: str, path):
    types = []
    for w in root.iterfind("Waveform"):
        t = _xml.text(w.find("WaveformType"), "")
        types.append(t)
        if t.lower() == kind.lower():
            return w
    found = f"it holds {', '.join(types)}" if types else "it holds no Waveform"
    raise DataError(f"{path}: no {kind} waveform ({found})")


def _start(root) -> str | None:
    test = root.find("TestDemographics")
    date = _xml.text(test.find("AcquisitionDate")) if test is not None else None
    if not date:
        return None
    clock = _xml.text(test.find("AcquisitionTime"), "00:00:00")
    try:
        return datetime.datetime.strptime(f"{date} {clock}", "%m-%d-%Y %H:%M:%S").isoformat()
    except ValueError:
        return None


def read(path, *, identifiers: bool = False, waveform: str = "Rhythm") -> wfdb_io.Record:
    """The ``waveform`` (``Rhythm`` or ``Median``) of the MUSE XML file at ``path`` in mV (see the module doc)."""
    p = pathlib.Path(path)
    root = _xml.parse(p)
    if root.tag != "RestingECG":
        raise DataError(f"{p}: not a GE MUSE XML file (root element {root.tag!r})")
    w = _waveform(root, waveform, p)
    base, exp = _xml.text(w.find("SampleBase")), _xml.text(w.find("SampleExponent"), "0")
    try:
        fs = float(base) * 10.0 ** int(exp)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{p}: {waveform} waveform: SampleBase {base!r} x 10^{exp!r} is not a sampling rate") from None
    fs = rates.check(fs, f"{p}: {waveform} waveform")
    stored = {}
    for lead in w.iterfind("LeadData"):
        name = _xml.text(lead.find("LeadID"), f"ECG{len(stored) + 1}")
        name = _ALIASES.get(name.upper(), name)
        if name in stored:
            raise DataError(f"{p}: lead {name} appears twice in the {waveform} waveform")
        stored[name] = _lead(lead, p, name)
    if not stored:
        raise DataError(f"{p}: the {waveform} waveform holds no LeadData")
    lengths = {n: len(x) for n, x in stored.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"{p}: the leads differ in length ({', '.join(f'{a} {b}' for a, b in lengths.items())} samples)")
    if min(lengths.values()) < 2:
        raise DataError(f"{p}: too few samples")
    declared = _xml.text(w.find("NumberofLeads"))
    if declared is not None and declared.isdigit() and int(declared) != len(stored):
        raise DataError(f"{p}: the {waveform} waveform says NumberofLeads {declared} but holds {len(stored)} leads")
    derived = []
    if "I" in stored and "II" in stored:
        for name, f in DERIVED.items():
            if name not in stored:
                stored[name] = f(stored["I"], stored["II"]).astype(np.float32)
                derived.append(name)
    leads = [n for n in ORDER if n in stored] + [n for n in stored if n not in ORDER]
    ids = None
    if identifiers:
        demo = root.find("PatientDemographics")
        ids = {} if demo is None else {k: _xml.text(demo.find(tag)) for tag, k in _PATIENT.items()}
        if ids:  # the key every reader gives: the name as DICOM's LAST^FIRST
            ids["name"] = "^".join(v for v in (ids.get("last_name"), ids.get("first_name")) if v)
    rec = wfdb_io.Record(p.stem, np.stack([stored[n] for n in leads], axis=1), fs, leads, path=str(p),
                         start_time=_start(root), identifiers=ids)
    rec.derived_leads = derived
    return rec
