"""The targets, from the records of one run: ratios to plain PyTorch, % of the roof, the pipeline."""

from __future__ import annotations

from .measure import r
from .settings import KERAS_BACKENDS, SPEED_MODELS, WAVEFORM


def find(records, backend, model):
    for rec in records:
        if rec.get("backend") == backend and rec.get("model") == model and not rec.get("error"):
            return rec
    return None


def rate(rec):
    return (rec or {}).get("train_samples_per_s")


def ratios(records) -> dict:
    """{model: {backend: train samples/s ÷ plain PyTorch's on that model}} for every backend run that has one."""
    out = {}
    for m in SPEED_MODELS:
        pt = rate(find(records, "plain_pytorch", m))
        if not pt:
            continue
        out[m] = {rec["backend"]: r(rec["train_samples_per_s"] / pt, 2) for rec in records
                  if rec.get("model") == m and rate(rec) and rec.get("backend") != "plain_pytorch"}
    return out


def summarize(records: list) -> dict:
    s = {"ratios": ratios(records), "targets": {}}
    t = s["targets"]
    need = {m: {b: s["ratios"].get(m, {}).get(b) for b in ("jax", "torch")} for m in SPEED_MODELS}
    if any(v is not None for row in need.values() for v in row.values()):
        t["jax_and_torch_at_least_plain_pytorch"] = {
            "ratios": need, "met": all(v is not None and v >= 1.0 for row in need.values() for v in row.values())}
    lstm = [rec for rec in records if rec.get("model") == "cnn_lstm" and rec.get("backend") in KERAS_BACKENDS
            and rec.get("pct_of_roof") is not None]
    if lstm:
        best = max(lstm, key=lambda x: x["pct_of_roof"])
        t["fastest_cnn_lstm_40pct_of_roof"] = {
            "backend": best["backend"], "samples_per_s": best["train_samples_per_s"],
            "train_gflops": best["train_gflops"], "roof_gflops": best["roof_gflops"],
            "pct_of_roof": best["pct_of_roof"], "met": best["pct_of_roof"] >= 40}
    pipes = [rec for rec in records if rec.get("backend") == "pipeline" and rec.get("pipeline_samples_per_s")]
    trains = [rec for rec in records if rec.get("backend") in KERAS_BACKENDS and rate(rec)
              and tuple(rec.get("input_shape") or ()) == WAVEFORM]
    if pipes and trains:
        fastest = max(trains, key=rate)
        t["pipeline_10x_fastest_training"] = {
            "fastest_training": f"{fastest['backend']}/{fastest['model']}",
            "fastest_training_samples_per_s": rate(fastest),
            **{p["model"]: {"samples_per_s": p["pipeline_samples_per_s"],
                            "ratio": r(p["pipeline_samples_per_s"] / rate(fastest), 1),
                            "met": p["pipeline_samples_per_s"] >= 10 * rate(fastest)} for p in pipes}}
    wr = [rec for rec in records if rec.get("model") == "whole_record" and rec.get("total_best_s")]
    if wr:
        best = min(wr, key=lambda x: x["total_best_s"])
        t["whole_record_under_1s"] = {"backend": best["backend"], "runtime": best.get("best_runtime"),
                                      "total_s": best["total_best_s"], "met": best["total_best_s"] < 1.0}
    return s


def target_lines(s: dict) -> list:
    t, lines = s["targets"], []
    if "jax_and_torch_at_least_plain_pytorch" in t:
        v = t["jax_and_torch_at_least_plain_pytorch"]
        parts = "; ".join(f"{m}: " + ", ".join(f"{b} {x}x" for b, x in row.items()) for m, row in v["ratios"].items())
        lines.append(f"- JAX and torch backends train {', '.join(SPEED_MODELS)} at least as fast as plain PyTorch "
                     f"(same model, same run): **{'met' if v['met'] else 'NOT met'}** — {parts}.")
    if "fastest_cnn_lstm_40pct_of_roof" in t:
        v = t["fastest_cnn_lstm_40pct_of_roof"]
        lines.append(f"- Fastest backend on cnn_lstm training at ≥ 40 % of the matmul roof: "
                     f"**{'met' if v['met'] else 'NOT met'}** — {v['backend']} {v['samples_per_s']:,.0f} samples/s "
                     f"= {v['train_gflops']} GFLOP/s of {v['roof_gflops']} = {v['pct_of_roof']} %.")
    if "pipeline_10x_fastest_training" in t:
        v = t["pipeline_10x_fastest_training"]
        parts = "; ".join(f"{k} {w['samples_per_s']:,.0f} samples/s = {w['ratio']}x "
                          f"({'met' if w['met'] else 'NOT met'})" for k, w in v.items() if isinstance(w, dict))
        lines.append(f"- Input pipeline ≥ 10x the fastest training rate ({v['fastest_training']}, "
                     f"{v['fastest_training_samples_per_s']:,.0f} samples/s): {parts}.")
    if "whole_record_under_1s" in t:
        v = t["whole_record_under_1s"]
        lines.append(f"- Whole 30-minute record under 1 s with the fastest runtime: "
                     f"**{'met' if v['met'] else 'NOT met'}** — {v['total_s']} s ({v['backend']}, {v['runtime']}).")
    return lines
