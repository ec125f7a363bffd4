"""Atomic writes: write under a temporary name in the same folder, then rename.

A reader never sees a half-written file or folder under the final name: either
the old content (or nothing) or the complete new one. Temporary names keep the
final suffix (``.x.tmp-<pid>-<rand>.keras``) because some writers (``model.save``,
``savefig``) choose the format from it; they start with a dot so that globbing
for the final name never matches them. Importing this module imports nothing
heavy.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import uuid

__all__ = [
    "temp_path",
    "atomic_path",
    "replace",
    "write_bytes",
    "write_text",
    "write_json",
    "remove",
    "is_temp_name",
]

_TMP_TAG = ".tmp-"


def temp_path(final) -> pathlib.Path:
    """A fresh temporary path beside ``final`` that keeps its suffix."""
    final = pathlib.Path(final)
    suffix = "".join(final.suffixes[-1:])
    stem = final.name[: len(final.name) - len(suffix)] if suffix else final.name
    tag = f"{_TMP_TAG}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return final.with_name(f".{stem}{tag}{suffix}")


def is_temp_name(name) -> bool:
    """Whether ``name`` looks like a temporary name made by :func:`temp_path`."""
    name = pathlib.Path(name).name
    return name.startswith(".") and _TMP_TAG in name


def remove(path) -> None:
    """Remove a file or a folder tree if it exists; never raises for a missing path."""
    path = pathlib.Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def replace(tmp, final) -> pathlib.Path:
    """Move ``tmp`` to ``final`` atomically, replacing a file or folder there.

    For a folder, an existing ``final`` is first moved aside (one rename), the
    new folder renamed in, then the old one deleted; if the second rename fails
    the old folder is put back.
    """
    tmp, final = pathlib.Path(tmp), pathlib.Path(final)
    if tmp.is_dir() and final.exists():
        old = temp_path(final.with_name(final.name + ".old"))
        os.replace(final, old)
        try:
            os.replace(tmp, final)
        except BaseException:
            os.replace(old, final)
            raise
        remove(old)
    else:
        os.replace(tmp, final)
    return final


@contextlib.contextmanager
def atomic_path(final):
    """Yield a temporary path to write; rename it to ``final`` on success.

    The body may create a file or a folder at the yielded path. On any
    exception (or if nothing was written) the temporary is removed and
    ``final`` is left untouched.

    >>> with atomic_path("out/model.keras") as tmp:   # doctest: +SKIP
    ...     model.save(tmp)
    """
    final = pathlib.Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"atomic write of {final}: nothing was written to {tmp}")
        replace(tmp, final)
    except BaseException:
        remove(tmp)
        raise


def write_bytes(path, data: bytes) -> pathlib.Path:
    """Write ``data`` to ``path`` atomically (fsync'd before the rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return pathlib.Path(path)


def write_text(path, text: str) -> pathlib.Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path, obj, indent: int = 2) -> pathlib.Path:
    """Write ``obj`` as JSON to ``path`` atomically (NaN/inf are refused)."""
    text = json.dumps(obj, indent=indent, allow_nan=False, default=_json_default)
    return write_text(path, text + "\n")


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, pathlib.PurePath):
        return str(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")
