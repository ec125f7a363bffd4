"""``--strategy multi_host`` on CPU: two processes on 127.0.0.1, launched as two hosts would be.

Only the test of the suite's backend (``KERAS_BACKEND``) runs:

- JAX: ``KERAS_DISTRIBUTION_JOB_ADDRESSES/NUM_PROCESSES/PROCESS_ID`` -> ``jax.distributed``
  + ``keras.distribution.DataParallel`` over both processes' devices (gloo);
- TensorFlow: ``TF_CONFIG`` with two workers -> ``MultiWorkerMirroredStrategy``;
- torch: two ``torchrun --nnodes 2 --nproc-per-node 1 --node-rank R`` launches (gloo).

Each process gets its own ``--out`` folder, as on hosts without a shared disk: the
chief's holds the run, the worker's stays empty. Both processes must finish, end
training with the same weights, and those must differ from the initial weights.
A hang fails the test after TIMEOUT seconds.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
TIMEOUT = 120
CONFIG = {"name": "multihost", "task": "mitbih", "model": "cnn1d", "fs": 100, "rr_features": False,
          "template_beats": 0, "synthetic_n": 16}
ARGS = ["--data", "synthetic", "--epochs", "2", "--batch-size", "16", "--export", "keras", "--no-plots",
        "--verbose", "2", "--strategy", "multi_host", "--monitor", "val_macro_f1",
        "--model-args", json.dumps({"filters": [4], "dense_units": [4], "dropout": 0.0})]

DRIVER = r'''
import json, os, sys
sys.path.insert(0, {root!r})
import keras
import numpy as np
from keras_ecg.training import runner
from keras_ecg.training.multi_host import process_rank

DUMP = os.environ["KE_DUMP"]

def flat(model):
    return np.concatenate([np.ravel(keras.ops.convert_to_numpy(v.value)) for v in model.trainable_variables])

class DumpWeights(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        np.save(os.path.join(DUMP, "start-rank%d.npy" % process_rank()), flat(self.model))
    def on_train_end(self, logs=None):
        np.save(os.path.join(DUMP, "end-rank%d.npy" % process_rank()), flat(self.model))

runner.main(json.loads(os.environ["KE_CONFIG"]), sys.argv[1:], callbacks=[DumpWeights()])
'''


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _launch(tmp_path, per_rank):
    """Start one process per ``(command prefix, extra env)`` in ``per_rank``; wait for all (TIMEOUT)."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(root=str(ROOT)))
    dump = tmp_path / "dump"
    dump.mkdir()
    procs = []
    t0 = time.time()
    for rank, (prefix, env_extra) in enumerate(per_rank):
        env = {**os.environ, "KERAS_BACKEND": BACKEND, "KE_CONFIG": json.dumps(CONFIG), "KE_DUMP": str(dump),
               "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", **env_extra}
        for key in ("TF_CONFIG", "RANK", "WORLD_SIZE", "XLA_FLAGS"):
            if key not in env_extra:
                env.pop(key, None)
        log = open(tmp_path / f"log{rank}.txt", "w")
        cmd = [*prefix, str(driver), "--backend", BACKEND, "--out", str(tmp_path / f"out{rank}"), *ARGS]
        procs.append((subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(tmp_path)), log))
    hung = False
    for p, log in procs:
        try:
            p.wait(timeout=max(1.0, TIMEOUT - (time.time() - t0)))
        except subprocess.TimeoutExpired:
            hung = True
    for p, log in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
    logs = [(tmp_path / f"log{r}.txt").read_text() for r in range(len(procs))]
    tail = "\n".join(f"--- process {r} (rc {p.returncode}):\n{text[-2500:]}" for r, ((p, _), text)
                     in enumerate(zip(procs, logs)))
    assert not hung, f"multi_host run hung (> {TIMEOUT} s)\n{tail}"
    assert all(p.returncode == 0 for p, _ in procs), tail
    return logs, dump, time.time() - t0


