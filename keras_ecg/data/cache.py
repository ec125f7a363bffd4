"""A small on-disk cache for arrays built from raw files.

Entries are ``.npz`` files under :func:`cache_dir` (``$KERAS_ECG_CACHE`` or
``~/.cache/keras_ecg``), named by a hash of the source files (name, size,
modification time) and the build parameters. Files are written to a temporary
name and renamed, so a crash never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import zipfile

import numpy as np

from keras_ecg._atomic import atomic_path

CACHE_ENV = "KERAS_ECG_CACHE"
VERSION = 1  # bump when the layout of cached arrays changes


def cache_dir(path=None) -> pathlib.Path:
    """The cache folder: ``path``, else ``$KERAS_ECG_CACHE``, else ``~/.cache/keras_ecg``."""
    if path is None:
        path = os.environ.get(CACHE_ENV) or pathlib.Path.home() / ".cache" / "keras_ecg"
    return pathlib.Path(path)


def file_key(files, params: dict) -> str:
    """A hex key for ``files`` (by name, size and mtime) and the ``params`` dict."""
    h = hashlib.sha256()
    h.update(f"v{VERSION}".encode())
    for f in files:
        st = os.stat(f)
        h.update(f"{pathlib.Path(f).name}:{st.st_size}:{st.st_mtime_ns};".encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def save(path, **arrays) -> pathlib.Path:
    """Write ``arrays`` to ``path`` (.npz) atomically (temp file, then rename)."""
    path = pathlib.Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return path


def load(path):
    """The arrays stored at ``path`` as a dict, or None if missing or unreadable."""
    path = pathlib.Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None  # a damaged entry is rebuilt, never trusted
