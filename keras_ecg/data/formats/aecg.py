"""HL7 annotated ECG (aECG, the FDA's XML for clinical-trial ECGs): read the rhythm waveforms, write a page's leads.

The document's root is ``AnnotatedECG`` in the namespace ``urn:hl7-org:v3``. Its first
``component/series`` that has waveforms holds one or more ``sequenceSet``: each has one time
sequence (``TIME_ABSOLUTE``, a ``GLIST_TS`` whose ``head`` is a time stamp, or
``TIME_RELATIVE``, a ``GLIST_PQ`` whose ``head`` is seconds) whose ``increment`` gives the
sampling interval, and one sequence per lead (``SLIST_PQ``: value = ``origin`` + ``scale`` x
each of the ``digits``, with UCUM units ``V``/``mV``/``uV``/``nV``). Several sets are leads
recorded at different times (a machine that records 3 leads at a time, a 3x4 page): they must
share one interval, and each is placed at its head's offset from the earliest head, NaN where
a lead has no samples. Lead codes ``MDC_ECG_LEAD_I``, ``..._AVR``, ``..._V1`` become ``I``,
``aVR``, ``V1``; other codes keep their text. Representative beats (``derivedSeries``) and
further series are not read. Annotations are not read.

:func:`read` returns a :class:`~keras_ecg.data.wfdb_io.Record` with ``start_time`` (ISO 8601
text, or ``None``); the subject's name, id, sex and birth date are returned
(``Record.identifiers``, a dict) only when ``identifiers=True``. :func:`write` writes a recording as a document the
reader (and the FDA's aECG schema's structure) takes, quantised to ``resolution_uv``; it writes
no identifier. Parsing goes through :mod:`keras_ecg.data.formats._xml` (defusedxml).
"""

from __future__ import annotations

import datetime
import pathlib
import re
import uuid
import xml.etree.ElementTree as ET

import numpy as np

from keras_ecg import _atomic
from keras_ecg.data import rates, wfdb_io
from keras_ecg.data.formats import _xml
from keras_ecg.errors import DataError

NAME = "HL7 aECG"
NS = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
LEAD_PREFIX = "MDC_ECG_LEAD_"
_MV = {"V": 1e3, "mV": 1.0, "uV": 1e-3, "nV": 1e-6}  # UCUM unit -> mV
_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_Q = f"{{{NS}}}"


def sniff(head: bytes) -> bool:
    """Whether the file's first bytes open an ``AnnotatedECG`` element in ``urn:hl7-org:v3``."""
    return _xml.root(head) == ("AnnotatedECG", NS)


def lead_name(code: str) -> str:
    """``MDC_ECG_LEAD_AVR`` -> ``aVR``, ``MDC_ECG_LEAD_V1`` -> ``V1``; another code is returned as it is."""
    if not code.startswith(LEAD_PREFIX):
        return code
    name = code[len(LEAD_PREFIX):]
    return "a" + name[1:] if name in ("AVR", "AVL", "AVF") else name


def lead_code(name: str) -> str:
    """The MDC code of a lead name (``aVR`` -> ``MDC_ECG_LEAD_AVR``)."""
    return LEAD_PREFIX + (name.upper() if name in ("aVR", "aVL", "aVF") else name)


def _number(el, attr, path, what) -> float:
    try:
        v = float(el.get(attr))
    except (TypeError, ValueError):
        raise DataError(f"{path}: {what} {attr}={el.get(attr)!r} is not a number") from None
    if not np.isfinite(v):
        raise DataError(f"{path}: {what} {attr}={el.get(attr)!r} is not finite")
    return v


def _ts(value: str | None) -> str | None:
    """An HL7 TS (``YYYYMMDDHHMMSS.SSS`` with an optional ``+ZZZZ``) as ISO 8601 text, else ``None``."""
    m = re.fullmatch(r"(\d{4})(\d\d)(\d\d)(\d\d)?(\d\d)?(\d\d)?(\.\d+)?([+-]\d{4})?", (value or "").strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        t = datetime.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                              int(round(float(frac or 0) * 1e6)))
    except ValueError:
        return None
    return t.isoformat() + (f"{tz[:3]}:{tz[3:]}" if tz else "")


