"""One run at a time per run folder: a lock file beside the folder, holding the owner's pid.

The lock is ``<parent>/.<name>.lock`` (beside the folder, so it survives the
folder being swapped for a finished staging folder). It is created with
``O_EXCL``: a second run on the same ``--out`` stops with a
:class:`~keras_ecg.errors.RunError` naming the owner's pid. A lock whose owner
(on this host) is no longer alive is stale: it is taken over, and the caller
is told so.

The output folders of ``annotate``, ``digitize``, ``explain``, ``evaluate`` and
``calibrate`` (:mod:`keras_ecg.deploy.output_folder`) take the same lock, kept
inside the folder (``lock_file``), since those folders are never swapped whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import socket
import time

from keras_ecg.errors import RunError


def lock_path(out) -> pathlib.Path:
    out = pathlib.Path(out)
    return out.parent / f".{out.name}.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _owner(path: pathlib.Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def acquire(out, log=print, lock_file=None) -> pathlib.Path:
    """Take the lock of run folder ``out`` (the file ``lock_file``, default :func:`lock_path`); raise
    :class:`RunError` if a live run holds it."""
    path = pathlib.Path(lock_file) if lock_file else lock_path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"--out {out}: cannot create the folder ({e.strerror or type(e).__name__})") from None
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                      time.gmtime())}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(path)
            if owner is None and time.time() - _mtime(path) < 5:  # being written right now
                time.sleep(0.2)
                owner = _owner(path)
            pid = int(owner.get("pid", -1)) if isinstance(owner, dict) else -1
            same_host = isinstance(owner, dict) and owner.get("host") == me["host"]
            if owner is not None and (not same_host or (pid > 0 and _alive(pid))):
                where = "" if same_host else f" on host {owner.get('host')}"
                raise RunError(f"--out {out}: another run (pid {pid}{where}, started {owner.get('started')}) is "
                               f"using this folder; wait for it, choose another --out, or delete {path} if "
                               "that run is gone") from None
            log(f"--out {out}: taking over the stale lock {path} (pid {pid} is not running)")
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        except OSError as e:
            raise RunError(f"--out {out}: cannot write the lock file {path} "
                           f"({e.strerror or type(e).__name__})") from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return path
    raise RunError(f"--out {out}: cannot take the lock {path}; another run keeps taking it")


def _mtime(path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def release(out, lock_file=None) -> None:
    """Drop the lock of ``out`` if this process holds it."""
    path = pathlib.Path(lock_file) if lock_file else lock_path(out)
    owner = _owner(path)
    if isinstance(owner, dict) and owner.get("pid") == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def held(out, log=print, lock_file=None):
    """``with held(out):`` the lock of ``out`` for the body."""
    acquire(out, log, lock_file)
    try:
        yield
    finally:
        release(out, lock_file)
