"""Recording file formats, recognised from their content rather than their name.

Each format is one module of this package with three names:

* ``NAME``: the format's short name (``dicom``, ``aecg``, ...), used in messages;
* ``sniff(head: bytes) -> bool``: whether the first :data:`HEAD_BYTES` bytes of a file are
  this format (a magic number, a DICOM preamble, an XML root element and namespace);
* ``read(path, *, identifiers: bool = False) -> keras_ecg.data.wfdb_io.Record``: the whole
  recording in mV with its rate and lead names. A header's patient identifiers are kept only
  when ``identifiers`` is true. Every problem is a :class:`~keras_ecg.errors.DataError`
  whose one line names the file.

:func:`detect` tries the modules in :data:`MODULES` in order; the order matters only where one
format's signature is a prefix of another's. A module that is not installed in this version is
skipped. :func:`recognise` is what the readers call: the format of a file by its content, with a
one-line error for a file whose name claims another format (:data:`CLAIMED`) or whose content is
none of them.

A module may also offer ``ranges(path) -> (name, fs, leads, n_samples, reader)``, ``reader(start,
stop, channel indices or None) -> float32 (stop - start, k)`` in mV: the recording read in sample
ranges, in memory bounded by the range (:mod:`keras_ecg.data.record_file`); without it a
recording is read whole. And ``write(path, record, *, identifiers=None, ...)``: a ``Record``
(signal in mV, ``fs``, ``leads``, ``start_time``) written as a file of the format, the patient
fields only where ``identifiers`` are given; the DICOM and EDF+ writers also take
``annotations``, ``(sample, text)`` pairs.
"""

from __future__ import annotations

import importlib
import pathlib

from keras_ecg.errors import DataError

HEAD_BYTES = 4096

# Module names below this package, tried in this order by :func:`detect`.
MODULES = ("dicom", "ishne", "aecg", "muse", "edf_plus")


def module(name: str):
    """The format module ``name`` (one of :data:`MODULES`)."""
    if name not in MODULES:
        raise DataError(f"unknown recording format {name!r} (known: {', '.join(MODULES)})")
    return importlib.import_module(f"{__name__}.{name}")


def head(path) -> bytes:
    """The first :data:`HEAD_BYTES` bytes of ``path``; a one-line error when it cannot be read."""
    p = pathlib.Path(path)
    try:
        with open(p, "rb") as f:
            return f.read(HEAD_BYTES)
    except OSError as e:
        raise DataError(f"{p}: cannot read ({e.strerror or type(e).__name__})") from None


# The formats a file's suffix claims: a file named so that holds something else is refused.
CLAIMED = {".dcm": ("dicom",), ".dicom": ("dicom",), ".edf": ("edf_plus",), ".bdf": ("edf_plus",),
           ".rec": ("edf_plus",), ".xml": ("aecg", "muse"), ".ecg": ("ishne",)}


def available() -> list:
    """The format modules of :data:`MODULES` that this installation has, in order."""
    out = []
    for name in MODULES:
        try:
            module(name)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            continue
        out.append(name)
    return out


def detect(path) -> str | None:
    """The name of the format module whose ``sniff`` accepts the file's first bytes, else ``None``."""
    h = head(path)
    for name in available():
        if module(name).sniff(h):
            return name
    return None


def _names(names) -> str:
    return " or ".join(module(n).NAME for n in names if n in available()) or "/".join(names)


def recognise(path, also: str = "") -> str | None:
    """The format module of the file at ``path`` by its content, ``None`` for content of none of them where
    its name claims no format (the caller may read it otherwise: ``also`` names what it reads, for the
    message). A name that claims one format (``.dcm``, ``.edf``, ``.xml``, ...) over content of another,
    or of none, is a one-line :class:`DataError` naming the file and both."""
    p = pathlib.Path(path)
    found = detect(p)
    claimed = CLAIMED.get(p.suffix.lower())
    if claimed and found not in claimed:
        holds = f"{module(found).NAME} content" if found else "none of the formats keras_ecg reads"
        raise DataError(f"{p}: named as {_names(claimed)} ({p.suffix}) but holds {holds}")
    return found


def read_what() -> str:
    """The formats read by content, for messages: ``DICOM, EDF, ...``."""
    return ", ".join(module(n).NAME for n in available())


def flag(allowed, always=()):
    """An argparse ``type`` for ``--format a,b``: the names among ``allowed`` (in that order, ``always`` added),
    a usage error naming any other."""
    import argparse

    def parse(text):
        names = [t.strip().lower() for t in str(text).split(",") if t.strip()]
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"unknown format {(bad or [text])[0]!r} (known: {', '.join(allowed)})")
        return tuple(n for n in allowed if n in names or n in always)

    return parse
