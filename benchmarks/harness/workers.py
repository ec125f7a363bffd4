"""One worker process per (backend, model): what it runs, and the parent that spawns them.

The parent runs ``python benchmarks/backends.py --worker --backend B --models M``
with ``KERAS_BACKEND=B`` for each job and collects the JSON lines the worker
prints (prefixed with :data:`settings.TAG`). Before the jobs it measures the
machine's matmul roof and counts each model's FLOPs (a ``flops`` job on the
torch backend); after them it measures the roof again and joins the figures
into every training record (``train_gflops``, ``pct_of_roof``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

from . import extras, flops, machine, variants
from .measure import latency, make_data, measure_onnx, r, throughput, timed_repeats, versions
from .settings import (BENCHMARKS, KERAS_BACKENDS, MODEL_SETTINGS, NUM_CLASSES, REFERENCES, REQUIRED_KEYS,
                       SCRIPT, TAG, TF_REFERENCE_MODELS, TORCH_REFERENCE_MODELS, WAVEFORM, base_backend,
                       input_shape)


def emit(rec):
    print(TAG + json.dumps(rec), flush=True)


def build(name):
    import keras_ecg

    return keras_ecg.build(name, input_shape(name), NUM_CLASSES, **MODEL_SETTINGS.get(name, {}).get("overrides", {}))


def batches_of(x, y, batch):
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x) - batch + 1, batch)]


def timed_train(step, sync, batch, cfg):
    """First-step-free training rate plus the RSS high-water mark once training is done."""
    tr = timed_repeats(step, batch, cfg.repeats, cfg.repeat_seconds, cfg.warmup, sync=sync)
    return tr, machine.rss_mb()


def rates_record(tr, train_rss, first, lat, thr, batch, cfg):
    return {
        "batch": batch, "train_samples_per_s": r(tr["median"], 1), "train_samples_per_s_spread": r(tr["spread"]),
        "train_repeats": [r(v, 1) for v in tr["rates"]], "train_steps_per_repeat": tr["steps_per_repeat"],
        "first_step_s": r(first), "predict_p50_ms": r(lat["p50"]), "predict_p99_ms": r(lat["p99"]),
        "predict_calls": lat["calls"], "predict_samples_per_s": r(thr, 1), "predict_batch": cfg.predict_batch,
        "peak_train_rss_mb": train_rss, "peak_rss_mb": machine.rss_mb(),
    }


def bench_keras_model(name, cfg, settings):
    import keras

    backend = keras.backend.backend()
    shape = input_shape(name)
    batch = settings.get("batch") or cfg.batch
    n = max(batch * 4, cfg.predict_batch if shape == WAVEFORM else 0)
    x, y = make_data(shape, n)
    batches = batches_of(x, y, batch)

    t0 = time.perf_counter()
    model = build(name)
    jit = settings.get("jit_compile")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  jit_compile="auto" if jit is None else jit)
    model.train_on_batch(*batches[0])
    first = time.perf_counter() - t0

    def step(i):
        model.train_on_batch(*batches[i % len(batches)])

    tr, train_rss = timed_train(step, lambda: machine.synchronize(backend, model), batch, cfg)
    lat = latency(model.predict_on_batch, x[:1], cfg.latency_seconds)
    xb = np.resize(x, (cfg.predict_batch,) + x.shape[1:])
    thr = throughput(model.predict_on_batch, xb, cfg.predict_repeats)
    rec = {"model": name, "input_shape": list(shape), "params": int(model.count_params()),
           "overrides": {k: list(v) if isinstance(v, tuple) else v
                         for k, v in MODEL_SETTINGS.get(name, {}).get("overrides", {}).items()},
           "jit_compile": bool(model.jit_compile),
           **rates_record(tr, train_rss, first, lat, thr, batch, cfg), "gpu_peak_mb": machine.gpu_peak_mb(backend)}
    if cfg.onnx:
        rec.update(measure_onnx(model, x, cfg))
        rec["peak_rss_with_onnx_mb"] = machine.rss_mb()
    else:
        rec.update({"onnx_p50_ms": None, "onnx_p99_ms": None, "onnx_samples_per_s": None,
                    "onnx_error": "skipped (--no-onnx)"})
    return rec


def bench_reference(backend, name, cfg, settings):
    import reference_models

    batch = settings.get("batch") or cfg.batch
    x, y = make_data(WAVEFORM, max(batch * 4, cfg.predict_batch))
    batches = batches_of(x, y, batch)
    t0 = time.perf_counter()
    trainer = (reference_models.TorchTrainer(name=name) if backend == "plain_pytorch"
               else reference_models.TFTrainer())
    if settings.get("jit_compile") and backend == "plain_pytorch":
        trainer.model = trainer.torch.compile(trainer.model)  # the same parameters, compiled forward
    trainer.train_step(*batches[0])
    first = time.perf_counter() - t0
    tr, train_rss = timed_train(lambda i: trainer.train_step(*batches[i % len(batches)]),
                                lambda: machine.synchronize(backend), batch, cfg)
    lat = latency(trainer.predict, x[:1], cfg.latency_seconds)
    xb = np.resize(x, (cfg.predict_batch,) + x.shape[1:])
    thr = throughput(trainer.predict, xb, cfg.predict_repeats)
    return {
        "model": name, "input_shape": list(WAVEFORM),
        "implementation": "benchmarks/reference_models.py " + (
            f"TorchTrainer(name={name!r}) (nn.Module, "
            + ("torch.compile)" if settings.get("jit_compile") else "eager)") if backend == "plain_pytorch"
            else "TFTrainer (tf.scan LSTM in tf.function, no XLA)"),
        **rates_record(tr, train_rss, first, lat, thr, batch, cfg), "gpu_peak_mb": machine.gpu_peak_mb(backend),
        "onnx_p50_ms": None, "onnx_p99_ms": None, "onnx_samples_per_s": None,
        "onnx_error": "not applicable (reference implementation, not exported)",
    }


def import_framework(backend):
    if backend in KERAS_BACKENDS or backend in ("pipeline", "lstm_probe", "flops"):
        os.environ["KERAS_BACKEND"] = {"pipeline": "tensorflow", "lstm_probe": "torch",
                                       "flops": "torch"}.get(backend, backend)
        import keras  # noqa: F401 - import time kept out of first_step_s
    else:
        __import__("torch" if backend == "plain_pytorch" else "tensorflow")


def worker(cfg):
    backend = base_backend(cfg.backend)
    sys.path.insert(0, str(BENCHMARKS))  # reference_models.py
    t0 = time.perf_counter()
    import_framework(backend)
    import_s = time.perf_counter() - t0
    import_rss = machine.rss_mb()  # the baseline: interpreter + framework + keras, before any model
    if backend == "flops":
        for rec in flops.count(cfg.models, make_data, input_shape, build):
            emit({"backend": "flops", **rec})
        return
    settings = variants.apply(cfg.backend)
    device, gpu = machine.accelerator(backend)
    roof = machine.framework_roof(backend, n=512 if cfg.quick else machine.ROOF_SIZE)  # before the model: its few MB stay under the model's high-water mark
    common = {"device": machine.device_name(), "backend": cfg.backend, "variant": variants.describe(cfg.backend),
              "date": cfg.date, "cpu": machine.cpu_model(), "cpus": os.cpu_count(), "accelerator": device,
              "gpu": gpu, "import_s": r(import_s), "rss_after_import_mb": import_rss,
              "framework_matmul_gflops": roof}
    if backend == "pipeline":
        todo = [("pipeline", lambda: extras.bench_pipeline(cfg))]
    elif backend == "lstm_probe":
        todo = [("lstm_probe", lambda: extras.bench_lstm_probe(cfg))]
    elif backend in REFERENCES:
        todo = [(m, lambda m=m: bench_reference(backend, m, cfg, settings)) for m in cfg.models]
    else:
        todo = [(m, lambda m=m: bench_keras_model(m, cfg, settings)) for m in cfg.models]
    for name, job in todo:
        la0 = machine.load_avg()
        t0 = time.perf_counter()
        try:
            recs = job()
            recs = recs if isinstance(recs, list) else [recs]
        except Exception as e:  # noqa: BLE001 - one failing model must not lose the others
            recs = [{"model": name, "error": f"{type(e).__name__}: {e}"[:500]}]
        for rec in recs:
            rec = {**common, **rec, "wall_s": r(time.perf_counter() - t0, 2),
                   "load_avg_before": la0, "load_avg_after": machine.load_avg(), "versions": versions(),
                   **threads_info()}
            rec.setdefault("peak_rss_mb", machine.rss_mb())
            for k in REQUIRED_KEYS:
                rec.setdefault(k, None)
            emit(rec)


def threads_info():
    info = {}
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info.update(torch_threads=torch.get_num_threads(), torch_interop_threads=torch.get_num_interop_threads())
    for k in ("OMP_WAIT_POLICY", "XLA_FLAGS", "OMP_NUM_THREADS"):
        if os.environ.get(k):
            info[k.lower()] = os.environ[k]
    return info


def jobs_for(cfg):
    """``(backend, [models])`` per worker process, in run order."""
    jobs = []
    for b in cfg.backends:
        base = base_backend(b)
        if base in KERAS_BACKENDS:
            ms = list(cfg.models)
        elif base == "plain_pytorch":
            ms = [m for m in cfg.models if m in TORCH_REFERENCE_MODELS]
        elif base == "plain_tensorflow":
            ms = [m for m in cfg.models if m in TF_REFERENCE_MODELS]
        else:
            jobs.append((b, []))
            continue
        if ms:
            jobs += [(b, ms)] if cfg.shared_process else [(b, [m]) for m in ms]
    return jobs


def spawn(cfg, backend, models):
    cmd = [sys.executable, str(SCRIPT), "--worker", "--backend", backend,
           "--repeats", str(cfg.repeats), "--repeat-seconds", str(cfg.repeat_seconds),
           "--warmup", str(cfg.warmup), "--batch", str(cfg.batch), "--predict-batch", str(cfg.predict_batch),
           "--predict-repeats", str(cfg.predict_repeats), "--latency-seconds", str(cfg.latency_seconds),
           "--pipeline-per-class", str(cfg.pipeline_per_class), "--date", cfg.date] + (["--quick"] if cfg.quick else [])
    if models:
        cmd += ["--models", ",".join(models)]
    if not cfg.onnx:
        cmd.append("--no-onnx")
    base = base_backend(backend)
    env = dict(os.environ, KERAS_BACKEND=base if base in KERAS_BACKENDS else
               "torch" if base in ("lstm_probe", "flops") else "tensorflow",
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore", **variants.environment(backend))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=cfg.worker_timeout)
    got = [json.loads(line[len(TAG):]) for line in proc.stdout.splitlines() if line.startswith(TAG)]
    if proc.returncode != 0 or not got:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        for m in models or ["?"]:
            if not any(g.get("model") == m for g in got):
                got.append({"device": machine.device_name(), "backend": backend, "model": m, "date": cfg.date,
                            "error": f"worker exit {proc.returncode}: {' | '.join(tail)}"[:500],
                            **{k: None for k in REQUIRED_KEYS if k not in ("device", "backend", "model")}})
    return got


def machine_record(cfg, roofs, loads):
    return {**{k: None for k in REQUIRED_KEYS},
            "device": machine.device_name(), "backend": "machine", "model": "matmul_roof", "date": cfg.date,
            "cpu": machine.cpu_model(), "cpus": os.cpu_count(), "gpu": (machine.gpu_names() or [None])[0],
            "roof_gflops": max(x["gflops"] for x in roofs), "roof_gflops_start": roofs[0]["gflops"],
            "roof_gflops_end": roofs[-1]["gflops"], "roof_method": roofs[0]["method"],
            "load_avg_start": loads[0], "load_avg_end": loads[-1]}


def join_flops(records, counts, roof):
    """Add FLOPs per sample, achieved GFLOP/s and % of the roof to every training record."""
    by_model = {c["model"]: c for c in counts if c.get("flops_per_train_sample")}
    for rec in records:
        c = by_model.get(rec.get("model"))
        if not c or rec.get("backend") in ("machine", "flops"):
            continue
        rec.update({k: c[k] for k in ("flops_per_train_sample", "flops_per_predict_sample", "flops_method")})
        on_gpu = rec.get("accelerator") == "cuda"
        rec["roof_gflops"] = rec.get("framework_matmul_gflops") if on_gpu else roof
        rec["roof_source"] = "framework matmul on the GPU" if on_gpu else "numpy matmul roof of this run"
        if rec.get("train_samples_per_s") and rec["roof_gflops"]:
            rec["train_gflops"] = r(rec["train_samples_per_s"] * c["flops_per_train_sample"] / 1e9, 2)
            rec["pct_of_roof"] = r(100 * rec["train_gflops"] / rec["roof_gflops"], 2)


def log(cfg, b, g):
    print(f"[{time.perf_counter() - cfg.t_start:6.1f}s] {b:17s} {g.get('model', '?'):14s} "
          f"train {g.get('train_samples_per_s')} /s  first {g.get('first_step_s')} s  "
          f"p50 {g.get('predict_p50_ms')} ms  onnx {g.get('onnx_p50_ms')} ms  "
          f"pipe {g.get('pipeline_samples_per_s')}  rss {g.get('peak_rss_mb')} MB"
          + (f"  ERROR {g['error'][:160]}" if g.get("error") else "")
          + (f"  onnx_error {g['onnx_error'][:100]}" if g.get("onnx_error") else ""), flush=True)


def run_workers(cfg):
    n = 1024 if cfg.quick else machine.ROOF_SIZE
    loads, roofs = [machine.load_avg()], [machine.numpy_roof(n)]
    print(f"matmul roof {roofs[0]['gflops']} GFLOP/s ({roofs[0]['method']})", flush=True)
    trains = any(base_backend(b) in KERAS_BACKENDS + REFERENCES for b in cfg.backends)
    counts = spawn(cfg, "flops", list(cfg.models)) if trains and cfg.flops else []  # references: same layers
    for c in counts:
        print(f"flops {c.get('model')}: {c.get('flops_per_train_sample') or c.get('flops_error') or c.get('error')}"
              " per training sample", flush=True)
    records = []
    for b, models in jobs_for(cfg):
        got = spawn(cfg, b, models)
        for g in got:
            log(cfg, b, g)
        records += got
    roofs.append(machine.numpy_roof(n))
    loads.append(machine.load_avg())
    roof_rec = machine_record(cfg, roofs, loads)
    join_flops(records, counts, roof_rec["roof_gflops"])
    return [roof_rec] + records
