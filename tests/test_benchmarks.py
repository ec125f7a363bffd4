"""The benchmark harness in its tiny mode: one model on this backend, the record's fields;
the FLOP counter against hand counts; the memory column against the child's ru_maxrss."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "backends.py"
BACKEND = keras.backend.backend()
REQUIRED = ("device", "backend", "model", "train_samples_per_s", "train_samples_per_s_spread",
            "first_step_s", "predict_p50_ms", "predict_p99_ms", "predict_samples_per_s",
            "onnx_p50_ms", "peak_rss_mb", "date", "versions", "load_avg_before", "load_avg_after", "cpu", "cpus",
            "rss_after_import_mb", "peak_train_rss_mb", "gpu_peak_mb", "accelerator", "framework_matmul_gflops")
POSITIVE = ("train_samples_per_s", "first_step_s", "predict_p50_ms", "predict_p99_ms",
            "predict_samples_per_s", "peak_rss_mb", "rss_after_import_mb", "peak_train_rss_mb", "cpus",
            "framework_matmul_gflops")
pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="benchmarks/ not in this checkout")


def _env():
    return dict(os.environ, PYTHONWARNINGS="ignore", TF_CPP_MIN_LOG_LEVEL="2")


def test_harness_writes_a_complete_record(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--backends", BACKEND, "--models", "cnn1d",
         "--repeats", "2", "--no-onnx", "--no-merge", "--out", str(out),
         # the FLOP count runs torch whatever the backend: once, on the torch pass (about 7 s a pass)
         *([] if BACKEND == "torch" else ["--no-flops"])],
        env=_env(), capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    records = json.loads(out.read_text())
    machine = [x for x in records if x["backend"] == "machine"]
    runs = [x for x in records if x["backend"] == BACKEND]
    assert len(machine) == 1 and len(runs) == 1
    roof, rec = machine[0], runs[0]
    assert roof["roof_gflops"] > 0 and roof["cpu"] and roof["load_avg_start"] is not None
    assert not rec.get("error"), rec.get("error")
    for k in REQUIRED:
        assert k in rec, k
    assert rec["model"] == "cnn1d" and rec["cpu"] == roof["cpu"]
    for k in POSITIVE:
        assert isinstance(rec[k], (int, float)) and rec[k] > 0, (k, rec[k])
    assert rec["peak_rss_mb"] >= rec["peak_train_rss_mb"] >= rec["rss_after_import_mb"]
    assert rec["predict_p99_ms"] >= rec["predict_p50_ms"] and len(rec["train_repeats"]) >= 2  # 3 for slow steps
    if rec["accelerator"] == "cpu":
        assert rec["gpu_peak_mb"] is None
    assert bool(rec.get("flops_per_train_sample")) == (BACKEND == "torch"), rec.get("flops_per_train_sample")
    if BACKEND != "torch":  # no FLOP count, so no share of the roof
        assert rec.get("roof_gflops") is None and rec.get("pct_of_roof") is None
    else:
        if rec["accelerator"] == "cpu":
            assert rec["roof_gflops"] == roof["roof_gflops"]
        assert rec["flops_per_train_sample"] > rec["flops_per_predict_sample"] > 0
        # the record rounds to 2 decimals: on a slow (shared) CPU 0.28 stands for 0.2768
        assert rec["train_gflops"] == pytest.approx(rec["train_samples_per_s"] * rec["flops_per_train_sample"] / 1e9,
                                                    rel=0.01, abs=0.006)
        assert rec["pct_of_roof"] == pytest.approx(100 * rec["train_gflops"] / rec["roof_gflops"], rel=0.01, abs=0.06)
    md = out.with_suffix(".md").read_text()
    assert md.count(f"| {BACKEND} | cnn1d |") == 1 and "roof of this machine" in md
    assert out.with_suffix(".png").stat().st_size > 0


@pytest.mark.skipif(BACKEND != "torch", reason="FLOPs are counted on the torch backend")
def test_flop_counter_matches_hand_counts():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from harness import flops

    from keras_ecg.layers import FusedLSTM

    n = 4
    inp = keras.Input((16, 1))
    h = keras.layers.Conv1D(4, 3, padding="same", use_bias=False)(inp)
    out = keras.layers.Dense(3)(keras.layers.Flatten()(h))
    conv = keras.Model(inp, out)
    conv.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = np.random.rand(n, 16, 1).astype("float32"), np.arange(n) % 3
    got = flops.count_model(conv, x, y)
    mac_conv, mac_dense = 16 * 4 * 3, 64 * 3  # multiply-adds per sample
    assert got["flops_per_predict_sample"] == 2 * (mac_conv + mac_dense)
    # backward: the conv's weight gradient only (its input needs none), the dense layer's weight and input
    assert got["flops_per_train_sample"] == 2 * (mac_conv + mac_dense) + 2 * mac_conv + 4 * mac_dense
    inp = keras.Input((5, 2))
    rnn = keras.Model(inp, keras.layers.Dense(2)(FusedLSTM(3)(inp)))
    rnn.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    got = flops.count_model(rnn, np.random.rand(n, 5, 2).astype("float32"), np.arange(n) % 2)
    assert got["flops_per_predict_sample"] == 2 * 5 * (2 + 3) * 4 * 3 + 2 * 3 * 2  # T (F + U) 4U, dense
    assert got["flops_per_train_sample"] > 2 * got["flops_per_predict_sample"]


@pytest.mark.skipif(BACKEND != "torch", reason="the memory column is checked once, on the torch backend (the "
                    "harness measures every backend alike: the child's ru_maxrss)")
def test_memory_column_agrees_with_the_childs_maxrss(tmp_path):
    out = tmp_path / "mem.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "memory_check.py"), "--quick",
                           "--pairs", f"{BACKEND}:cnn1d", "--out", str(out)],
                          env=_env(), capture_output=True, text=True, timeout=300, cwd=ROOT)
    rows = json.loads(out.read_text())
    assert len(rows) == 1 and not rows[0].get("error"), proc.stdout[-1500:] + proc.stderr[-1500:]
    row = rows[0]
    assert 0.9 <= row["wait4_ratio"] <= 1.1, row
    if "time_v_ratio" in row:  # /usr/bin/time installed
        assert 0.9 <= row["time_v_ratio"] <= 1.1, row
    assert row["within_10pct"] and proc.returncode == 0
    assert row["activations"]["total_mb"] > 0


def test_cpu_reference_prints_one_line_of_positive_rates():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cpu_reference.py")], env=_env(),
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.strip()
    assert len(out.splitlines()) == 1 and out.startswith("CPU reference: ")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import cpu_reference

    m = cpu_reference.measure()
    assert m["matmul_gflops"] > 0 and m["python_mloops_per_s"] > 0 and m["cores"] >= 1
    assert m["steal_pct"] is None or 0 <= m["steal_pct"] <= 100
