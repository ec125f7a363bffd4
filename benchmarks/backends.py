"""Training and inference speed of keras_ecg models on each Keras backend,
against plain PyTorch / plain TensorFlow CNN-LSTMs and the input pipeline.

    python benchmarks/backends.py                       # full run, all backends
    python benchmarks/backends.py --quick               # tiny settings (smoke)
    python benchmarks/backends.py --backends jax,torch --models cnn1d,cnn_lstm

The parent spawns one worker process per (backend, model) --
``python benchmarks/backends.py --worker --backend B --models M`` with
``KERAS_BACKEND=B`` -- so every model starts cold in a fresh process (first
step and peak RSS are then the model's own), and collects the JSON lines they
print. ``--shared-process`` runs all models of a backend in one worker instead
(faster; RSS and first step are then cumulative / warm).

Per (backend, model), on synthetic data, 5 classes:

* ``first_step_s``: ``keras_ecg.build`` + ``compile`` + the first
  ``train_on_batch`` (tracing/compilation included), keras already imported.
* ``train_samples_per_s``: after the first step and warm-up steps,
  ``--repeats`` timed runs of ``train_on_batch`` on batches of ``--batch``
  (each run ~``--repeat-seconds`` s, at least one step); median, and spread =
  (max - min) / median of the repeats.
* ``predict_p50_ms`` / ``predict_p99_ms``: ``predict_on_batch`` at batch 1
  (compiled predict function, warm); ``predict_samples_per_s`` at batch 1024.
* ``onnx_*``: the same in onnxruntime (CPU provider) for the model exported by
  ``keras_ecg.export(formats=("onnx",), fallback=False)`` on that backend (the
  backend's own exporter; no TensorFlow fallback so each backend's exporter is
  what is measured). A failed export gives nulls and ``onnx_error``.
* ``peak_rss_mb``: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the worker.

The references (``plain_pytorch``, ``plain_tensorflow``; see
reference_models.py) are measured the same way (no ONNX). The ``pipeline``
worker times ``to_tf_dataset`` and ``to_pydataset`` (batch 256) over one epoch
of synthetic beats.

Writes benchmarks/results/<device>.json (a list of records; records of other
runs, e.g. ``whole_record`` from record_speed.py, are kept), <device>.md and
<device>.png.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "results"
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


# ----------------------------------------------------------------------------- helpers


def device_name() -> str:
    """``cpu-<n>core`` (the accelerators are not used here)."""
    return f"cpu-{os.cpu_count()}core"


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # kB on Linux


def load_avg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def input_shape(model: str):
    return tuple(MODEL_SETTINGS.get(model, {}).get("input_shape", WAVEFORM))


def make_data(shape, n: int, seed: int = 0):
    """Synthetic beats for waveform models, random arrays for images/panels."""
    if tuple(shape) == WAVEFORM:
        from keras_ecg.data import synthetic

        ds = synthetic.beats(n_per_class=max(1, -(-n // NUM_CLASSES)), seed=seed)
        x = np.asarray(ds.inputs[0], np.float32)[:n, :, None]
        y = np.asarray(ds.y, np.int32)[:n]
    else:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n,) + tuple(shape)).astype(np.float32)
        y = rng.integers(0, NUM_CLASSES, n).astype(np.int32)
    return x, y


def timed_repeats(step, batch: int, repeats: int, seconds: float, warmup: int):
    """Samples/s of ``step(i)`` (one batch each): median and spread over repeats."""
    for i in range(warmup):
        step(i)
    t0 = time.perf_counter()
    step(warmup)
    per_step = max(time.perf_counter() - t0, 1e-6)
    n_steps = max(1, min(200, int(round(seconds / per_step))))
    if n_steps == 1 and per_step > seconds:  # slow steps: keep the whole measurement near repeats*seconds
        repeats = max(3, min(repeats, int(repeats * seconds * 1.5 / per_step)))
    rates, k = [], warmup + 1
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n_steps):
            step(k)
            k += 1
        rates.append(n_steps * batch / (time.perf_counter() - t0))
    med = statistics.median(rates)
    return {"median": med, "spread": (max(rates) - min(rates)) / med, "rates": rates,
            "steps_per_repeat": n_steps}


def latency(fn, x1, seconds: float, max_calls: int = 1000, min_calls: int = 20):
    """p50/p99 (ms) of ``fn(x1)``, time-capped."""
    for _ in range(3):
        fn(x1)
    times, t_end = [], time.perf_counter() + seconds
    while len(times) < max_calls and (len(times) < min_calls or time.perf_counter() < t_end):
        t0 = time.perf_counter()
        fn(x1)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99)), "calls": len(times)}


def throughput(fn, xb, repeats: int):
    fn(xb)
    rates = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn(xb)
        rates.append(len(xb) / (time.perf_counter() - t0))
    return statistics.median(rates)


def r(v, nd=3):
    return None if v is None else round(float(v), nd)


def emit(rec):
    print(TAG + json.dumps(rec), flush=True)


def versions():
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("keras", "tensorflow", "jax", "torch", "onnxruntime", "tf2onnx", "jax2onnx"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", "?")
    return out


def threads_info(backend):
    info = {}
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    return info


# ----------------------------------------------------------------------------- ONNX


def onnx_session(path):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


def measure_onnx(model, x, cfg):
    """Export with keras_ecg.export (the backend's own exporter) and time onnxruntime."""
    out = {"onnx_p50_ms": None, "onnx_p99_ms": None, "onnx_samples_per_s": None,
           "onnx_export_s": None, "onnx_error": None}
    try:
        from keras_ecg.export import export
    except Exception as e:  # noqa: BLE001 - export module missing/in progress
        out["onnx_error"] = f"keras_ecg.export import failed: {type(e).__name__}: {e}"[:300]
        return out
    with tempfile.TemporaryDirectory(prefix="keras_ecg_bench_onnx_") as tmp:
        t0 = time.perf_counter()
        try:
            card = export(model, tmp, formats=("onnx",), sample_inputs=x[:4], fallback=False)
            path = card["paths"]["onnx"]
        except Exception as e:  # noqa: BLE001 - record any failure
            out["onnx_error"] = f"{type(e).__name__}: {e}"[:300]
            return out
        out["onnx_export_s"] = r(time.perf_counter() - t0, 2)
        out["onnx_export_path"] = card["export"]["formats"]["onnx"].get("path")
        fn = onnx_session(path)
        lat = latency(fn, x[:1], cfg.latency_seconds)
        out["onnx_p50_ms"], out["onnx_p99_ms"] = r(lat["p50"]), r(lat["p99"])
        xb = np.resize(x, (cfg.predict_batch,) + x.shape[1:])
        out["onnx_samples_per_s"] = r(throughput(fn, xb, cfg.predict_repeats), 1)
    return out


# ----------------------------------------------------------------------------- workers


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


def base_backend(backend):
    return backend.split("@")[0]


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
    sys.path.insert(0, str(HERE))
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


# ----------------------------------------------------------------------------- parent


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
        cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", "--backend", b,
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
        t0 = time.perf_counter()
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
        _ = t0
    return records


def merge(out: pathlib.Path, new: list) -> list:
    """Replace records of the same (backend, model) in ``out``; keep the others."""
    old = []
    if out.exists():
        try:
            old = json.loads(out.read_text())
        except ValueError:
            old = []
    keys = {(n.get("backend"), n.get("model")) for n in new}
    return [o for o in old if (o.get("backend"), o.get("model")) not in keys] + new


def write_json(out: pathlib.Path, records: list):
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(records, indent=1) + "\n")
    os.replace(tmp, out)


