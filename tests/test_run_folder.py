"""Run folders: one run at a time (lock with the owner's pid, stale locks), staging so that a killed re-run
never destroys a finished run (``--overwrite`` included), ``--resume`` of a staged run, unwritable ``--out``.

In-process with the suite's backend, tiny synthetic data and models.
"""

import json
import os
import subprocess
import sys

import pytest

from keras_ecg.errors import RunError
from keras_ecg.training import run_folder, run_lock, runner

TINY = json.dumps({"filters": [4], "units": [4], "dense_units": [4], "dropout": 0.0})
CONFIG = {"name": "test_run_folder", "task": "mitbih", "model": "cnn_lstm", "fs": 100, "rr_features": False,
          "template_beats": 0, "batch_size": 32, "synthetic_n": 16}


def _argv(out, *extra):
    return ["--backend", os.environ.get("KERAS_BACKEND", "tensorflow"), "--out", str(out), "--data", "synthetic",
            "--model-args", TINY, "--export", "none", "--verbose", "0", "--no-plots", "--epochs", "1", *extra]


class Interrupt(Exception):
    pass


def _interrupt():
    import keras

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise Interrupt("simulated kill")

    return Stop()


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_lock_refuses_a_second_run_and_takes_over_a_stale_lock(tmp_path):
    out = tmp_path / "run"
    path = run_lock.acquire(out)
    assert json.loads(path.read_text())["pid"] == os.getpid() and path.parent == tmp_path
    # a live owner (here: this process's parent, as if another run held it)
    path.write_text(json.dumps({"pid": os.getppid(), "host": json.loads(path.read_text())["host"],
                                "started": "then"}))
    with pytest.raises(RunError) as e:
        run_lock.acquire(out)
    assert f"pid {os.getppid()}" in str(e.value) and str(out) in str(e.value) and "\n" not in str(e.value)
    # the runner says the same in one line
    with pytest.raises(SystemExit) as e:
        runner.main(CONFIG, _argv(out))
    assert "another run" in str(e.value) and "\n" not in str(e.value)
    assert not out.exists()  # the second run wrote nothing
    # a stale lock (its pid is gone) is taken over
    host = json.loads(path.read_text())["host"]
    path.write_text(json.dumps({"pid": _dead_pid(), "host": host, "started": "then"}))
    said = []
    run_lock.acquire(out, log=said.append)
    assert "stale lock" in said[0] and json.loads(path.read_text())["pid"] == os.getpid()
    run_lock.release(out)
    assert not path.exists()


def test_killed_rerun_keeps_the_finished_run_and_resume_completes_it(tmp_path):
    out = tmp_path / "run"
    runner.main(CONFIG, _argv(out))
    first = (out / "report.json").read_text()
    log = (out / "training_log.csv").read_text()
    assert json.loads((out / runner.RUN_CONFIG).read_text())["finished"]
    assert not run_lock.lock_path(out).exists()  # released

    # a different run with --overwrite, killed during training: the finished run is untouched
    with pytest.raises(Interrupt):
        runner.main(CONFIG, _argv(out, "--seed", "5", "--overwrite"), callbacks=[_interrupt()])
    assert (out / "report.json").read_text() == first and (out / "training_log.csv").read_text() == log
    assert json.loads((out / runner.RUN_CONFIG).read_text())["config"]["seed"] != 5
    stage = run_folder.staging_path(out)
    assert (stage / "checkpoints" / "last.keras").exists() and not (stage / "report.json").exists()
    assert not run_lock.lock_path(out).exists()  # released on the way out

    # --resume continues the staged run and only then replaces the folder
    reports = runner.main(CONFIG, _argv(out, "--resume", "--epochs", "2"))
    assert reports["cnn_lstm"]["extra"]["resumed"] is True
    saved = json.loads((out / runner.RUN_CONFIG).read_text())
    assert saved["config"]["seed"] == 5 and saved["finished"]
    assert not stage.exists() and (out / "report.json").read_text() != first
    assert not [p for p in tmp_path.iterdir() if p.name not in ("run",)]  # no staging, old copy or lock left


def test_same_settings_rerun_is_staged_too(tmp_path):
    out = tmp_path / "run"
    runner.main(CONFIG, _argv(out))
    first = (out / "report.json").read_text()
    with pytest.raises(Interrupt):
        runner.main(CONFIG, _argv(out), callbacks=[_interrupt()])
    assert (out / "report.json").read_text() == first
    # a swap killed between its two renames: the next run puts the finished run back first
    stage = run_folder.staging_path(out)
    os.replace(out, tmp_path / ".run.old.tmp-1-abc")
    folder_cfg = runner.parse_args(CONFIG, _argv(out, "--resume"))
    with run_folder.open_run(folder_cfg, folder_cfg.to_dict(), log=lambda m: None) as folder:
        assert folder.work == stage and (out / "report.json").read_text() == first


def test_unwritable_out_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit) as e:
        runner.main(CONFIG, _argv(blocker / "run"))
    msg = str(e.value)
    assert "--out" in msg and str(blocker) in msg and "\n" not in msg
