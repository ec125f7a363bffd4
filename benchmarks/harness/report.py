"""Results: merge into the JSON, summarise the targets, render the Markdown table and notes."""

from __future__ import annotations

import json
import os
import pathlib
import statistics

from .chart import write_chart
from .measure import device_name, r
from .settings import (ALL_BACKENDS, DEFAULT_MODELS, KERAS_BACKENDS, KERAS_VARIANTS, RECURRENT_MODELS,
                       REFERENCE_VARIANTS, WAVEFORM)


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


def default_notes(records):
    notes = ["No GPU is lent to this task: every figure is CPU only (the H100/H200 device tool reported "
             "no machine available to this task).",
             "Synthetic data: waveform models get synthetic.beats (187, 1), 5 classes; attention_vgg "
             "(filters 16/32/64, one conv per block, attention on blocks 0 and 1) random 64x64x1; "
             "td_cnn random (13, 32, 32, 1). Training batch 256 (the run configuration's default).",
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
