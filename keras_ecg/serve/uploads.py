"""Uploaded files: recognised from their content, saved under names the service chooses, checked against limits.

:func:`save` takes the multipart files of one request and answers the one input path the deploy functions read
(a page image, a CSV, an EDF file, or a WFDB record's path without extension) in a private folder. Each
upload's kind comes from its first bytes (:func:`sniff`), never from its name alone:

* ``png`` / ``jpeg``: the PNG signature, the JPEG SOI marker (a page);
* ``wfdb``: a WFDB header (text whose first record line is ``NAME NSIG [FS [NSAMP]]``); its signal files
  must be plain names among the uploads (a header naming ``../x`` is refused: no client path is opened);
* ``edf``: EDF's 8-byte version field ``"0       "`` and a numeric header length;
* ``csv``: UTF-8 text of numbers and commas (a CSV of beats, or of samples with ``fs``);
* ``.dat`` / ``.atr`` (binary, no signature): only beside the ``.hea`` of the same record;
* ``recording``: a file of a :mod:`keras_ecg.data.formats` module whose ``sniff`` accepts the head (DICOM
  waveform, ISHNE Holter, HL7 aECG, GE MUSE XML, BDF), saved with that format's suffix (:data:`FORMAT_SUFFIX`)
  and read by :func:`keras_ecg.data.signal_files.read` as the commands read it; its duration comes from its
  header where the format is read in ranges, else from reading it.

The uploaded name is only a label: the file is saved under a plain name the service makes of it (``MI (46).jpg``
as ``MI_46.jpg``; a WFDB record's files keep theirs, which its header names, and must be plain names).
A name whose suffix says another kind than the content (``page.png`` holding an EDF file) is a 415 naming the
upload; content no reader takes is a 415; a record's missing ``.hea`` is a 422. A recording longer than the
duration limit is a 413, read from its header (WFDB, EDF) or its line count (CSV) before anything else.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import shutil

from keras_ecg.errors import DataError

HEAD_BYTES = 4096
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
SUFFIX_KIND = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".hea": "wfdb", ".edf": "edf", ".csv": "csv"}
KIND_SUFFIX = {"png": ".png", "jpeg": ".jpg", "wfdb": ".hea", "edf": ".edf", "csv": ".csv"}
BINARY_PARTS = (".dat", ".atr")  # a WFDB record's signal and annotation files: raw bytes, no signature
READABLE = ("png", "jpeg", "wfdb", "edf", "csv")  # the kinds recognised here; the formats' modules' below
# the suffix a file of each content-read format is saved with: one its name may claim (formats.CLAIMED)
FORMAT_SUFFIX = {"dicom": ".dcm", "ishne": ".ecg", "aecg": ".xml", "muse": ".xml", "edf_plus": ".bdf"}
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|nan|NaN|inf|-inf")
_SIGNAL_LINE = re.compile(r"^\S*[A-Za-z_~]\S*\s+\d+")  # a header's signal line: a file name, then its format
_HEADER_LINE = re.compile(r"^(\S+)\s+(\d+)(?:\s+([0-9.eE+-]+)(?:/[0-9.eE+-]+)?(?:\(\S*\))?)?(?:\s+(\d+))?")


class UploadError(DataError):
    """An upload refused: ``status`` is the HTTP status (413, 415 or 422), the message one line naming it."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class Upload:
    path: pathlib.Path  # what predict/annotate/explain read
    kind: str  # "image", "wfdb", "edf", "csv" or "recording" (a format read by its content: DICOM, ISHNE, ...)
    name: str  # the uploaded name shown in answers (the record name for WFDB)
    duration_s: float | None  # the recording's length (None for a page or a CSV of beats)


def _text(head: bytes) -> str | None:
    try:
        return head.decode("utf-8") if b"\0" not in head else None
    except UnicodeDecodeError as e:  # a head cut inside a multi-byte character is still text
        return head[:e.start].decode("utf-8") if e.start >= len(head) - 3 else None


