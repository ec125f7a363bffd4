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
* memory, in the worker's own fresh process: ``rss_after_import_mb`` (the
  baseline: interpreter, framework and keras imported, no model yet), then the
  high-water mark ``ru_maxrss`` (what ``/usr/bin/time -v`` reports; checked by
  memory_check.py) after training (``peak_train_rss_mb``) and after training
  + inference (``peak_rss_mb``); the ONNX export runs after both are read.
  On a GPU: ``gpu_peak_mb`` (torch.cuda.max_memory_allocated, or JAX's
  ``peak_bytes_in_use``).
* the machine: CPU model, cores, load before/after each record and the run;
  the float32 matmul roof (numpy 2048^3, best of 5) before and after the
  workers (a ``machine`` record), and each framework's own matmul rate on its
  device (``framework_matmul_gflops``).
* ``flops_per_train_sample``: counted with torch's FlopCounterMode over one
  ``train_on_batch`` (harness/flops.py), then ``train_gflops`` and
  ``pct_of_roof``.
* On a CUDA machine jax and torch train on the GPU with no option: the device
  is the framework's default, and every timed repeat ends with
  ``block_until_ready`` / ``torch.cuda.synchronize``.
* Variants (``torch@compile+1thread``; harness/variants.py) change one
  setting each, for the ablation (speed_ablation.py).

The references (``plain_pytorch``, ``plain_tensorflow``; see
reference_models.py) are measured the same way (no ONNX). The ``pipeline``
worker times ``to_tf_dataset`` and ``to_pydataset`` (batch 256) over one epoch
of synthetic beats.

Writes benchmarks/results/<device>.json (a list of records; records of other
runs, e.g. ``whole_record`` from record_speed.py, are kept), <device>.md and
<device>.png. The harness lives in ``benchmarks/harness/`` (settings, measure,
workers, report, chart); this script is its command line.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

# Re-exported for sibling scripts (record_speed.py imports this module as ``bench``).
from harness.measure import (cpu_model, device_name, load_avg, onnx_session, peak_rss_mb,  # noqa: E402,F401
                             versions)
from harness.report import merge, summarize, write_all  # noqa: E402,F401
from harness.settings import (ALL_BACKENDS, DEFAULT_BACKENDS, DEFAULT_MODELS, REQUIRED_KEYS,  # noqa: E402,F401
                              RESULTS, base_backend)
from harness.variants import bad_options  # noqa: E402
from harness.workers import run_workers, worker  # noqa: E402


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default=",".join(DEFAULT_BACKENDS),
                   help=f"comma list of {', '.join(ALL_BACKENDS)}, each optionally with variant options "
                        "after @ joined by + (torch@compile+1thread; see harness/variants.py)")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--repeat-seconds", type=float, default=0.6, help="length of one timed training run")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=256, help="training batch size (the run configuration's default, keras_ecg.config)")
    p.add_argument("--predict-batch", type=int, default=1024)
    p.add_argument("--predict-repeats", type=int, default=3)
    p.add_argument("--latency-seconds", type=float, default=1.0)
    p.add_argument("--pipeline-per-class", type=int, default=2000)
    p.add_argument("--no-onnx", dest="onnx", action="store_false")
    p.add_argument("--no-flops", dest="flops", action="store_false", help="skip counting FLOPs per sample")
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
    bad = [b for b in cfg.backends if base_backend(b) not in ALL_BACKENDS + ("flops",) or bad_options(b)]
    if bad:
        p.error(f"unknown backend(s) or option(s) {bad}; choose from {ALL_BACKENDS} (options: harness/variants.py)")
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
