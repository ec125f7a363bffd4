"""The side benchmarks: the input pipeline, and the torch LSTM layer alone against ``nn.LSTM``."""

from __future__ import annotations

import statistics
import time

import numpy as np

from .measure import r


def bench_pipeline(cfg):
    from keras_ecg.data import pipeline, synthetic

    t0 = time.perf_counter()
    ds = synthetic.beats(n_per_class=cfg.pipeline_per_class, seed=0)
    gen_s = time.perf_counter() - t0
    n = len(ds)
    out = []
    for name in ("to_tf_dataset", "to_pydataset"):
        t0 = time.perf_counter()
        obj = getattr(pipeline, name)(ds, batch_size=256, shuffle=True, seed=0)
        make_s = time.perf_counter() - t0
        rates = []
        for _ in range(max(1, cfg.repeats)):
            t0 = time.perf_counter()
            if name == "to_tf_dataset":
                count = sum(int(xb.shape[0]) for xb, _ in obj)
            else:
                count = 0
                for i in range(len(obj)):
                    count += len(obj[i][0])
                obj.on_epoch_end()
            rates.append(count / (time.perf_counter() - t0))
        med = statistics.median(rates)
        out.append({
            "model": name, "batch": 256, "samples": n, "epochs": len(rates),
            "pipeline_samples_per_s": r(med, 1), "pipeline_samples_per_s_spread": r((max(rates) - min(rates)) / med),
            "pipeline_repeats": [r(v, 1) for v in rates], "pipeline_setup_s": r(make_s),
            "synthetic_generation_s": r(gen_s),
            "note": ("shuffled epoch of synthetic.beats; tf.data iterated eagerly in Python"
                     if name == "to_tf_dataset" else
                     "shuffled epoch of synthetic.beats; PyDataset indexed batch by batch (workers=1)"),
            "train_samples_per_s": None, "train_samples_per_s_spread": None, "first_step_s": None,
            "predict_p50_ms": None, "predict_p99_ms": None, "predict_samples_per_s": None,
            "onnx_p50_ms": None,
        })
    return out


def bench_lstm_probe(cfg):
    """The LSTM layer alone, forward + backward, keras (torch backend) vs torch's fused nn.LSTM.

    Input (batch, 46, 64): what cnn_lstm's LSTM(64) sees after the conv blocks.
    """
    import keras
    import torch

    out = []
    b, t, f = cfg.batch, 46, 64
    x_np = np.random.default_rng(0).normal(size=(b, t, f)).astype(np.float32)
    for threads in (torch.get_num_threads(), 1):
        torch.set_num_threads(threads)
        k_layer = keras.layers.LSTM(64)
        k_layer.build((None, t, f))
        t_layer = torch.nn.LSTM(f, 64, batch_first=True)

        def k_step():
            x = torch.tensor(x_np, requires_grad=True)
            k_layer(x).sum().backward()

        def t_step():
            x = torch.tensor(x_np, requires_grad=True)
            t_layer(x)[1][0][-1].sum().backward()

        def k_fwd():
            with torch.no_grad():
                k_layer(torch.from_numpy(x_np))

        def t_fwd():
            with torch.inference_mode():
                t_layer(torch.from_numpy(x_np))

        res = {}
        for name, fn in (("keras_torch_fwd_bwd", k_step), ("nn_lstm_fwd_bwd", t_step),
                         ("keras_torch_fwd", k_fwd), ("nn_lstm_fwd", t_fwd)):
            fn()
            times = []
            t_end = time.perf_counter() + cfg.repeat_seconds * 2
            while len(times) < 3 or (time.perf_counter() < t_end and len(times) < 50):
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
            res[name + "_ms"] = r(statistics.median(times))
        out.append({
            "model": f"lstm_layer_{threads}thread", "torch_threads_used": threads,
            "input": [b, t, f], **res,
            "fwd_bwd_ratio": r(res["keras_torch_fwd_bwd_ms"] / res["nn_lstm_fwd_bwd_ms"], 2),
            "fwd_ratio": r(res["keras_torch_fwd_ms"] / res["nn_lstm_fwd_ms"], 2),
            "note": "keras.layers.LSTM(64) on the torch backend (CPU: per-time-step Python loop, "
                    "keras/src/backend/torch/rnn.py _fallback_lstm) vs torch.nn.LSTM (fused aten::lstm)",
            "train_samples_per_s": None, "train_samples_per_s_spread": None, "first_step_s": None,
            "predict_p50_ms": None, "predict_p99_ms": None, "predict_samples_per_s": None, "onnx_p50_ms": None,
        })
    return out