def _time(seq, path) -> tuple[float, float | datetime.datetime]:
    """``(sampling interval in s, head)`` of a time sequence; the head in seconds or as a time stamp."""
    value = seq.find(f"{_Q}value")
    inc = None if value is None else value.find(f"{_Q}increment")
    if inc is None:
        raise DataError(f"{path}: the time sequence has no increment (no sampling rate)")
    unit = inc.get("unit", "s")
    if unit not in _S:
        raise DataError(f"{path}: the time increment's unit {unit!r} is not s, ms or us")
    step = _number(inc, "value", path, "time increment") * _S[unit]
    head = value.find(f"{_Q}head")
    if head is None:
        return step, 0.0
    stamp = _ts(head.get("value")) if value.get(f"{{{XSI}}}type") == "GLIST_TS" else None
    if stamp is not None:
        return step, datetime.datetime.fromisoformat(stamp).replace(tzinfo=None)
    hunit = head.get("unit", "s")
    if hunit not in _S:
        raise DataError(f"{path}: the time head's unit {hunit!r} is not s, ms or us")
    return step, _number(head, "value", path, "time head") * _S[hunit]


def _lead(seq, path, name) -> np.ndarray:
    value = seq.find(f"{_Q}value")
    digits = None if value is None else value.find(f"{_Q}digits")
    if digits is None or not (digits.text or "").strip():
        raise DataError(f"{path}: lead {name} has no digits")
    scale_el, origin_el = value.find(f"{_Q}scale"), value.find(f"{_Q}origin")
    if scale_el is None:
        raise DataError(f"{path}: lead {name} has no scale")
    units = {scale_el.get("unit", "uV")} | ({origin_el.get("unit", "uV")} if origin_el is not None else set())
    bad = units - set(_MV)
    if bad:
        raise DataError(f"{path}: lead {name} is in {sorted(bad)[0]!r}, not a voltage unit (V, mV, uV, nV)")
    scale = _number(scale_el, "value", path, f"lead {name} scale") * _MV[scale_el.get("unit", "uV")]
    origin = 0.0 if origin_el is None else (_number(origin_el, "value", path, f"lead {name} origin")
                                          * _MV[origin_el.get("unit", "uV")])
    try:
        d = np.array(digits.text.split(), dtype=np.float64)
    except ValueError:
        raise DataError(f"{path}: lead {name}'s digits are not numbers") from None
    return (origin + scale * d).astype(np.float32)


def _sequence_sets(root, path):
    for series in root.iterfind(f"{_Q}component/{_Q}series"):
        sets = [ss.findall(f"{_Q}component/{_Q}sequence")
                for ss in series.iterfind(f"{_Q}component/{_Q}sequenceSet")]
        if any(sets):
            return [s for s in sets if s]
    raise DataError(f"{path}: no rhythm waveforms (no component/series/component/sequenceSet)")


def _read_set(seqs, path, leads):
    """``(interval s, head, {lead: mV})`` of one sequence set; ``leads`` (names read so far) refuses repeats."""
    step = head = None
    columns = {}
    for seq in seqs:
        code_el = seq.find(f"{_Q}code")
        code = code_el.get("code", "") if code_el is not None else ""
        if code in ("TIME_ABSOLUTE", "TIME_RELATIVE"):
            step, head = _time(seq, path)
            continue
        name = lead_name(code) if code else f"ECG{len(leads) + len(columns) + 1}"
        if name in leads or name in columns:
            raise DataError(f"{path}: lead {name} appears twice in the sequence sets")
        columns[name] = _lead(seq, path, name)
    if step is None:
        raise DataError(f"{path}: no time sequence (TIME_ABSOLUTE or TIME_RELATIVE): the sampling rate is unknown")
    if step <= 0:
        raise DataError(f"{path}: time increment {step:g} s is not positive")
    lengths = {len(c) for c in columns.values()}
    if len(lengths) > 1:
        n = ", ".join(f"{a} {len(b)}" for a, b in columns.items())
        raise DataError(f"{path}: the leads of a sequence set differ in length ({n} samples)")
    return step, head, columns


