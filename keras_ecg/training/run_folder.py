"""The run folder of a recipe run: where it is, the settings it holds (``run_config.json``, reloaded by
``--resume``), the refusal to mix two different runs in one folder (unless ``--overwrite``), and staging.

Staging: a run never writes over a *finished* run (one whose ``run_config.json``
says ``finished``, or that holds a report). Such a re-run (same settings,
``--overwrite`` or ``--resume``) writes into ``<parent>/.<name>.staging`` and
replaces the folder only when it has finished (:meth:`RunFolder.finish`), so a
run killed half-way leaves the finished one as it was; ``--resume`` continues an
interrupted staged run where it stopped. A first run (or one that continues an
unfinished folder) writes into the folder itself, as before. One run at a time
per folder: :mod:`keras_ecg.training.run_lock`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import shutil
import time

from keras_ecg import _atomic
from keras_ecg.config import RunConfig, apply_flags, identity
from keras_ecg.errors import RunError, one_line
from keras_ecg.training import run_lock

RUN_CONFIG = "run_config.json"


def out_dir(cfg: RunConfig) -> pathlib.Path | None:
    """The run folder: ``--out``, else ``runs/<recipe>-<backend>`` (None while the backend is ``auto``)."""
    if cfg.out:
        return pathlib.Path(cfg.out)
    return None if cfg.backend == "auto" else pathlib.Path("runs") / f"{cfg.name}-{cfg.backend}"


def _reload(cfg: RunConfig, given: dict) -> RunConfig:
    """``--resume``: the saved run's settings, with the flags given now on top."""
    out = out_dir(cfg)
    path = None
    if out is not None:
        path = staging_path(out) / RUN_CONFIG  # an interrupted staged run first
        path = path if path.is_file() else out / RUN_CONFIG
    if path is None or not path.is_file():
        return cfg
    try:
        saved = json.loads(path.read_text())["config"]
        saved = RunConfig.from_dict(saved, what=str(path))
    except (ValueError, KeyError, TypeError) as e:
        raise RunError(f"{path}: cannot reload the run's settings ({one_line(e)}); pass --overwrite "
                       "to start again") from None
    return apply_flags(saved, {**given, "resume": True, "out": cfg.out})


def check_out_dir(out: pathlib.Path, run_cfg: dict, overwrite: bool, resume: bool) -> None:
    """Refuse a folder that holds a different run (unless ``overwrite``)."""
    path = out / RUN_CONFIG
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} exists and is not a folder")
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text())
    except ValueError:
        old = None
    same = old is not None and identity(old.get("config", {})) == identity(run_cfg)
    if same:
        return
    if overwrite:
        if not is_finished(out):  # a finished run is replaced only when the new one has finished (staging)
            for child in out.iterdir():
                _atomic.remove(child)
        return
    diff = []
    if old is not None:
        a, b = identity(old.get("config", {})), identity(run_cfg)
        diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    detail = f" (differs in: {', '.join(diff[:6])})" if diff else ""
    raise RunError(f"--out {out} already holds a different run{detail}; pass --overwrite to replace it "
                   "or choose another --out")


# ----------------------------------------------------------------------------- staging


def staging_path(out) -> pathlib.Path:
    out = pathlib.Path(out)
    return out.parent / f".{out.name}.staging"


def is_finished(out) -> bool:
    """Whether ``out`` holds a finished run (``finished`` in its run_config.json, or a report)."""
    out = pathlib.Path(out)
    try:
        if json.loads((out / RUN_CONFIG).read_text()).get("finished"):
            return True
    except (OSError, ValueError, AttributeError):
        pass
    return (out / "report.json").is_file() or (out / "comparison.json").is_file()


def work_dir(out, resume: bool) -> pathlib.Path:
    """Where a run on ``out`` writes: the staging folder over a finished run (or to resume one), else ``out``."""
    out = pathlib.Path(out)
    stage = staging_path(out)
    if resume and (stage / RUN_CONFIG).is_file():
        return stage
    return stage if is_finished(out) else out


def _recover(out: pathlib.Path, log) -> None:
    """Put back a finished run moved aside by a swap that was killed between its two renames."""
    if out.exists():
        return
    old = sorted(out.parent.glob(f".{out.name}.old.tmp-*"))
    if old:
        os.replace(old[-1], out)
        log(f"--out {out}: restored the previous run from {old[-1].name} (a replacement was interrupted)")


@dataclasses.dataclass
class RunFolder:
    out: pathlib.Path  # the folder the user named
    work: pathlib.Path  # where this run writes (out, or its staging folder)

    def finish(self) -> None:
        """Mark the run finished and, if staged, put it in place of ``out`` (two renames)."""
        path = self.work / RUN_CONFIG
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            saved = {}
        saved["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        _atomic.write_json(path, saved)
        if self.work != self.out:
            _atomic.replace(self.work, self.out)


def _ignore_temp(_dir, names):
    return [n for n in names if _atomic.is_temp_name(n)]


@contextlib.contextmanager
def open_run(cfg: RunConfig, run_cfg: dict, chief: bool = True, log=print):
    """``with open_run(cfg, run_cfg) as folder:`` lock, check and prepare the run folder; yield a RunFolder.

    Only the chief process (rank 0) locks and changes folders; the others get the same ``work`` folder.
    """
    out = out_dir(cfg)
    if not chief:
        yield RunFolder(out, work_dir(out, cfg.resume))
        return
    with run_lock.held(out, log):
        _recover(out, log)
        work = work_dir(out, cfg.resume)
        stage = staging_path(out)
        resuming_stage = cfg.resume and work == stage and (stage / RUN_CONFIG).is_file()
        check_out_dir(stage if resuming_stage else out, run_cfg, cfg.overwrite, cfg.resume)
        try:
            if work == stage and not resuming_stage:
                _atomic.remove(stage)
                if cfg.resume:  # continue a finished run (say with more epochs) on a copy
                    shutil.copytree(out, stage, ignore=_ignore_temp)
                    saved = json.loads((stage / RUN_CONFIG).read_text()) if (stage / RUN_CONFIG).is_file() else {}
                    saved.pop("finished", None)
                    _atomic.write_json(stage / RUN_CONFIG, saved)
            elif resuming_stage:
                log(f"--resume: continuing the interrupted run in {stage} (the finished run in {out} is kept "
                    "until it ends)")
            work.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(f"--out {out}: cannot write the run folder ({e.strerror or type(e).__name__}: "
                           f"{getattr(e, 'filename', '') or work})") from None
        yield RunFolder(out, work)
