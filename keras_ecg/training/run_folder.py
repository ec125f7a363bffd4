"""The run folder of a recipe run: where it is, the settings it holds (``run_config.json``, reloaded by
``--resume``), and the refusal to mix two different runs in one folder (unless ``--overwrite``).
"""

from __future__ import annotations

import json
import pathlib

from keras_ecg import _atomic
from keras_ecg.config import RunConfig, apply_flags, identity
from keras_ecg.errors import RunError, one_line

RUN_CONFIG = "run_config.json"


def out_dir(cfg: RunConfig) -> pathlib.Path | None:
    """The run folder: ``--out``, else ``runs/<recipe>-<backend>`` (None while the backend is ``auto``)."""
    if cfg.out:
        return pathlib.Path(cfg.out)
    return None if cfg.backend == "auto" else pathlib.Path("runs") / f"{cfg.name}-{cfg.backend}"


def _reload(cfg: RunConfig, given: dict) -> RunConfig:
    """``--resume``: the saved run's settings, with the flags given now on top."""
    out = out_dir(cfg)
    path = out / RUN_CONFIG if out is not None else None
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
