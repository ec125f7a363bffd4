"""Result files kept for a bounded time, downloadable by an unguessable id: ``GET /v1/results/{id}/{file}``.

Each answer of ``/v1/annotate`` and ``/v1/explain`` leaves its files (annotation file, beats CSV, strip chart,
attribution picture) in a folder of its own under one private temporary folder (mode 0700), named by
``secrets.token_urlsafe(32)``. A download looks the id and the file name up in a table held in memory: the
client's text is a key, never a path, so nothing it sends reaches the filesystem. An entry lives ``ttl_s``
seconds (then 404); the oldest entries go first when the total passes ``max_bytes`` or ``max_entries``. A
sweeper thread removes expired folders; :meth:`Results.close` (the app's shutdown) removes them all.

The table is per process: with ``--workers N`` a result is found only by the worker that made it, so behind a
load balancer pin a client to one worker (sticky sessions) or run one worker per replica.
"""

from __future__ import annotations

import pathlib
import secrets
import shutil
import tempfile
import threading
import time

TTL_S = 3600.0
MAX_BYTES = 2 * 2**30
MAX_ENTRIES = 256


class Results:
    def __init__(self, ttl_s: float = TTL_S, max_bytes: int = MAX_BYTES, max_entries: int = MAX_ENTRIES,
                 clock=time.monotonic):
        self.ttl_s, self.max_bytes, self.max_entries, self.clock = float(ttl_s), int(max_bytes), int(max_entries), clock
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="keras-ecg-results-"))  # 0700: this user only
        self._lock = threading.Lock()
        self._entries = {}  # id -> {"folder", "files": {name: path}, "expires", "bytes"}
        self._closed = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="keras-ecg-results", daemon=True)
        self._sweeper.start()

    def new_folder(self) -> tuple:
        """``(id, folder)``: an empty private folder for one answer's files (:meth:`keep` publishes them)."""
        rid = secrets.token_urlsafe(32)
        folder = self.root / rid
        folder.mkdir(mode=0o700)
        return rid, folder

    def keep(self, rid: str, folder: pathlib.Path, files: dict) -> float:
        """Publish ``files`` (``{download name: path inside folder}``) under ``rid``; the seconds they are kept."""
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        with self._lock:
            self._entries[rid] = {"folder": folder, "files": dict(files), "expires": self.clock() + self.ttl_s,
                                  "bytes": size}
            self._evict()
        return self.ttl_s

    def discard(self, folder: pathlib.Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    def get(self, rid: str, name: str) -> pathlib.Path | None:
        """The file ``name`` of result ``rid``, or ``None`` (unknown, expired, or no such file)."""
        with self._lock:
            self._expire()
            entry = self._entries.get(rid)
            return None if entry is None else entry["files"].get(name)

    def names(self, rid: str) -> list:
        with self._lock:
            entry = self._entries.get(rid)
            return [] if entry is None else sorted(entry["files"])

    def _drop(self, rid: str) -> None:
        entry = self._entries.pop(rid)
        shutil.rmtree(entry["folder"], ignore_errors=True)

    def _expire(self) -> None:
        now = self.clock()
        for rid in [r for r, e in self._entries.items() if e["expires"] <= now]:
            self._drop(rid)

    def _evict(self) -> None:
        self._expire()
        order = sorted(self._entries, key=lambda r: self._entries[r]["expires"])
        while order and (len(self._entries) > self.max_entries
                         or sum(e["bytes"] for e in self._entries.values()) > self.max_bytes):
            self._drop(order.pop(0))

    def _sweep_loop(self) -> None:
        while not self._closed.wait(min(60.0, max(self.ttl_s / 4, 0.5))):
            with self._lock:
                self._expire()

    def close(self) -> None:
        """Remove every result (the service is shutting down)."""
        self._closed.set()
        with self._lock:
            self._entries.clear()
        shutil.rmtree(self.root, ignore_errors=True)