def _header_lines(text: str) -> list:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def sniff(head: bytes) -> str | None:
    """The kind of a file from its first bytes (see the module doc), else ``None`` (or another format's name)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:8] == b"0       " and head[184:192].strip().isdigit():
        return "edf"
    text = _text(head)
    if text is not None:
        lines = _header_lines(text)
        if len(lines) > 1 and _HEADER_LINE.match(lines[0]) and _SIGNAL_LINE.match(lines[1]):
            return "wfdb"
        if _csv_rows(lines[:-1] if len(head) >= HEAD_BYTES and len(lines) > 1 else lines):
            return "csv"
    return _other_format(head)


def _csv_rows(lines) -> bool:
    """Whether text lines are a CSV of numbers: an optional first row of names, then rows of numbers, every row
    with the same number of fields."""
    rows = [ln.split(",") for ln in lines[:50]]
    if not rows:
        return False

    def numeric(fields):
        return all(_NUMBER.fullmatch(f.strip()) for f in fields)

    body = rows if numeric(rows[0]) else rows[1:]
    return bool(body) and all(numeric(r) for r in body) and len({len(r) for r in rows}) == 1


def _other_format(head: bytes) -> str | None:
    """The name of a :mod:`keras_ecg.data.formats` module that recognises ``head`` (where one is installed)."""
    try:
        from keras_ecg.data import formats
    except ImportError:
        return None
    for name in formats.MODULES:
        try:
            if formats.module(name).sniff(head):
                return name
        except (ImportError, DataError):  # that format's module is not there yet
            continue
    return None


def _wfdb_files(hea: pathlib.Path, label: str) -> tuple:
    """``(signal file names, seconds or None)`` of an uploaded header; a name that is not a plain file name is
    refused before any reader sees it."""
    lines = _header_lines(hea.read_text(errors="replace"))
    m = _HEADER_LINE.match(lines[0])
    nsig = int(m.group(2))
    names = sorted({ln.split()[0] for ln in lines[1:1 + nsig] if ln.split()})
    for n in names:
        if not SAFE_NAME.match(n) or n == hea.name:
            raise UploadError(422, f"{label}: the header names signal file {n!r}, which is not a plain file name "
                                   "of this upload")
    fs = float(m.group(3)) if m.group(3) else 250.0  # WFDB's default rate
    seconds = int(m.group(4)) / fs if m.group(4) and fs > 0 else None
    return names, seconds


def _edf_seconds(head: bytes) -> float | None:
    try:
        return int(head[236:244].strip()) * float(head[244:252].strip())
    except ValueError:
        return None


def _recording_seconds(path: pathlib.Path, label: str) -> float:
    """The length of a recording of a content-read format: from its header where it is read in ranges."""
    from keras_ecg.data import record_file

    try:
        rec = record_file.open_recording(path)
    except DataError as e:
        raise UploadError(422, f"{label}: {str(e).removeprefix(str(path) + ': ')}") from None
    return rec.n_samples / rec.fs


def _csv_seconds(path: pathlib.Path, fs: float | None) -> float | None:
    if not fs:
        return None
    rows = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            rows += block.count(b"\n")
    return rows / fs


def save(files, folder: pathlib.Path, fs: float | None = None, max_duration_s: float | None = None,
         kinds=("image", "wfdb", "edf", "csv", "recording")) -> Upload:
    """Write the request's ``files`` (Starlette ``UploadFile``s) into ``folder`` and say what they are.

    ``kinds``: the kinds this route takes; ``fs``: a CSV recording's rate (a CSV without it is a CSV of beats).
    """
    from keras_ecg.deploy.output_folder import safe_name

    labels = [pathlib.PureWindowsPath(f.filename or "").name[-255:] or "upload" for f in files]
    if len(set(labels)) != len(labels):
        raise UploadError(422, "two uploaded files have the same name")
    saved = {}  # label -> (path, kind)
    for f, lab in zip(files, labels):
        head = f.file.read(HEAD_BYTES)
        f.file.seek(0)
        suffix = pathlib.PurePath(lab).suffix.lower()
        kind = sniff(head)
        if suffix in BINARY_PARTS and kind not in ("png", "jpeg", "edf"):
            kind = suffix[1:]  # a record's .dat/.atr: checked against its header below
        elif kind is None:
            raise UploadError(415, f"{lab}: not a recording or page this service reads (a PNG/JPEG page, a WFDB "
                                   "record's .hea + .dat, an EDF/BDF, DICOM waveform, ISHNE, HL7 aECG or GE MUSE "
                                   "file, a CSV)")
        elif kind not in READABLE and kind not in FORMAT_SUFFIX:
            raise UploadError(415, f"{lab}: a {kind} file, which this service does not read yet")
        if kind in FORMAT_SUFFIX:  # a format read by its content: a name claiming another one is refused
            from keras_ecg.data import formats

            claimed = formats.CLAIMED.get(suffix)
            if (claimed and kind not in claimed) or (suffix in SUFFIX_KIND and not claimed):
                raise UploadError(415, f"{lab}: the name says {suffix} but the content is "
                                       f"{formats.module(kind).NAME}")
            saved[lab] = (_write(f, folder / (safe_name(pathlib.PurePath(lab).stem, "upload") + FORMAT_SUFFIX[kind]),
                                 lab), "recording")
            continue
        named = SUFFIX_KIND.get(suffix)
        if (named is not None or suffix in BINARY_PARTS) and named != kind and suffix[1:] != kind:
            raise UploadError(415, f"{lab}: the name says {suffix} but the content is {kind.upper()}")
        if kind in ("wfdb", "dat", "atr") and not SAFE_NAME.match(lab):  # the header names its files
            raise UploadError(422, f"{lab!r}: a WFDB record's file names are letters, digits, '.', '_' and '-'")
        stem = pathlib.PurePath(lab).stem if named or suffix in BINARY_PARTS else lab
        if kind not in ("wfdb", "dat", "atr"):  # saved under a plain name of ours; answers show the upload's
            stem = safe_name(stem, "upload")
        saved[lab] = (_write(f, folder / (stem + (suffix if suffix in BINARY_PARTS else KIND_SUFFIX[kind])), lab), kind)
    return _input(saved, fs, max_duration_s, kinds)


def _write(f, target: pathlib.Path, lab: str) -> pathlib.Path:
    """The upload ``f`` saved as ``target``; two uploads whose plain names meet are refused, never overwritten."""
    if target.exists():
        raise UploadError(422, f"{lab}: two uploads would be the same file {target.name}")
    with open(target, "wb") as out:
        shutil.copyfileobj(f.file, out)
    return target


def _input(saved: dict, fs, max_duration_s, kinds) -> Upload:
    heads = [(lab, p) for lab, (p, k) in saved.items() if k == "wfdb"]
    parts = [(lab, p) for lab, (p, k) in saved.items() if k in ("dat", "atr")]
    if heads or parts:
        if len(heads) != 1:
            raise UploadError(422, "a WFDB record is uploaded as its .hea file and the signal files it names, one "
                                   "record a request" + ("" if heads else " (no .hea among the uploads)"))
        lab, hea = heads[0]
        others = [lab2 for lab2, (p, k) in saved.items() if k not in ("wfdb", "dat", "atr")]
        if others:
            raise UploadError(422, f"{others[0]}: one record a request (its .hea, .dat and .atr files) and nothing "
                                   "else")
        names, seconds = _wfdb_files(hea, lab)
        have = {p.name for _, p in parts}
        for n in names:
            if n not in have:
                raise UploadError(422, f"{lab}: its signal file {n} is not among the uploads")
        for l2, p in parts:
            if p.suffix == ".dat" and p.name not in names:
                raise UploadError(422, f"{l2}: not a signal file of {lab} (it names {', '.join(names) or 'none'})")
            if p.stem != hea.stem and p.suffix == ".atr":
                raise UploadError(422, f"{l2}: annotations of another record than {lab}")
        up = Upload(hea.with_suffix(""), "wfdb", hea.stem, seconds)
    else:
        if len(saved) != 1:
            raise UploadError(422, f"{len(saved)} files uploaded: give one page, one recording file (EDF, BDF, "
                                   "DICOM, ISHNE, HL7 aECG, GE MUSE, CSV) or one WFDB record's files")
        lab, (path, kind) = next(iter(saved.items()))
        if kind == "edf":
            with open(path, "rb") as f:
                seconds = _edf_seconds(f.read(256))
        elif kind == "recording":
            seconds = _recording_seconds(path, lab)
        else:
            seconds = _csv_seconds(path, fs) if kind == "csv" else None
        up = Upload(path, "image" if kind in ("png", "jpeg") else kind, lab, seconds)
    if up.kind not in kinds:
        def said(k):
            return {"image": "a page image", "recording": "a recording file (DICOM, ISHNE, aECG, MUSE, BDF)",
                    "edf": "an EDF"}.get(k, f"a {k.upper()}")

        raise UploadError(415, f"{up.name}: this route takes {', '.join(map(said, kinds))} (got {said(up.kind)})")
    if max_duration_s and up.duration_s and up.duration_s > max_duration_s:
        raise UploadError(413, f"{up.name}: {up.duration_s / 3600:.2f} h of recording, over the limit of "
                               f"{max_duration_s / 3600:g} h")
    return up
