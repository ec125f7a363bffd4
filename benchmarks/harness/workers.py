"""One worker process per (backend, model): what it runs, and the parent that spawns them.

The parent runs ``python benchmarks/backends.py --worker --backend B --models M``
with ``KERAS_BACKEND=B`` for each job and collects the JSON lines the worker
prints (prefixed with :data:`settings.TAG`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from .measure import (cpu_model, device_name, latency, load_avg, make_data, measure_onnx, peak_rss_mb, r,
                      threads_info, throughput, timed_repeats, versions)
from .settings import (BENCHMARKS, KERAS_BACKENDS, MODEL_SETTINGS, NUM_CLASSES, ONE_THREAD_MODELS, REFERENCES,
                       REQUIRED_KEYS, SCRIPT, TAG, WAVEFORM, base_backend, input_shape)


def emit(rec):
    print(TAG + json.dumps(rec), flush=True)


def bench_keras_model(name, cfg):
    import keras

    import keras_ecg

    shape = input_shape(name)
    overrides = MODEL_SETTINGS.get(name, {}).get("overrides", {})
    n = max(cfg.batch * 4, cfg.predict_batch if shape == WAVEFORM else 0)
    x, y = make_data(shape, n)
    batches = [(x[i:i + cfg.batch], y[i:i + cfg.batch]) for i in range(0, n - cfg.batch + 1, cfg.batch)]

    t0 = time.perf_counter()
    model = keras_ecg.build(name, shape, NUM_CLASSES, **overrides)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.train_on_batch(*batches[0])
    first = time.perf_counter() - t0

    def step(i):
        model.train_on_batch(*batches[i % len(batches)])

    tr = timed_repeats(step, cfg.batch, cfg.repeats, cfg.repeat_seconds, cfg.warmup)
    lat = latency(model.predict_on_batch, x[:1], cfg.latency_seconds)
    xb = np.resize(x, (cfg.predict_batch,) + x.shape[1:])
    thr = throughput(model.predict_on_batch, xb, cfg.predict_repeats)
    rec = {
        "model": name, "input_shape": list(shape), "overrides": {k: list(v) if isinstance(v, tuple) else v
                                                                 for k, v in overrides.items()},
        "params": int(model.count_params()), "batch": cfg.batch,
        "train_samples_per_s": r(tr["median"], 1), "train_samples_per_s_spread": r(tr["spread"]),
        "train_repeats": [r(v, 1) for v in tr["rates"]], "train_steps_per_repeat": tr["steps_per_repeat"],
        "first_step_s": r(first), "predict_p50_ms": r(lat["p50"]), "predict_p99_ms": r(lat["p99"]),
        "predict_calls": lat["calls"], "predict_samples_per_s": r(thr, 1), "predict_batch": cfg.predict_batch,
    }
    if cfg.onnx:
        rec.update(measure_onnx(model, x, cfg))
    else:
        rec.update({"onnx_p50_ms": None, "onnx_p99_ms": None, "onnx_samples_per_s": None,
                    "onnx_error": "skipped (--no-onnx)"})
    return rec


def bench_reference(backend, cfg):
    import reference_models

    x, y = make_data(WAVEFORM, max(cfg.batch * 4, cfg.predict_batch))
    batches = [(x[i:i + cfg.batch], y[i:i + cfg.batch]) for i in range(0, len(x) - cfg.batch + 1, cfg.batch)]
    t0 = time.perf_counter()
    trainer = reference_models.TRAINERS[backend]()
    trainer.train_step(*batches[0])
    first = time.perf_counter() - t0
    tr = timed_repeats(lambda i: trainer.train_step(*batches[i % len(batches)]), cfg.batch, cfg.repeats,
                       cfg.repeat_seconds, cfg.warmup)
    lat = latency(trainer.predict, x[:1], cfg.latency_seconds)
    xb = np.resize(x, (cfg.predict_batch,) + x.shape[1:])
    thr = throughput(trainer.predict, xb, cfg.predict_repeats)
    return {
        "model": "cnn_lstm", "input_shape": list(WAVEFORM), "batch": cfg.batch,
        "implementation": "benchmarks/reference_models.py " + ("TorchTrainer (nn.LSTM)" if backend == "plain_pytorch"
                                                              else "TFTrainer (tf.scan LSTM in tf.function, no XLA)"),
        "train_samples_per_s": r(tr["median"], 1), "train_samples_per_s_spread": r(tr["spread"]),
        "train_repeats": [r(v, 1) for v in tr["rates"]], "train_steps_per_repeat": tr["steps_per_repeat"],
        "first_step_s": r(first), "predict_p50_ms": r(lat["p50"]), "predict_p99_ms": r(lat["p99"]),
        "predict_calls": lat["calls"], "predict_samples_per_s": r(thr, 1), "predict_batch": cfg.predict_batch,
        "onnx_p50_ms": None, "onnx_p99_ms": None, "onnx_samples_per_s": None,
        "onnx_error": "not applicable (reference implementation, not exported)",
    }


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


def worker(cfg):
    backend = base_backend(cfg.backend)
    sys.path.insert(0, str(BENCHMARKS))  # reference_models.py
    if backend in KERAS_BACKENDS or backend in ("pipeline", "lstm_probe"):
        os.environ["KERAS_BACKEND"] = {"pipeline": "tensorflow", "lstm_probe": "torch"}.get(backend, backend)
        t0 = time.perf_counter()
        import keras  # noqa: F401 - import time kept out of first_step_s
        import_s = time.perf_counter() - t0
    else:
        t0 = time.perf_counter()
        __import__("torch" if backend == "plain_pytorch" else "tensorflow")
        import_s = time.perf_counter() - t0
    if cfg.backend.endswith("@1thread"):
        import torch

        torch.set_num_threads(1)
    common = {"device": device_name(), "backend": cfg.backend, "date": cfg.date, "cpu": cpu_model(),
              "cpus": os.cpu_count(), "gpu": None, "import_s": r(import_s)}
    if backend == "pipeline":
        todo = [lambda: bench_pipeline(cfg)]
    elif backend == "lstm_probe":
        todo = [lambda: bench_lstm_probe(cfg)]
    elif backend in REFERENCES:
        todo = [lambda: bench_reference(backend, cfg)]
    else:
        todo = [lambda m=m: bench_keras_model(m, cfg) for m in cfg.models]
    names = [backend] if backend in ("pipeline", "lstm_probe") else ["cnn_lstm"] if backend in REFERENCES else cfg.models
    for name, job in zip(names, todo):
        la0 = load_avg()
        t0 = time.perf_counter()
        try:
            recs = job()
            recs = recs if isinstance(recs, list) else [recs]
        except Exception as e:  # noqa: BLE001 - one failing model must not lose the others
            recs = [{"model": name, "error": f"{type(e).__name__}: {e}"[:500]}]
        for rec in recs:
            rec = {**common, **rec, "peak_rss_mb": peak_rss_mb(), "wall_s": r(time.perf_counter() - t0, 2),
                   "load_avg_before": la0, "load_avg_after": load_avg(), "versions": versions(),
                   **threads_info(backend)}
            for k in REQUIRED_KEYS:
                rec.setdefault(k, None)
            emit(rec)


def run_workers(cfg):
    records = []
    jobs = []
    for b in cfg.backends:
        if base_backend(b) in KERAS_BACKENDS:
            ms = [m for m in cfg.models if m in ONE_THREAD_MODELS] if "@" in b else cfg.models
            if not ms:
                continue
            groups = [ms] if cfg.shared_process else [[m] for m in ms]
            jobs += [(b, g) for g in groups]
        else:
            jobs.append((b, []))
    for b, models in jobs:
        cmd = [sys.executable, str(SCRIPT), "--worker", "--backend", b,
               "--repeats", str(cfg.repeats), "--repeat-seconds", str(cfg.repeat_seconds),
               "--warmup", str(cfg.warmup), "--batch", str(cfg.batch), "--predict-batch", str(cfg.predict_batch),
               "--predict-repeats", str(cfg.predict_repeats), "--latency-seconds", str(cfg.latency_seconds),
               "--pipeline-per-class", str(cfg.pipeline_per_class), "--date", cfg.date]
        if models:
            cmd += ["--models", ",".join(models)]
        if not cfg.onnx:
            cmd.append("--no-onnx")
        env = dict(os.environ, KERAS_BACKEND=base_backend(b) if base_backend(b) in KERAS_BACKENDS else
                   "torch" if b == "lstm_probe" else "tensorflow",
                   TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=cfg.worker_timeout)
        got = [json.loads(line[len(TAG):]) for line in proc.stdout.splitlines() if line.startswith(TAG)]
        if proc.returncode != 0 or not got:
            tail = (proc.stderr or "").strip().splitlines()[-3:]
            for m in models or ["?"]:
                if not any(g.get("model") == m for g in got):
                    got.append({"device": device_name(), "backend": b, "model": m, "date": cfg.date,
                                "error": f"worker exit {proc.returncode}: {' | '.join(tail)}"[:500],
                                **{k: None for k in REQUIRED_KEYS if k not in ("device", "backend", "model")}})
        for g in got:
            print(f"[{time.perf_counter() - cfg.t_start:6.1f}s] {b:17s} {g.get('model', '?'):14s} "
                  f"train {g.get('train_samples_per_s')} /s  first {g.get('first_step_s')} s  "
                  f"p50 {g.get('predict_p50_ms')} ms  onnx {g.get('onnx_p50_ms')} ms  "
                  f"pipe {g.get('pipeline_samples_per_s')}  rss {g.get('peak_rss_mb')} MB"
                  + (f"  ERROR {g['error'][:160]}" if g.get("error") else "")
                  + (f"  onnx_error {g['onnx_error'][:100]}" if g.get("onnx_error") else ""), flush=True)
        records += got
    return records