def fmt(v, nd=1):
    if v is None:
        return "—"
    if isinstance(v, float) and abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}" if isinstance(v, (int, float)) else str(v)


def summarize(records: list) -> dict:
    """Ratios and target checks from the records."""
    def get(backend, model):
        for rec in records:
            if rec.get("backend") == backend and rec.get("model") == model and not rec.get("error"):
                return rec
        return None

    s = {"ratios": {}, "targets": {}}
    # plain PyTorch: the faster of its default-thread and 1-thread runs (the conservative comparison)
    pts = [p for p in (get("plain_pytorch", "cnn_lstm"), get("plain_pytorch@1thread", "cnn_lstm"))
           if p and p.get("train_samples_per_s")]
    pt = max(pts, key=lambda p: p["train_samples_per_s"]) if pts else None
    ptf = get("plain_tensorflow", "cnn_lstm")
    s["plain_pytorch_used"] = pt["backend"] if pt else None
    for b in KERAS_VARIANTS:
        rec = get(b, "cnn_lstm")
        if rec and rec.get("train_samples_per_s"):
            s["ratios"][b] = {
                "vs_plain_pytorch": r(rec["train_samples_per_s"] / pt["train_samples_per_s"], 2) if pt else None,
                "vs_plain_tensorflow": r(rec["train_samples_per_s"] / ptf["train_samples_per_s"], 2) if ptf else None,
            }
    lstm = {b: get(b, "cnn_lstm") for b in KERAS_VARIANTS}
    lstm = {b: v for b, v in lstm.items() if v and v.get("train_samples_per_s")}
    if lstm and pt:
        best = max(lstm, key=lambda b: lstm[b]["train_samples_per_s"])
        ratio = lstm[best]["train_samples_per_s"] / pt["train_samples_per_s"]
        s["targets"]["fastest_cnn_lstm_5x_plain_pytorch"] = {
            "fastest_backend": best, "samples_per_s": lstm[best]["train_samples_per_s"],
            "plain_pytorch_samples_per_s": pt["train_samples_per_s"], "plain_pytorch_run": pt["backend"], "ratio": r(ratio, 2), "met": ratio >= 5}
    if pt:
        slower = []
        for rec in records:
            if (rec.get("backend") in KERAS_VARIANTS and rec.get("model") in RECURRENT_MODELS
                    and rec.get("train_samples_per_s") and rec["train_samples_per_s"] < pt["train_samples_per_s"]):
                slower.append({"backend": rec["backend"], "model": rec["model"],
                               "samples_per_s": rec["train_samples_per_s"],
                               "ratio_to_plain_pytorch_cnn_lstm": r(rec["train_samples_per_s"] / pt["train_samples_per_s"], 3)})
        s["targets"]["no_keras_backend_slower_than_plain_pytorch_on_recurrent"] = {
            "plain_pytorch_cnn_lstm_samples_per_s": pt["train_samples_per_s"], "plain_pytorch_run": pt["backend"],
            "slower": slower,
            "met": not slower}
    pipes = [rec for rec in records if rec.get("backend") == "pipeline" and rec.get("pipeline_samples_per_s")]
    trains = [rec for rec in records if rec.get("backend") in KERAS_VARIANTS and rec.get("train_samples_per_s")
              and tuple(rec.get("input_shape") or ()) == WAVEFORM]
    if pipes and trains:
        fastest = max(trains, key=lambda t: t["train_samples_per_s"])
        s["targets"]["pipeline_10x_fastest_training"] = {
            "fastest_training": f"{fastest['backend']}/{fastest['model']}",
            "fastest_training_samples_per_s": fastest["train_samples_per_s"],
            **{p["model"]: {"samples_per_s": p["pipeline_samples_per_s"],
                            "ratio": r(p["pipeline_samples_per_s"] / fastest["train_samples_per_s"], 1),
                            "met": p["pipeline_samples_per_s"] >= 10 * fastest["train_samples_per_s"]}
               for p in pipes}}
    wr = [rec for rec in records if rec.get("model") == "whole_record" and rec.get("total_best_s")]
    if wr:
        best = min(wr, key=lambda t: t["total_best_s"])
        s["targets"]["whole_record_under_1s"] = {"backend": best["backend"], "runtime": best.get("best_runtime"),
                                                 "total_s": best["total_best_s"], "met": best["total_best_s"] < 1.0}
    return s


