"""The bar chart of training speed and inference latency (matplotlib, Agg)."""

from __future__ import annotations

import pathlib

import numpy as np

from .settings import DEFAULT_MODELS, KERAS_BACKENDS, REFERENCES


def write_chart(out: pathlib.Path, records: list):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in DEFAULT_MODELS if any(x.get("model") == m and x.get("train_samples_per_s")
                                                 for x in records)]
    backs = [b for b in KERAS_BACKENDS + REFERENCES if any(x.get("backend") == b for x in records)]
    if not models:
        return
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    w = 0.8 / max(1, max(sum(1 for b in backs if any(x.get("backend") == b and x.get("model") == m
                                                      for x in records)) for m in models))
    colors = {"tensorflow": "#ff8f00", "jax": "#1565c0", "torch": "#c62828",
              "plain_pytorch": "#f48fb1", "plain_tensorflow": "#ffcc80"}
    for ax, key, title in ((axes[0], "train_samples_per_s", "Training (samples/s, batch 256, higher is better)"),
                           (axes[1], "predict_p50_ms", "Inference latency at batch 1 (p50 ms, lower is better)")):
        labelled = set()
        for i, m in enumerate(models):
            vals = []
            for b in backs:
                rec = next((x for x in records if x.get("backend") == b and x.get("model") == m), None)
                if rec and rec.get(key):
                    vals.append((b, rec[key]))
            for j, (b, v) in enumerate(vals):
                ax.bar(i + (j - (len(vals) - 1) / 2) * w, v, w, color=colors.get(b),
                       label=None if b in labelled else b)
                labelled.add(b)
        if key == "predict_p50_ms":
            onnx = []
            for m in models:
                v = [x["onnx_p50_ms"] for x in records if x.get("model") == m and x.get("onnx_p50_ms")]
                onnx.append(min(v) if v else np.nan)
            ax.plot(np.arange(len(models)), onnx, "k*", markersize=10, label="best ONNX Runtime")
        ax.set_xticks(np.arange(len(models)))
        ax.set_xticklabels(models, rotation=20)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3, which="both")
        ax.legend(fontsize=8)
    dev = records[0].get("device", "")
    cpu = next((x.get("cpu") for x in records if x.get("cpu")), "")
    fig.suptitle(f"keras_ecg on {dev} ({cpu})", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
