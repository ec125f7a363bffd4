"""Smoke test of the benchmark harness: one tiny model, one backend, minimal repeats."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "backends.py"
REQUIRED = ("device", "backend", "model", "train_samples_per_s", "train_samples_per_s_spread",
            "first_step_s", "predict_p50_ms", "predict_p99_ms", "predict_samples_per_s",
            "onnx_p50_ms", "peak_rss_mb", "date", "versions", "load_avg_before")
POSITIVE = ("train_samples_per_s", "first_step_s", "predict_p50_ms", "predict_p99_ms",
            "predict_samples_per_s", "peak_rss_mb")


@pytest.mark.skipif(not SCRIPT.exists(), reason="benchmarks/ not in this checkout")
def test_harness_writes_a_complete_record(tmp_path):
    pytest.importorskip("jax")
    out = tmp_path / "bench.json"
    env = dict(os.environ, PYTHONWARNINGS="ignore", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--backends", "jax", "--models", "cnn1d",
         "--repeats", "2", "--no-onnx", "--no-merge", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    records = json.loads(out.read_text())
    assert isinstance(records, list) and len(records) == 1
    rec = records[0]
    assert not rec.get("error"), rec.get("error")
    for k in REQUIRED:
        assert k in rec, k
    assert rec["backend"] == "jax" and rec["model"] == "cnn1d"
    for k in POSITIVE:
        assert isinstance(rec[k], (int, float)) and rec[k] > 0, (k, rec[k])
    assert rec["train_samples_per_s_spread"] >= 0
    assert rec["predict_p99_ms"] >= rec["predict_p50_ms"]
    assert len(rec["train_repeats"]) == 2
    assert out.with_suffix(".md").read_text().count("| jax | cnn1d |") == 1
    assert out.with_suffix(".png").stat().st_size > 0