def write_markdown(out: pathlib.Path, records: list, notes: list):
    s = summarize(records)
    dev = records[0].get("device") if records else device_name()
    lines = [f"# keras_ecg benchmarks: {dev}", ""]
    meta = next((x for x in records if x.get("backend") in KERAS_BACKENDS and x.get("versions")),
                records[0] if records else {})
    lines += [f"- CPU: {meta.get('cpu')} ({meta.get('cpus')} cores), no GPU.",
              f"- Run date: {meta.get('date')}; versions: "
              + ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items())]
    loads = [x.get("load_avg_before") for x in records if x.get("load_avg_before")] + [
        x.get("load_avg_after") for x in records if x.get("load_avg_after")]
    if loads:
        one = [v[0] for v in loads]
        lines.append(f"- 1-minute load average during the run: min {min(one):.2f}, "
                     f"median {statistics.median(one):.2f}, max {max(one):.2f} (2 cores).")
    lines += [f"- {n}" for n in notes]
    lines += ["", "## Training and inference per backend and model", "",
              "train = steady-state `train_on_batch` samples/s (median of repeats, ± spread = (max-min)/median); "
              "first step = build + compile + first train step; predict = `predict_on_batch` "
              "(p50/p99 at batch 1, samples/s at batch 1024); ONNX = onnxruntime CPU on the backend's own "
              "export; RSS = peak RSS of the worker process.", "",
              "| backend | model | params | train samples/s | ± | first step s | p50 ms | p99 ms | "
              "predict samples/s | ONNX p50 ms | ONNX p99 ms | ONNX samples/s | peak RSS MB |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    order = {b: i for i, b in enumerate(ALL_BACKENDS)}
    rows = [x for x in records if x.get("backend") not in ("pipeline", "lstm_probe")
            and x.get("model") != "whole_record"]
    rows.sort(key=lambda x: (DEFAULT_MODELS.index(x["model"]) if x.get("model") in DEFAULT_MODELS else 99,
                             order.get(x.get("backend"), 99)))
    for x in rows:
        onnx = (fmt(x.get("onnx_p50_ms"), 3), fmt(x.get("onnx_p99_ms"), 3), fmt(x.get("onnx_samples_per_s"), 0))
        if x.get("onnx_p50_ms") is None and x.get("onnx_error") and not x.get("onnx_error", "").startswith("not appl"):
            onnx = ("failed*", "—", "—")
        sp = x.get("train_samples_per_s_spread")
        lines.append(
            f"| {x.get('backend')} | {x.get('model')} | {x.get('params', '—')} | {fmt(x.get('train_samples_per_s'), 0)} | "
            f"{'—' if sp is None else f'{100 * sp:.0f}%'} | {fmt(x.get('first_step_s'), 2)} | "
            f"{fmt(x.get('predict_p50_ms'), 2)} | {fmt(x.get('predict_p99_ms'), 2)} | "
            f"{fmt(x.get('predict_samples_per_s'), 0)} | {onnx[0]} | {onnx[1]} | {onnx[2]} | {fmt(x.get('peak_rss_mb'), 0)} |")
    errs = [x for x in rows if x.get("error") or (x.get("onnx_error") and x.get("onnx_p50_ms") is None
                                                  and not x["onnx_error"].startswith(("not appl", "skipped (--")))]
    if errs:
        lines += ["", "\\* failures:", ""]
        for x in errs:
            lines.append(f"- {x['backend']}/{x['model']}: {(x.get('error') or x.get('onnx_error'))[:300]}")
    if s["ratios"]:
        lines += ["", "## CNN-LSTM training: keras_ecg backends vs plain implementations", "",
                  f"Ratios of train samples/s; plain PyTorch = the faster of its runs ({s['plain_pytorch_used']}).", "",
                  "| backend | train samples/s | ÷ plain PyTorch | ÷ plain TensorFlow |", "|---|---:|---:|---:|"]
        for b, v in s["ratios"].items():
            rec = next(x for x in records if x.get("backend") == b and x.get("model") == "cnn_lstm")
            lines.append(f"| {b} | {fmt(rec['train_samples_per_s'], 0)} | {fmt(v['vs_plain_pytorch'], 2)}x | "
                         f"{fmt(v['vs_plain_tensorflow'], 2)}x |")
        for ref in REFERENCE_VARIANTS:
            rec = next((x for x in records if x.get("backend") == ref and x.get("train_samples_per_s")), None)
            if rec:
                lines.append(f"| {ref} | {fmt(rec['train_samples_per_s'], 0)} | | |")
    pipes = [x for x in records if x.get("backend") == "pipeline"]
    if pipes:
        lines += ["", "## Input pipeline (synthetic beats, batch 256, one shuffled epoch)", "",
                  "| pipeline | samples | samples/s | ± | setup s |", "|---|---:|---:|---:|---:|"]
        for x in pipes:
            sp = x.get("pipeline_samples_per_s_spread")
            lines.append(f"| {x['model']} | {x.get('samples')} | {fmt(x.get('pipeline_samples_per_s'), 0)} | "
                         f"{'—' if sp is None else f'{100 * sp:.0f}%'} | {fmt(x.get('pipeline_setup_s'), 3)} |")
    probe = [x for x in records if x.get("backend") == "lstm_probe" and not x.get("error")]
    if probe:
        lines += ["", "## The torch backend's LSTM: the layer alone (input 256 x 46 x 64, as in cnn_lstm)", "",
                  "Keras' torch backend runs LSTM on CPU as a Python loop over time steps "
                  "(`_fallback_lstm`: one input matmul, then per step a matmul and ~8 element-wise ops); "
                  "PyTorch's `nn.LSTM` is one fused `aten::lstm` call.", "",
                  "| torch threads | keras LSTM fwd+bwd ms | nn.LSTM fwd+bwd ms | ratio | "
                  "keras LSTM fwd ms | nn.LSTM fwd ms | ratio |", "|---:|---:|---:|---:|---:|---:|---:|"]
        for x in probe:
            lines.append(f"| {x['torch_threads_used']} | {fmt(x['keras_torch_fwd_bwd_ms'], 2)} | "
                         f"{fmt(x['nn_lstm_fwd_bwd_ms'], 2)} | {fmt(x['fwd_bwd_ratio'], 2)}x | "
                         f"{fmt(x['keras_torch_fwd_ms'], 2)} | {fmt(x['nn_lstm_fwd_ms'], 2)} | {fmt(x['fwd_ratio'], 2)}x |")
    wr = [x for x in records if x.get("model") == "whole_record"]
    if wr:
        lines += ["", "## Whole record: classify every beat of a 30-minute record (record_speed.py)", "",
                  f"Source: {wr[0].get('source')}; {wr[0].get('beats')} beats classified; model cnn_lstm "
                  "(untrained weights: speed only).", "",
                  "| backend | read s | filter s | R peaks s | segment s | Keras classify s | ONNX classify s | "
                  "total Keras s | total ONNX s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for x in wr:
            st = x.get("stages_s", {})
            lines.append(f"| {x['backend']} | {fmt(st.get('read'), 3)} | {fmt(st.get('filter'), 3)} | "
                         f"{fmt(st.get('detect_r_peaks'), 3)} | {fmt(st.get('segment'), 3)} | "
                         f"{fmt(st.get('classify_keras'), 3)} | {fmt(st.get('classify_onnx'), 3)} | "
                         f"{fmt(x.get('total_keras_s'), 3)} | {fmt(x.get('total_onnx_s'), 3)} |")
    if s["targets"]:
        lines += ["", "## Targets", ""]
        t = s["targets"]
        if "fastest_cnn_lstm_5x_plain_pytorch" in t:
            v = t["fastest_cnn_lstm_5x_plain_pytorch"]
            lines.append(f"- Fastest keras_ecg backend trains CNN-LSTM ≥ 5x plain PyTorch: "
                         f"**{'met' if v['met'] else 'NOT met'}** — {v['fastest_backend']} "
                         f"{fmt(v['samples_per_s'], 0)} samples/s vs plain PyTorch "
                         f"{fmt(v['plain_pytorch_samples_per_s'], 0)} ({v['plain_pytorch_run']}, the faster "
                         f"plain PyTorch run) = {v['ratio']}x.")
        if "no_keras_backend_slower_than_plain_pytorch_on_recurrent" in t:
            v = t["no_keras_backend_slower_than_plain_pytorch_on_recurrent"]
            sl = "; ".join(f"{x['backend']}/{x['model']} {fmt(x['samples_per_s'], 0)} "
                           f"({x['ratio_to_plain_pytorch_cnn_lstm']}x)" for x in v["slower"])
            lines.append(f"- No keras_ecg backend slower than plain PyTorch's CNN-LSTM "
                         f"({v['plain_pytorch_run']}, {fmt(v['plain_pytorch_cnn_lstm_samples_per_s'], 0)} samples/s) "
                         "on a recurrent model: "
                         f"**{'met' if v['met'] else 'NOT met'}**" + (f" — slower: {sl}." if sl else "."))
            lines.append("  (td_cnn reads 13 panels of 32x32 per sample and bilstm runs its LSTM over all 187 "
                         "steps in both directions, so their samples/s are not like-for-like with a CNN-LSTM on "
                         "46 steps; listed because the target says any recurrent model.)")
        if "pipeline_10x_fastest_training" in t:
            v = t["pipeline_10x_fastest_training"]
            parts = "; ".join(f"{k} {fmt(w['samples_per_s'], 0)} samples/s = {w['ratio']}x "
                              f"({'met' if w['met'] else 'NOT met'})" for k, w in v.items() if isinstance(w, dict))
            lines.append(f"- Input pipeline ≥ 10x the fastest training rate ({v['fastest_training']}, "
                         f"{fmt(v['fastest_training_samples_per_s'], 0)} samples/s): {parts}.")
        if "whole_record_under_1s" in t:
            v = t["whole_record_under_1s"]
            lines.append(f"- Whole 30-minute record under 1 s with the fastest runtime: "
                         f"**{'met' if v['met'] else 'NOT met'}** — {v['total_s']} s ({v['backend']}, {v['runtime']}).")
    out.write_text("\n".join(lines) + "\n")


def write_chart(out: pathlib.Path, records: list):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in DEFAULT_MODELS if any(x.get("model") == m and x.get("train_samples_per_s")
                                                 for x in records)]
    backs = [b for b in KERAS_VARIANTS + REFERENCE_VARIANTS if any(x.get("backend") == b for x in records)]
    if not models:
        return
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    w = 0.8 / max(1, max(sum(1 for b in backs if any(x.get("backend") == b and x.get("model") == m
                                                      for x in records)) for m in models))
    colors = {"tensorflow": "#ff8f00", "jax": "#1565c0", "torch": "#c62828",
              "plain_pytorch": "#f48fb1", "plain_tensorflow": "#ffcc80", "torch@1thread": "#6d4c41",
              "plain_pytorch@1thread": "#ad1457"}
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
    fig.suptitle(f"keras_ecg on {dev} (CPU only)", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def write_all(out_json: pathlib.Path, records: list, notes=None):
    write_json(out_json, records)
    write_markdown(out_json.with_suffix(".md"), records, notes if notes is not None else default_notes(records))
    write_chart(out_json.with_suffix(".png"), records)


def default_notes(records):
    notes = ["No GPU is lent to this task: every figure is CPU only (the H100/H200 device tool reported "
             "no machine available to this task).",
             "Synthetic data: waveform models get synthetic.beats (187, 1), 5 classes; attention_vgg "
             "(filters 16/32/64, one conv per block, attention on blocks 0 and 1) random 64x64x1; "
             "td_cnn random (13, 32, 32, 1). Training batch 256 (keras_ecg.train's default).",
             "torch@1thread / plain_pytorch@1thread: the same runs with torch.set_num_threads(1). With "
             "the default 2 threads, PyTorch's OpenMP workers spin-wait and collapse when the 2 cores "
             "are shared with other processes; the target checks use the faster plain PyTorch run.",
             "Each keras_ecg (backend, model) ran in its own fresh worker process; first step includes "
             "tracing/XLA compilation; keras import time is excluded (recorded as import_s).",
             "ONNX: keras_ecg.export(formats=('onnx',), fallback=False), i.e. the backend's own exporter "
             "(tf2onnx / jax2onnx / torch.onnx); failures are recorded with their reason instead of "
             "falling back to the TensorFlow subprocess.",
             "plain_tensorflow implements the LSTM by hand (tf.scan inside tf.function, no XLA), since "
             "tf.keras is Keras 3 here."]
    runs = {}
    for x in records:
        runs.setdefault(x.get("date"), []).append(f"{x.get('backend')}/{x.get('model')}")
    if len(runs) > 1:
        parts = []
        for d, names in sorted(runs.items(), key=lambda kv: str(kv[0])):
            la = [x["load_avg_before"][0] for x in records if x.get("date") == d and x.get("load_avg_before")]
            lo = f", load {min(la):.2f}-{max(la):.2f}" if la else ""
            parts.append(f"{d} ({len(names)} records{lo}" + (f": {', '.join(names)})" if len(names) <= 8 else ")"))
        notes.append("Records come from more than one run (each record keeps its own date and load average): "
                     + "; ".join(parts) + ". The cnn_lstm rows were re-measured back to back in one short run "
                     "so that the keras_ecg vs plain comparison is taken under the same load.")
    loads = [x.get("load_avg_before", [0])[0] for x in records if x.get("load_avg_before")]
    if loads:
        notes.append(f"Contention: the 2 cores are shared with other users. The 1-minute load average sampled "
                     f"before each measurement ranged {min(loads):.2f}-{max(loads):.2f} (median "
                     f"{statistics.median(loads):.2f}); the benchmark's own worker accounts for up to ~2 of it, "
                     "the rest is other work, so figures above a load of ~2 are pessimistic and noisier "
                     "than on a quiet machine (see the per-record load_avg_before/after in the JSON).")
    return notes


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default=",".join(ALL_BACKENDS),
                   help=f"comma list of {', '.join(ALL_BACKENDS)}")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--repeat-seconds", type=float, default=0.6, help="length of one timed training run")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=256, help="training batch size (keras_ecg.train default)")
    p.add_argument("--predict-batch", type=int, default=1024)
    p.add_argument("--predict-repeats", type=int, default=3)
    p.add_argument("--latency-seconds", type=float, default=1.0)
    p.add_argument("--pipeline-per-class", type=int, default=2000)
    p.add_argument("--no-onnx", dest="onnx", action="store_false")
    p.add_argument("--shared-process", action="store_true", help="one worker per backend for all models")
    p.add_argument("--quick", action="store_true", help="tiny settings for a smoke run")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/<device>.json)")
    p.add_argument("--no-merge", action="store_true", help="overwrite the JSON instead of merging")
    p.add_argument("--render", action="store_true", help="only rewrite the .md/.png from the JSON")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", default=None, help=argparse.SUPPRESS)
    p.add_argument("--date", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-timeout", type=float, default=600)
    cfg = p.parse_args(argv)
    cfg.backends = [b for b in cfg.backends.split(",") if b]
    cfg.models = [m for m in cfg.models.split(",") if m]
    bad = [b for b in cfg.backends if b not in ALL_BACKENDS]
    if bad:
        p.error(f"unknown backend(s) {bad}; choose from {ALL_BACKENDS}")
    if cfg.quick:
        cfg.repeats, cfg.repeat_seconds, cfg.warmup = min(cfg.repeats, 2), 0.05, 1
        cfg.batch, cfg.predict_batch, cfg.predict_repeats = 16, 64, 1
        cfg.latency_seconds, cfg.pipeline_per_class = 0.05, 100
    cfg.date = cfg.date or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return cfg


def main(argv=None):
    cfg = parse(argv)
    if cfg.worker:
        worker(cfg)
        return 0
    if cfg.render:
        out = pathlib.Path(cfg.out) if cfg.out else RESULTS / f"{device_name()}.json"
        recs = json.loads(out.read_text())
        write_all(out, recs)
        print(json.dumps(summarize(recs)["targets"], indent=1))
        return 0
    cfg.t_start = time.perf_counter()
    print(f"load average {load_avg()} on {os.cpu_count()} cores", flush=True)
    records = run_workers(cfg)
    out = pathlib.Path(cfg.out) if cfg.out else RESULTS / f"{device_name()}.json"
    allrec = records if cfg.no_merge else merge(out, records)
    write_all(out, allrec)
    print(f"wrote {out} (+ .md, .png) in {time.perf_counter() - cfg.t_start:.0f} s")
    s = summarize(allrec)
    print(json.dumps(s["targets"], indent=1))
    return 0 if not any(x.get("error") for x in records) else 1


if __name__ == "__main__":
    sys.exit(main())