def _identifiers(root) -> dict:
    person = root.find(f".//{_Q}trialSubject/{_Q}subjectDemographicPerson")
    subject = root.find(f".//{_Q}trialSubject/{_Q}id")
    out = {"name": _xml.text(person.find(f"{_Q}name")) if person is not None else None,
           "id": subject.get("extension") if subject is not None else None}
    if person is not None:
        sex, born = person.find(f"{_Q}administrativeGenderCode"), person.find(f"{_Q}birthTime")
        out["sex"] = sex.get("code") if sex is not None else None
        out["birth_date"] = _ts(born.get("value")) if born is not None else None
    return out


def read(path, *, identifiers: bool = False) -> wfdb_io.Record:
    """The rhythm waveforms of the aECG document at ``path`` in mV (see the module doc)."""
    p = pathlib.Path(path)
    root = _xml.parse(p)
    if root.tag != f"{_Q}AnnotatedECG":
        raise DataError(f"{p}: not an HL7 aECG document (root element {root.tag!r})")
    sets = []
    for seqs in _sequence_sets(root, p):
        sets.append(_read_set(seqs, p, [n for _, _, c in sets for n in c]))
    step = sets[0][0]
    if any(abs(st - step) > 1e-9 * step for st, _, _ in sets):
        raise DataError(f"{p}: the sequence sets have different sampling intervals")
    fs = 1.0 / step
    fs = rates.check(round(fs) if abs(fs - round(fs)) < 1e-6 * fs else fs, f"{p}")  # 1 / (1/360 in text)
    heads = [h for _, h, _ in sets]
    if len({type(h) for h in heads}) > 1:
        raise DataError(f"{p}: the sequence sets mix absolute and relative times")
    first = min(heads)
    start = first.isoformat() if isinstance(first, datetime.datetime) else None
    offsets = [round(((h - first).total_seconds() if start else h - first) * fs) for h in heads]
    n = max(o + max((len(c) for c in cols.values()), default=0) for o, (_, _, cols) in zip(offsets, sets))
    if n < 2:
        raise DataError(f"{p}: the sequence sets hold no lead" if n == 0 else f"{p}: too few samples")
    held = sum(max((len(c) for c in cols.values()), default=0) for _, _, cols in sets)
    if n > held + 3600 * fs:
        raise DataError(f"{p}: the sequence sets' time heads lie over an hour apart beyond their samples: a wrong head")
    leads = [name for _, _, cols in sets for name in cols]
    signal = np.full((n, len(leads)), np.nan, dtype=np.float32)
    j = 0
    for o, (_, _, cols) in zip(offsets, sets):
        for x in cols.values():
            signal[o:o + len(x), j] = x
            j += 1
    return wfdb_io.Record(p.stem, signal, fs, leads, path=str(p), start_time=start,
                          identifiers=_identifiers(root) if identifiers else None)


# ----------------------------------------------------------------------------- writing


def _el(parent, tag, text=None, **attrs):
    e = ET.SubElement(parent, f"{_Q}{tag}", {k: str(v) for k, v in attrs.items()})
    if text is not None:
        e.text = text
    return e


def _hl7_time(t: datetime.datetime) -> str:
    return t.strftime("%Y%m%d%H%M%S.%f")  # microseconds: a set's head on its sample at any rate


def _spans(x: np.ndarray) -> dict:
    """``{(first, stop): [lead indices]}``: the leads grouped by the span of their finite samples."""
    groups = {}
    for j in range(x.shape[1]):
        ok = np.flatnonzero(np.isfinite(x[:, j]))
        if len(ok):
            groups.setdefault((int(ok[0]), int(ok[-1]) + 1), []).append(j)
    return groups


def _filled(x: np.ndarray) -> np.ndarray:
    """``x`` (one lead's span) with interior NaN gaps filled linearly between their neighbours."""
    bad = ~np.isfinite(x)
    if not bad.any():
        return x
    i = np.arange(len(x))
    return np.interp(i, i[~bad], x[~bad])


