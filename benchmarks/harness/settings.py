"""What the benchmark measures: backends, models, their inputs and the record keys."""

from __future__ import annotations

import pathlib

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = BENCHMARKS / "backends.py"  # the entry point; workers are this script with --worker
RESULTS = BENCHMARKS / "results"
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
REFERENCES = ("plain_pytorch", "plain_tensorflow")
# Torch-based runs again with torch.set_num_threads(1) (OpenMP spin-waiting makes
# 2 threads pathological on a contended 2-core machine; see the notes).
ONE_THREAD = ("torch@1thread", "plain_pytorch@1thread")
ALL_BACKENDS = KERAS_BACKENDS + REFERENCES + ("pipeline",) + ONE_THREAD + ("lstm_probe",)
KERAS_VARIANTS = KERAS_BACKENDS + ("torch@1thread",)
REFERENCE_VARIANTS = REFERENCES + ("plain_pytorch@1thread",)
ONE_THREAD_MODELS = ("cnn_lstm", "bilstm")  # the 1-thread torch rerun covers these only
DEFAULT_MODELS = ("cnn1d", "cnn_lstm", "bilstm", "resnet1d", "attention_vgg", "td_cnn")
RECURRENT_MODELS = ("cnn_lstm", "bilstm", "td_cnn", "lstm", "gru", "cnn_bilstm", "attention_lstm",
                    "cnn_attention_lstm")
NUM_CLASSES = 5
WAVEFORM = (187, 1)
# Model-specific settings (input shape, builder overrides).
MODEL_SETTINGS = {
    "attention_vgg": {"input_shape": (64, 64, 1),
                      "overrides": {"filters": (16, 32, 64), "convs_per_block": 1, "attend_blocks": (0, 1)}},
    "td_cnn": {"input_shape": (13, 32, 32, 1), "overrides": {}},
}
TAG = "BENCH_JSON "
REQUIRED_KEYS = ("device", "backend", "model", "train_samples_per_s", "train_samples_per_s_spread",
                 "first_step_s", "predict_p50_ms", "predict_p99_ms", "predict_samples_per_s",
                 "onnx_p50_ms", "peak_rss_mb")


def base_backend(backend):
    return backend.split("@")[0]


def input_shape(model: str):
    return tuple(MODEL_SETTINGS.get(model, {}).get("input_shape", WAVEFORM))
