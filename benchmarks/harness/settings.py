"""What the benchmark measures: backends, models, their inputs and the record keys."""

from __future__ import annotations

import pathlib

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = BENCHMARKS / "backends.py"  # the entry point; workers are this script with --worker
RESULTS = BENCHMARKS / "results"
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
REFERENCES = ("plain_pytorch", "plain_tensorflow")
SIDE_JOBS = ("pipeline", "lstm_probe")
ALL_BACKENDS = KERAS_BACKENDS + REFERENCES + SIDE_JOBS  # any may carry variant options: torch@1thread+compile
DEFAULT_BACKENDS = KERAS_BACKENDS + REFERENCES + ("pipeline",)
TORCH_REFERENCE_MODELS = ("cnn_lstm", "cnn1d", "resnet1d")  # reference_models.TORCH_MODELS
TF_REFERENCE_MODELS = ("cnn_lstm",)
SPEED_MODELS = ("cnn_lstm", "cnn1d", "resnet1d")  # keras_ecg backends must train these >= plain PyTorch
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
                 "onnx_p50_ms", "peak_rss_mb", "rss_after_import_mb", "peak_train_rss_mb",
                 "flops_per_train_sample", "train_gflops", "pct_of_roof", "roof_gflops", "cpu", "cpus",
                 "load_avg_before", "load_avg_after", "gpu_peak_mb")


def base_backend(backend):
    return backend.split("@")[0]


def is_keras(backend):
    return base_backend(backend) in KERAS_BACKENDS


def input_shape(model: str):
    return tuple(MODEL_SETTINGS.get(model, {}).get("input_shape", WAVEFORM))
