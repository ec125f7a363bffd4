"""Check the benchmark's memory column against ``/usr/bin/time -v`` on the same work.

    python benchmarks/memory_check.py                          # the default pairs
    python benchmarks/memory_check.py --pairs jax:cnn1d --quick

For each backend:model pair it runs the benchmark worker (training + inference of that
one model, no ONNX) twice in a fresh process: once under ``/usr/bin/time -v`` (its
"Maximum resident set size"), once directly, reading the child's ``ru_maxrss`` from
``os.wait4`` (what ``time -v`` reports; used alone when /usr/bin/time is missing). Both
are compared with the ``peak_rss_mb`` the worker records itself. It also lists the
model's activations by layer at the training batch (output size of each layer x batch x
4 bytes) for the memory note. Writes benchmarks/results/memory_check.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from harness import machine  # noqa: E402
from harness.report import write_json  # noqa: E402
from harness.settings import MODEL_SETTINGS, NUM_CLASSES, RESULTS, SCRIPT, TAG, input_shape  # noqa: E402

DEFAULT_PAIRS = ("jax:cnn_lstm", "torch:cnn_lstm", "tensorflow:attention_vgg", "tensorflow:td_cnn")
TIME = "/usr/bin/time"


def worker_cmd(backend, model, args):
    cmd = [sys.executable, str(SCRIPT), "--worker", "--backend", backend, "--models", model, "--no-onnx",
           "--batch", str(args.batch), "--date", args.date]
    return cmd + (["--quick"] if args.quick else [])


def env_for(backend):
    return dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")


def record_of(stdout):
    recs = [json.loads(line[len(TAG):]) for line in stdout.splitlines() if line.startswith(TAG)]
    if not recs or recs[0].get("error"):
        raise RuntimeError(f"worker failed: {recs[0].get('error') if recs else stdout[-300:]}")
    return recs[0]


def under_time(cmd, env):
    """(record, max RSS MB from ``/usr/bin/time -v``)."""
    proc = subprocess.run([TIME, "-v"] + cmd, env=env, capture_output=True, text=True)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"{TIME} -v run failed (exit {proc.returncode}): {proc.stderr[-300:]}")
    return record_of(proc.stdout), round(int(m.group(1)) / 1024.0, 1)


def under_wait4(cmd, env):
    """(record, the child's ``ru_maxrss`` MB from ``os.wait4``)."""
    with open(os.devnull, "w") as null:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=null, text=True)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"worker exit {proc.returncode}")
    return record_of(out), round(usage.ru_maxrss / 1024.0, 1)


def activations_mb(model_name, batch):
    """Output size of each layer at ``batch`` (MB of float32), largest first: what training keeps for backward."""
    import keras_ecg

    model = keras_ecg.build(model_name, input_shape(model_name), NUM_CLASSES,
                            **MODEL_SETTINGS.get(model_name, {}).get("overrides", {}))
    rows = []
    for layer in model.layers:
        shapes = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        size = sum(int(batch * max(1, _prod(t.shape[1:]))) for t in shapes)
        rows.append({"layer": layer.name, "kind": type(layer).__name__, "mb": round(size * 4 / 2 ** 20, 1)})
    rows.sort(key=lambda x: -x["mb"])
    return {"total_mb": round(sum(x["mb"] for x in rows), 1), "largest": rows[:8]}


def _prod(shape):
    out = 1
    for d in shape:
        out *= int(d or 1)
    return out


def check(pair, args):
    backend, model = pair.split(":")
    cmd, env = worker_cmd(backend, model, args), env_for(backend)
    rec_t, time_mb = under_time(cmd, env) if args.use_time else (None, None)
    rec_w, wait4_mb = under_wait4(cmd, env)
    out = {"backend": backend, "model": model, "batch": rec_w.get("batch"), "date": args.date,
           "cpu": machine.cpu_model(), "rss_after_import_mb": rec_w.get("rss_after_import_mb"),
           "peak_train_rss_mb": rec_w.get("peak_train_rss_mb"), "peak_rss_mb": rec_w.get("peak_rss_mb"),
           "wait4_maxrss_mb": wait4_mb, "wait4_ratio": round(rec_w["peak_rss_mb"] / wait4_mb, 3)}
    if rec_t is not None:
        out.update({"time_v_peak_rss_mb_of_record": rec_t["peak_rss_mb"], "time_v_maxrss_mb": time_mb,
                    "time_v_ratio": round(rec_t["peak_rss_mb"] / time_mb, 3)})
    ratios = [v for k, v in out.items() if k.endswith("_ratio")]
    out["within_10pct"] = all(0.9 <= v <= 1.1 for v in ratios)
    out["activations"] = activations_mb(model, rec_w.get("batch") or args.batch)
    return out


def write_md(path, rows, args):
    lines = ["# Memory check: the benchmark's peak RSS against /usr/bin/time -v", "",
             f"- {args.date}, CPU {machine.cpu_model()}; " + (
                 f"reference: `{TIME} -v` (Maximum resident set size) and the child's ru_maxrss from os.wait4."
                 if args.use_time else f"{TIME} is not installed: reference is the child's ru_maxrss from "
                                        "os.wait4 (what time -v reports)."),
             "- Work: the benchmark worker for one model (build, training, inference; no ONNX) in a fresh process.",
             "- Activations: sum over layers of output size x batch x 4 bytes (what backprop keeps, before the "
             "framework's own copies and workspace).", "",
             "| backend | model | batch | RSS after import MB | peak train MB | peak train+infer MB (record) | "
             "time -v MB | wait4 MB | record ÷ time -v | within 10 % | activations MB | largest layers (MB) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for x in rows:
        if x.get("error"):
            lines.append(f"| {x['backend']} | {x['model']} | | | | | | | | error: {x['error'][:120]} | | |")
            continue
        big = ", ".join(f"{a['layer']} {a['mb']}" for a in x["activations"]["largest"][:4])
        lines.append(f"| {x['backend']} | {x['model']} | {x['batch']} | {x['rss_after_import_mb']} | "
                     f"{x['peak_train_rss_mb']} | {x['peak_rss_mb']} | {x.get('time_v_maxrss_mb', '—')} | "
                     f"{x['wait4_maxrss_mb']} | {x.get('time_v_ratio', x['wait4_ratio'])} | "
                     f"{'yes' if x['within_10pct'] else 'NO'} | {x['activations']['total_mb']} | {big} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", default=",".join(DEFAULT_PAIRS), help="comma list of backend:model")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--quick", action="store_true", help="the benchmark's tiny settings (batch 16)")
    p.add_argument("--out", default=str(RESULTS / "memory_check.json"))
    args = p.parse_args(argv)
    args.date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    args.use_time = bool(shutil.which(TIME) or os.path.exists(TIME))
    rows = []
    for pair in [x for x in args.pairs.split(",") if x]:
        try:
            rows.append(check(pair, args))
        except Exception as e:  # noqa: BLE001 - report the pair, go on
            rows.append({"backend": pair.split(":")[0], "model": pair.split(":")[-1], "error": str(e)[:300]})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "activations"}), flush=True)
    out = pathlib.Path(args.out)
    write_json(out, rows)
    write_md(out.with_suffix(".md"), rows, args)
    return 0 if all(x.get("within_10pct") for x in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
