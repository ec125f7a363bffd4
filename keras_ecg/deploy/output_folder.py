"""The output folder of ``annotate``, ``digitize``, ``explain``, ``evaluate`` and ``calibrate``: as the recipes'.

    with output_folder.writing(args.out, "digitize") as o:
        name = o.claim(record_name(page), page)          # a name no other input of this run has
        o.add(name, write_digitized(d, page, o.stage, name))

* **One run at a time**: the lock of :mod:`keras_ecg.training.run_lock`, kept in the folder
  (``.keras-ecg.lock``); a second process stops with one line naming the owner's pid.
* **Staged**: the run writes into ``OUT/.keras-ecg.staging``; only when the body ends without an
  error are its files moved in (:func:`writing`). A failure or Ctrl-C removes the staging
  folder, so ``OUT`` keeps the previous complete outputs (or stays empty); a run killed outright
  leaves the staging folder, which the next run on ``OUT`` deletes. The move-in is a journal
  (``.keras-ecg.commit.json``, written first) then renames: a kill during the renames is rolled
  forward by the next run on ``OUT`` before it starts.
* **One run's files per item**: ``OUT/.keras-ecg.outputs.json`` records which item (a record, a page,
  an explained input, an evaluation) wrote each file. When an item is written again, the files of
  its previous run that this run did not write (a stale ``NAME.dat``, ``roc_curves.png``,
  ``NAME_gradcam.png``) are removed in the same move-in, so no item keeps files of two runs. Other
  files (other records, the user's own) are left alone: ``OUT`` is never replaced whole.
* **Names**: :meth:`Outputs.claim` tells two inputs of one run that would write the same name apart
  (``NAME-2``, ``NAME-3`` in input order) or, with ``refuse=True``, stops with one line naming both.
* **File names**: :func:`safe_name` makes any input's name (spaces, parentheses, quotes, unicode,
  255-byte names) a name every output file can take: WFDB record names allow letters, digits,
  ``_`` and ``-`` only, and ``NAME_summary.json`` must fit the file system's name limit.
* **Clear errors**: ``--out`` that is a file, cannot be created or written gives one line naming it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import re

from keras_ecg import _atomic
from keras_ecg.errors import RunError
from keras_ecg.training import run_lock

STAGE = ".keras-ecg.staging"
LOCK = ".keras-ecg.lock"
JOURNAL = ".keras-ecg.commit.json"
MANIFEST = ".keras-ecg.outputs.json"

__all__ = ["Outputs", "writing", "safe_name", "STAGE", "LOCK", "JOURNAL", "MANIFEST"]

NAME_BYTES = 120  # UTF-8 bytes of an output NAME: NAME_<suffix> and the staging names stay under 255


def safe_name(name: str, fallback: str = "record") -> str:
    """``name`` as an output name: runs of characters other than letters, digits, ``_`` and ``-`` become ``_``
    (``holter (1)`` -> ``holter_1``); a name over :data:`NAME_BYTES` UTF-8 bytes is cut and gets 8 hex digits
    of its hash, so two long names stay apart."""
    out = re.sub(r"[^\w-]+", "_", str(name)).strip("_") or fallback
    raw = out.encode("utf-8")
    if len(raw) <= NAME_BYTES:
        return out
    cut = raw[:NAME_BYTES - 9].decode("utf-8", errors="ignore").rstrip("_")
    return f"{cut}-{hashlib.sha256(str(name).encode('utf-8')).hexdigest()[:8]}"


def _problem(e: OSError) -> str:
    return e.strerror or type(e).__name__


def _prepare(out: pathlib.Path) -> bool:
    """Create ``out`` (True if it was created here); a :class:`RunError` when it cannot hold outputs."""
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out}: exists and is not a folder")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"--out {out}: cannot create the folder ({_problem(e)})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise RunError(f"--out {out}: the folder is not writable (permission denied)")
    return created


class Outputs:
    """One run's writes into ``out``: write under :attr:`stage`; :meth:`claim` names, :meth:`add` files."""

    def __init__(self, out, command: str, log=print):
        self.out, self.command, self.log = pathlib.Path(out), command, log
        self.stage = self.out / STAGE
        self._taken = {}  # casefolded name -> (the input that has it, the name as given)
        self._claimed = {}  # (input, casefolded name asked for) -> the name it got
        self._items = {}  # staged relative path -> item

    def claim(self, name: str, source, refuse: bool = False) -> str:
        """The output name of input ``source``: ``name``, or ``name-2``, ... when another input of this run has it.

        ``refuse``: a :class:`RunError` naming both inputs instead (for outputs whose name is written inside
        them, such as a copied WFDB header). The same ``source`` twice keeps its name. Names are compared
        without case (two names a case-insensitive file system would make one file are one name).
        """
        source = str(source)
        if (source, name.casefold()) in self._claimed:  # the same input again: the name it got
            return self._claimed[source, name.casefold()]
        have, given = self._taken.get(name.casefold(), (None, name))
        if have is None:
            self._taken[name.casefold()] = (source, name)
            self._claimed[source, name.casefold()] = name
            return name
        if refuse:
            raise RunError(f"{have} and {source} would both write {name}.* in {self.out}; give them separate "
                           "--out folders (or rename one)")
        k = 2
        while f"{name}-{k}".casefold() in self._taken:
            k += 1
        new = f"{name}-{k}"
        self._taken[new.casefold()] = (source, new)
        self._claimed[source, name.casefold()] = new
        self.log(f"{source}: written as {new} ({have} is {given})")
        return new

    def add(self, item: str, paths) -> None:
        """Files written under :attr:`stage` that belong to ``item`` (unlisted files belong to the command)."""
        for p in paths:
            self._items[self._rel(p)] = f"{self.command}:{item}"

    def final(self, path) -> pathlib.Path:
        """Where a file written under :attr:`stage` will be once the run has finished."""
        return self.out / self._rel(path)

    def _rel(self, path) -> str:
        path = pathlib.Path(path)
        try:
            return path.relative_to(self.stage).as_posix()
        except ValueError:
            return path.relative_to(self.out).as_posix()

    def _plan(self) -> dict:
        """The journal of the move-in: the staged files, the stale files of the items they rewrite, the manifest."""
        staged = sorted(p.relative_to(self.stage).as_posix() for p in self.stage.rglob("*")
                        if p.is_file() and not any(_atomic.is_temp_name(part) for part in p.parts))
        new = {rel: self._items.get(rel, self.command) for rel in staged}
        for rel in new:
            if (self.out / rel).is_dir():
                raise RunError(f"--out {self.out}: {rel} is a folder there; this run writes a file of that name")
        files = _read_manifest(self.out)
        touched = set(new.values())
        stale = sorted(rel for rel, item in files.items() if item in touched and rel not in new)
        files = {rel: item for rel, item in files.items() if rel not in stale}
        files.update(new)
        return {"moves": staged, "remove": stale, "files": files}