def write(path, record, *, start_time: datetime.datetime | None = None, resolution_uv: float = 1.0,
          text: str = "keras_ecg") -> pathlib.Path:
    """Write ``record`` (a :class:`~keras_ecg.data.wfdb_io.Record` in mV) to ``path`` as an HL7 aECG document.

    Every lead is one ``SLIST_PQ`` sequence (origin 0 uV, scale ``resolution_uv`` uV, integer
    digits: the round trip is exact to half of ``resolution_uv``). Leads with samples over the
    same span share a ``sequenceSet`` whose ``TIME_ABSOLUTE`` head is the span's start (a 3x4
    page: four sets of three leads, 2.5 s each): NaN before and after a lead's samples is not
    written (it reads back as NaN), NaN gaps inside are filled linearly. ``start_time`` is the
    first sample's time (default: 2000-01-01 00:00, no real date). Written atomically; no patient
    identifier is written."""
    p = pathlib.Path(path)
    fs = rates.check(record.fs, f"{p}: record")
    if not resolution_uv > 0:
        raise DataError(f"{p}: resolution_uv must be positive (got {resolution_uv})")
    x = np.asarray(record.signal, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(record.leads) or len(x) < 2:
        raise DataError(f"{p}: a record of shape {x.shape} with {len(record.leads)} leads cannot be written")
    groups = _spans(x)
    if not groups:
        raise DataError(f"{p}: the record has no finite sample to write")
    t0 = start_time or datetime.datetime(2000, 1, 1)
    t1 = t0 + datetime.timedelta(seconds=len(x) / fs)
    ET.register_namespace("", NS)
    ET.register_namespace("xsi", XSI)
    root = ET.Element(f"{_Q}AnnotatedECG", {"classCode": "OBS", "moodCode": "EVN"})
    _el(root, "id", root=str(uuid.uuid4()))
    _el(root, "code", code="93000", codeSystem="2.16.840.1.113883.6.12", codeSystemName="CPT-4")
    _el(root, "text", text)
    eff = _el(root, "effectiveTime")
    _el(eff, "low", value=_hl7_time(t0))
    _el(eff, "high", value=_hl7_time(t1))
    # The schema's subject and trial, with generated ids only: no identifier of a person.
    assign = _el(_el(_el(root, "componentOf"), "timepointEvent"), "componentOf")
    assign = _el(assign, "subjectAssignment")
    _el(_el(_el(assign, "subject"), "trialSubject"), "id", root=str(uuid.uuid4()))
    _el(_el(_el(assign, "componentOf"), "clinicalTrial"), "id", root=str(uuid.uuid4()))
    series = _el(_el(root, "component"), "series")
    _el(series, "id", root=str(uuid.uuid4()))
    _el(series, "code", code="RHYTHM", codeSystem="2.16.840.1.113883.5.4")
    seff = _el(series, "effectiveTime")
    _el(seff, "low", value=_hl7_time(t0))
    _el(seff, "high", value=_hl7_time(t1))
    for (a, b), cols in sorted(groups.items()):
        sset = _el(_el(series, "component"), "sequenceSet")
        tseq = _el(_el(sset, "component"), "sequence")
        _el(tseq, "code", code="TIME_ABSOLUTE", codeSystem="2.16.840.1.113883.5.4")
        tval = _el(tseq, "value", **{f"{{{XSI}}}type": "GLIST_TS"})
        _el(tval, "head", value=_hl7_time(t0 + datetime.timedelta(seconds=a / fs)), unit="s")
        _el(tval, "increment", value=repr(1.0 / fs), unit="s")
        for j in cols:
            digits = np.rint(_filled(x[a:b, j]) * 1e3 / resolution_uv).astype(np.int64)
            seq = _el(_el(sset, "component"), "sequence")
            _el(seq, "code", code=lead_code(str(record.leads[j])), codeSystem="2.16.840.1.113883.6.24",
                codeSystemName="MDC")
            val = _el(seq, "value", **{f"{{{XSI}}}type": "SLIST_PQ"})
            _el(val, "origin", value="0", unit="uV")
            _el(val, "scale", value=f"{resolution_uv:g}", unit="uV")
            _el(val, "digits", " ".join(map(str, digits.tolist())))
    _atomic.write_bytes(p, ET.tostring(root, encoding="utf-8", xml_declaration=True))
    return p
