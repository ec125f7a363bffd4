"""Results: merge into the JSON, summarise the targets, render the Markdown table and notes."""

from __future__ import annotations

import json
import os
import pathlib

from .chart import write_chart
from .machine import device_name
from .settings import ALL_BACKENDS, DEFAULT_MODELS, KERAS_BACKENDS, SPEED_MODELS
from .summary import find, summarize, target_lines  # noqa: F401 - summarize re-exported
from .variants import split


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


def write_all(out_json: pathlib.Path, records: list, notes=None):
    write_json(out_json, records)
    write_markdown(out_json.with_suffix(".md"), records, notes if notes is not None else default_notes(records))
    write_chart(out_json.with_suffix(".png"), records)


def fmt(v, nd=1):
    if v is None:
        return "—"
    if isinstance(v, float) and abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}" if isinstance(v, (int, float)) else str(v)


def mb(v):
    return fmt(v, 0) if v is not None else "—"


def write_markdown(out: pathlib.Path, records: list, notes: list):
    s = summarize(records)
    dev = records[0].get("device") if records else device_name()
    lines = [f"# keras_ecg benchmarks: {dev}", ""]
    mach = next((x for x in records if x.get("backend") == "machine"), None)
    meta = next((x for x in records if x.get("backend") in KERAS_BACKENDS and x.get("versions")),
                records[0] if records else {})
    lines += [f"- CPU: {meta.get('cpu')} ({meta.get('cpus')} cores); GPU: {meta.get('gpu') or 'none'}.",
              f"- Run date: {meta.get('date')}; versions: "
              + ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items())]
    if mach:
        lines.append(f"- Matrix-multiply roof of this machine, measured in this run: {mach['roof_gflops']} GFLOP/s "
                     f"({mach['roof_method']}; {mach['roof_gflops_start']} before the workers, "
                     f"{mach['roof_gflops_end']} after). Load average (1, 5, 15 min) {mach['load_avg_start']} "
                     f"before the run, {mach['load_avg_end']} after.")
    lines += [f"- {n}" for n in notes]
    lines += ["", "## Training and inference per backend and model", "",
              "train = steady-state `train_on_batch` samples/s (median of repeats, ± spread = (max-min)/median); "
              "MFLOP = counted FLOPs per training sample (forward + backward matmuls and convolutions); "
              "GFLOP/s and % roof = train samples/s x MFLOP against the roof above; first step = build + "
              "compile + first train step; predict = `predict_on_batch` (p50/p99 at batch 1, samples/s at "
              "batch 1024); ONNX = onnxruntime CPU on the backend's own export; memory: RSS after imports "
              "(the baseline, before any model), then the high-water mark (`ru_maxrss`, as `/usr/bin/time -v`) "
              "after training and after training + inference of this one model in its own process.", "",
              "| backend | model | params | MFLOP/sample | train samples/s | ± | GFLOP/s | % roof | first step s | "
              "p50 ms | p99 ms | predict samples/s | ONNX p50 ms | ONNX samples/s | RSS after import MB | "
              "peak train MB | peak train+infer MB |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    order = {b: i for i, b in enumerate(ALL_BACKENDS)}
    rows = [x for x in records if x.get("backend") in order and x.get("backend") not in ("pipeline", "lstm_probe")
            and x.get("model") != "whole_record"]
    rows.sort(key=lambda x: (DEFAULT_MODELS.index(x["model"]) if x.get("model") in DEFAULT_MODELS else 99,
                             order.get(x.get("backend"), 99)))
    for x in rows:
        onnx = (fmt(x.get("onnx_p50_ms"), 3), fmt(x.get("onnx_samples_per_s"), 0))
        if x.get("onnx_p50_ms") is None and (x.get("onnx_error") or "").startswith(("not appl", "skipped (--")):
            onnx = ("—", "—")
        elif x.get("onnx_p50_ms") is None and x.get("onnx_error"):
            onnx = ("failed*", "—")
        sp = x.get("train_samples_per_s_spread")
        fl = x.get("flops_per_train_sample")
        lines.append(
            f"| {x.get('backend')} | {x.get('model')} | {x.get('params', '—')} | "
            f"{'—' if not fl else f'{fl / 1e6:.2f}'} | {fmt(x.get('train_samples_per_s'), 0)} | "
            f"{'—' if sp is None else f'{100 * sp:.0f}%'} | {fmt(x.get('train_gflops'), 1)} | "
            f"{fmt(x.get('pct_of_roof'), 1)} | {fmt(x.get('first_step_s'), 2)} | "
            f"{fmt(x.get('predict_p50_ms'), 2)} | {fmt(x.get('predict_p99_ms'), 2)} | "
            f"{fmt(x.get('predict_samples_per_s'), 0)} | {onnx[0]} | {onnx[1]} | {mb(x.get('rss_after_import_mb'))} | "
            f"{mb(x.get('peak_train_rss_mb'))} | {mb(x.get('peak_rss_mb'))} |")
    errs = [x for x in rows if x.get("error") or (x.get("onnx_error") and x.get("onnx_p50_ms") is None
                                                  and not x["onnx_error"].startswith(("not appl", "skipped (--")))]
    if errs:
        lines += ["", "\\* failures:", ""]
        for x in errs:
            lines.append(f"- {x['backend']}/{x['model']}: {(x.get('error') or x.get('onnx_error'))[:300]}")
    if s["ratios"]:
        lines += ["", "## Training speed against plain PyTorch (same model, same batch, same run)", "",
                  "Train samples/s of each run ÷ plain PyTorch's (benchmarks/reference_models.py, eager "
                  "`nn.Module`, the same thread count) on the same model.", "",
                  "| model | plain PyTorch samples/s | " + " | ".join(KERAS_BACKENDS + ("plain_tensorflow",)) + " |",
                  "|---|---:|" + "---:|" * (len(KERAS_BACKENDS) + 1)]
        for m, row in s["ratios"].items():
            pt = find(records, "plain_pytorch", m)
            lines.append(f"| {m} | {fmt(pt['train_samples_per_s'], 0)} | "
                         + " | ".join(f"{row[b]:.2f}x" if row.get(b) is not None else "—"
                                      for b in KERAS_BACKENDS + ("plain_tensorflow",)) + " |")
    lines += ablation_lines(records)
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
        lines += ["", "## Targets", ""] + target_lines(s)
    out.write_text("\n".join(lines) + "\n")


def ablation_lines(records) -> list:
    """Every variant run (``backend@options``) beside its backend's default run and plain PyTorch, per model."""
    variants = [x for x in records if "@" in str(x.get("backend")) and x.get("model") != "whole_record"]
    if not variants:
        return []
    lines = ["", "## Speed ablation: each setting tried, same run", "",
             "Each row is a fresh worker process with one change (harness/variants.py); ÷ default = against the "
             "same backend with its defaults in this run, ÷ plain PyTorch = against plain PyTorch (defaults) "
             "on the same model in this run.", "",
             "| run | model | setting | train samples/s | ± | ÷ default | ÷ plain PyTorch | % roof | first step s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    models = [m for m in SPEED_MODELS + DEFAULT_MODELS if any(x.get("model") == m for x in variants)]
    for m in dict.fromkeys(models):
        pt = find(records, "plain_pytorch", m)
        group = [x for x in records if x.get("model") == m and (x in variants or (
            x.get("backend") in KERAS_BACKENDS + ("plain_pytorch",)
            and any(split(v["backend"])[0] == x.get("backend") for v in variants if v.get("model") == m)))]
        group.sort(key=lambda x: (split(x["backend"])[0], "@" in x["backend"], x["backend"]))
        for x in group:
            base = find(records, split(x["backend"])[0], m)
            tr = x.get("train_samples_per_s")
            sp = x.get("train_samples_per_s_spread")
            setting = x.get("variant") or ("defaults" if "@" not in x["backend"] else x["backend"].split("@")[1])
            err = f" (error: {x['error'][:80]})" if x.get("error") else ""
            lines.append(f"| {x['backend']} | {m} | {setting}{err} | {fmt(tr, 0)} | "
                         f"{'—' if sp is None else f'{100 * sp:.0f}%'} | "
                         f"{fmt(tr / base['train_samples_per_s'], 2) + 'x' if tr and base and base is not x else '—'} | "
                         f"{fmt(tr / pt['train_samples_per_s'], 2) + 'x' if tr and pt else '—'} | "
                         f"{fmt(x.get('pct_of_roof'), 1)} | {fmt(x.get('first_step_s'), 2)} |")
    return lines


def default_notes(records):
    gpu = next((x.get("gpu") for x in records if x.get("gpu")), None)
    notes = [f"Device: {gpu} (jax and torch train on it; ONNX Runtime stays on the CPU)." if gpu else
             "CPU only: no GPU on this machine (the GPU path of the harness was not run here).",
             "Synthetic data: waveform models get synthetic.beats (187, 1), 5 classes; attention_vgg "
             "(filters 16/32/64, one conv per block, attention on blocks 0 and 1) random 64x64x1; "
             "td_cnn random (13, 32, 32, 1). Training batch 256 (the run configuration's default).",
             "Each (backend, model) ran in its own fresh worker process; first step includes "
             "tracing/XLA compilation; keras import time is excluded (recorded as import_s).",
             "FLOPs per sample are counted, not estimated: torch's FlopCounterMode over one train_on_batch "
             "of the keras model on the torch backend (harness/flops.py); the plain references have the same "
             "layers, so the same count.",
             "plain_pytorch: benchmarks/reference_models.py, the same layers in eager PyTorch (its own "
             "best setting in this run's ablation is listed there); plain_tensorflow writes the LSTM by hand "
             "(tf.scan inside tf.function, no XLA), since tf.keras is Keras 3 here.",
             "ONNX: keras_ecg.export(formats=('onnx',), fallback=False), i.e. the backend's own exporter; "
             "ONNX export and its session run after the memory high-water marks are read (their own peak is "
             "peak_rss_with_onnx_mb in the JSON)."]
    runs = {}
    for x in records:
        runs.setdefault(x.get("date"), []).append(f"{x.get('backend')}/{x.get('model')}")
    if len(runs) > 1:
        parts = [f"{d} ({len(names)} records" + (f": {', '.join(names)})" if len(names) <= 8 else ")")
                 for d, names in sorted(runs.items(), key=lambda kv: str(kv[0]))]
        notes.append("Records come from more than one run (each keeps its date and load average): "
                     + "; ".join(parts) + ". Compare ratios only within one run.")
    return notes