def _read_manifest(out: pathlib.Path) -> dict:
    try:
        files = json.loads((out / MANIFEST).read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return files if isinstance(files, dict) else {}


def _apply(out: pathlib.Path) -> None:
    """Carry out the journal in ``out`` (again, if a run was killed half-way through it); idempotent."""
    plan = json.loads((out / JOURNAL).read_text())
    stage = out / STAGE
    for rel in plan["moves"]:
        src = stage / rel
        if src.is_file():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, out / rel)
    for rel in plan["remove"]:
        _atomic.remove(out / rel)
    _atomic.write_json(out / MANIFEST, {"files": plan["files"]})
    _atomic.remove(stage)
    _atomic.remove(out / JOURNAL)


def _recover(out: pathlib.Path, log) -> None:
    """Finish the move-in of a run killed during it; drop the staging folder of a run killed before it."""
    if (out / JOURNAL).is_file():
        try:
            _apply(out)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RunError(f"--out {out}: cannot finish moving in an interrupted run's outputs ({e}); delete "
                           f"{out / JOURNAL} and {out / STAGE}") from None
        log(f"--out {out}: finished moving in the outputs of an interrupted run")
    elif (out / STAGE).exists():
        _atomic.remove(out / STAGE)


@contextlib.contextmanager
def writing(out, command: str, log=print):
    """``with writing(out, "annotate") as o:`` lock ``out``, yield :class:`Outputs` staged in it, move in on success."""
    out = pathlib.Path(out)
    created = _prepare(out)
    try:
        with run_lock.held(out, log, lock_file=out / LOCK):
            o = Outputs(out, command, log)
            try:
                _recover(out, log)
                o.stage.mkdir()
            except OSError as e:
                raise RunError(f"--out {out}: cannot write in the folder ({_problem(e)})") from None
            try:
                yield o
                plan = o._plan()
            except BaseException:
                _atomic.remove(o.stage)
                raise
            try:
                _atomic.write_json(out / JOURNAL, plan)  # from here on, a killed run's move-in is finished later
                _apply(out)
            except OSError as e:
                raise RunError(f"--out {out}: cannot move the outputs in ({_problem(e)}); the next run on this "
                               "folder finishes it") from None
    except BaseException:
        if created:  # a run that created the folder and wrote nothing leaves no folder
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
