"""Data-parallel training on CPU, one subprocess per test; only the test of the
suite's backend (``KERAS_BACKEND``) runs:

- JAX: ``keras.distribution.DataParallel`` over 2 host devices (``XLA_FLAGS``);
- TensorFlow: ``tf.distribute.MirroredStrategy`` over 2 logical CPUs;
- torch: 2 processes (``torchrun``, gloo), gradients all-reduced; both ranks must
  end with the same weights (they trained on different shards).
"""

import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
CONFIG = {"name": "dist", "task": "mitbih", "model": "cnn_lstm", "fs": 100, "rr_features": False, "template_beats": 0, "synthetic_n": 16}
ARGS = ["--data", "synthetic", "--epochs", "1", "--batch-size", "16", "--export", "none", "--no-plots",
        "--verbose", "2", "--strategy", "data_parallel",
        "--model-args", json.dumps({"filters": [4], "units": [4], "dense_units": [4], "dropout": 0.0})]

DRIVER = r'''
import json, os, sys
sys.path.insert(0, {root!r})
if os.environ.get("KERAS_BACKEND") == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from keras_ecg.training import runner

class DumpWeights(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        w = np.concatenate([np.ravel(keras.ops.convert_to_numpy(v.value)) for v in self.model.trainable_variables])
        np.save(os.path.join(sys.argv[sys.argv.index("--out") + 1], "weights-rank%s.npy" % os.environ.get("RANK", "0")), w)

runner.main(json.loads(os.environ["KE_CONFIG"]), sys.argv[1:], callbacks=[DumpWeights()])
'''


def _run(tmp_path, backend, launcher, env_extra):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(root=str(ROOT)))
    out = tmp_path / "run"
    env = {**os.environ, "KERAS_BACKEND": backend, "KE_CONFIG": json.dumps(CONFIG), "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": "", **env_extra}
    cmd = [*launcher, str(driver), "--backend", backend, "--out", str(out), *ARGS]
    t0 = time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    took = time.time() - t0
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    return p.stdout + p.stderr, report, out, took


@pytest.mark.skipif(BACKEND != "jax", reason="runs with KERAS_BACKEND=jax")
def test_jax_data_parallel_two_devices(tmp_path):
    log, report, _, took = _run(tmp_path, "jax", [sys.executable],
                                {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert "keras.distribution.DataParallel) over 2 devices" in log
    assert report["extra"]["strategy"].endswith("over 2 devices") and report["extra"]["epochs_run"] == 1
    print(f"jax data-parallel subprocess: {took:.1f} s")


@pytest.mark.skipif(BACKEND != "tensorflow", reason="runs with KERAS_BACKEND=tensorflow")
def test_tensorflow_mirrored_two_logical_cpus(tmp_path):
    log, report, _, took = _run(tmp_path, "tensorflow", [sys.executable], {})
    assert "MirroredStrategy) over 2 replicas" in log
    assert report["extra"]["strategy"].endswith("over 2 replicas") and report["extra"]["epochs_run"] == 1
    print(f"tensorflow mirrored subprocess: {took:.1f} s")


@pytest.mark.skipif(BACKEND != "torch", reason="runs with KERAS_BACKEND=torch")
def test_torch_ddp_two_processes_gloo(tmp_path):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    log, report, out, took = _run(tmp_path, "torch", launcher, {})
    assert "gradient all-reduce) over 2 processes (gloo)" in log
    assert report["extra"]["strategy"].endswith("over 2 processes (gloo)")
    w0, w1 = np.load(out / "weights-rank0.npy"), np.load(out / "weights-rank1.npy")
    # different data shards, averaged gradients: identical weights on both ranks
    np.testing.assert_allclose(w0, w1, rtol=1e-5, atol=1e-6)
    assert report["extra"]["train_items"] > 0 and (out / "training_log.csv").exists()
    print(f"torch DDP (torchrun, 2 processes) subprocess: {took:.1f} s")