def _check(tmp_path, logs, dump, took, expect):
    assert expect in logs[0], logs[0][-2000:]
    report = json.loads((tmp_path / "out0" / "report.json").read_text())
    assert report["extra"]["strategy"].startswith("multi_host") and report["extra"]["epochs_run"] == 2
    assert (tmp_path / "out0" / "model.keras").exists() and (tmp_path / "out0" / "training_log.csv").exists()
    leftover = [p for p in (tmp_path / "out1").rglob("*") if p.is_file()] if (tmp_path / "out1").exists() else []
    assert not leftover, f"the non-chief wrote {leftover}"
    start0, end0, end1 = (np.load(dump / f"{k}.npy") for k in ("start-rank0", "end-rank0", "end-rank1"))
    np.testing.assert_allclose(np.load(dump / "start-rank1.npy"), start0, rtol=0, atol=0)  # same initial weights
    np.testing.assert_allclose(end0, end1, rtol=1e-5, atol=1e-6)  # different shards, one update: equal weights
    assert np.abs(end0 - start0).max() > 1e-6, "training did not change the weights"
    print(f"{BACKEND} multi_host, 2 processes: {took:.1f} s")


@pytest.mark.skipif(BACKEND != "jax", reason="runs with KERAS_BACKEND=jax")
def test_jax_two_processes(tmp_path):
    (port,) = _free_ports(1)
    common = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}
    logs, dump, took = _launch(tmp_path, [([sys.executable], {**common, "KERAS_DISTRIBUTION_PROCESS_ID": str(r)})
                                          for r in range(2)])
    _check(tmp_path, logs, dump, took, "over 2 processes, 2 devices")


@pytest.mark.skipif(BACKEND != "tensorflow", reason="runs with KERAS_BACKEND=tensorflow")
def test_tensorflow_two_workers(tmp_path):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    per_rank = [([sys.executable], {"TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                                              "task": {"type": "worker", "index": r}})})
                for r in range(2)]
    logs, dump, took = _launch(tmp_path, per_rank)
    _check(tmp_path, logs, dump, took, "over 2 workers, 2 replicas")


@pytest.mark.skipif(BACKEND != "torch", reason="runs with KERAS_BACKEND=torch")
def test_torch_two_nodes(tmp_path):
    (port,) = _free_ports(1)
    per_rank = [([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                  "--node-rank", str(r), "--master-addr", "127.0.0.1", "--master-port", str(port),
                  "--"], {})  # "--": torchrun would read --monitor as its --monitor-interval
                for r in range(2)]
    logs, dump, took = _launch(tmp_path, per_rank)
    _check(tmp_path, logs, dump, took, "over 2 processes (gloo)")


def test_rank_and_auto_strategy_from_the_environment(monkeypatch):
    from keras_ecg.errors import RunError
    from keras_ecg.training import resolve_strategy
    from keras_ecg.training.multi_host import multi_host_env, process_rank

    for key in ("RANK", "WORLD_SIZE", "TF_CONFIG", "KERAS_DISTRIBUTION_PROCESS_ID", "KERAS_DISTRIBUTION_NUM_PROCESSES"):
        monkeypatch.delenv(key, raising=False)
    assert process_rank() == 0 and not multi_host_env("jax") and not multi_host_env("tensorflow")
    assert resolve_strategy("auto", "jax", lambda: 0) == "none"
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]},
                                                "task": {"type": "worker", "index": 1}}))
    assert process_rank() == 2 and multi_host_env("tensorflow")
    assert resolve_strategy("auto", "tensorflow", lambda: pytest.fail("devices counted")) == "multi_host"
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(RunError, match="TF_CONFIG: not valid JSON"):
        process_rank()
    monkeypatch.delenv("TF_CONFIG")
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "4")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "3")
    assert process_rank() == 3 and resolve_strategy("auto", "jax", 0) == "multi_host"
    assert resolve_strategy("data_parallel", "jax", 0) == "data_parallel"  # an explicit choice stays
