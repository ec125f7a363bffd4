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
format's signature is a prefix of another's.
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


def detect(path) -> str | None:
    """The name of the format module whose ``sniff`` accepts the file's first bytes, else ``None``."""
    h = head(path)
    for name in MODULES:
        if module(name).sniff(h):
            return name
    return None
