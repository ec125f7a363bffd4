"""A 24-hour two-lead recording annotated, rhythm included: wall time per stage and peak memory.

    python benchmarks/long_record.py                          # 24 h, MLII + V1 at 360 Hz, 3 repeats
    python benchmarks/long_record.py --compare-with ../main   # the same on another checkout too (before/after)
    python benchmarks/long_record.py --minutes 10 --repeats 1 --out /tmp/lr   # a quick look

The recording is ``keras-ecg synth-record --minutes 1440 --leads MLII,V1`` (synthetic, seed 0;
about 93,000 beats), written once and reused from ``$KERAS_ECG_CACHE/long_record/`` (else
``$TMPDIR/keras_ecg_long_record/``); its generation (about 25 s, 3.5 GB) is not timed. Each repeat is a fresh Python process
(``PYTHONPATH`` = the checkout measured) that loads ``pretrained:mitbih_beats``
(``keras_ecg.deploy.runtime.load``: ONNX Runtime), calls ``annotate.annotate(clf, record)`` and then
``keras_ecg.rhythm.analyze(a.times_s, a.probs, card.class_names)``. Recorded per repeat:

* ``wall_s``: annotate + rhythm (the issue's figure, target <= 20 s), with annotate's own stages
  (``read``, ``detect``, ``segment``, ``classify``) and ``rhythm_s``;
* ``load_s`` (imports and model load) and ``process_s`` (the whole process, interpreter start included);
* ``peak_rss_mb``: the process's maximum resident set size (``os.wait4``'s ``ru_maxrss``, what
  ``/usr/bin/time -v`` reports; target <= 2048 MB). Linux counts a forked child's peak from its
  parent's at the fork, so this process stays small (``parent_rss_mb``, recorded);
* beats, edge beats skipped, rhythm episodes, the runtime and its graph.

Writes ``benchmarks/results/long_record_<device>.json`` and ``.md`` (or ``--out BASE``), with the CPU
model, cores, load average before and after, versions and the git commit of each checkout measured.
Run it alone on the machine (on the shared 2-core box: under ``flock /tmp/keras_ecg_cpu.lock``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from harness import machine  # noqa: E402

TAG = "LONG_RECORD_JSON "
TARGET_WALL_S = 20.0
TARGET_RSS_MB = 2048.0


def record_path(minutes: float, leads: str, seed: int = 0) -> pathlib.Path:
    """The cached synthetic record's path (without extension), written when missing (in a child process:
    this one stays small, so that the children's peak RSS is theirs alone)."""
    root = os.environ.get("KERAS_ECG_CACHE")
    folder = pathlib.Path(root) / "long_record" if root else pathlib.Path(tempfile.gettempdir()) / "keras_ecg_long_record"
    base = folder / f"synth_{minutes:g}min_{leads.replace(',', '-')}_360hz_seed{seed}"
    if not all(base.with_suffix(s).exists() for s in (".hea", ".dat", ".atr")):
        print(f"writing {base} ({minutes:g} min, leads {leads}; not timed)", flush=True)
        subprocess.run([sys.executable, "-m", "keras_ecg.cli", "synth-record", str(base), "--minutes", f"{minutes:g}",
                        "--leads", leads, "--seed", str(seed)], env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       check=True, stdout=subprocess.DEVNULL)
    return base


def worker(args) -> None:
    """One repeat in this (fresh) process: load, annotate, rhythm; one JSON line on stdout."""
    t0 = time.perf_counter()
    import resource

    import keras_ecg
    from keras_ecg import rhythm
    from keras_ecg.deploy import annotate as A
    from keras_ecg.deploy import runtime

    clf = runtime.load(args.model)
    t1 = time.perf_counter()
    kwargs = {"chunk_s": args.chunk_s} if args.chunk_s else {}
    a = A.annotate(clf, args.record, **kwargs)
    t2 = time.perf_counter()
    r = rhythm.analyze(a.times_s, a.probs, clf.card.class_names)
    t3 = time.perf_counter()
    rec = a.record
    n = getattr(rec, "n_samples", None) or len(rec.signal)
    out = {"load_s": round(t1 - t0, 3), "annotate_s": round(t2 - t1, 3), "rhythm_s": round(t3 - t2, 3),
           "wall_s": round(t3 - t1, 3), "stages_s": a.seconds, "beats": len(a.classes), "edge_skipped": a.edge_skipped,
           "episodes": len(r.episodes), "record_s": round(n / rec.fs, 1), "fs": rec.fs, "leads": list(rec.leads),
           "lead": a.lead, "runtime": clf.runtime, "graph": getattr(clf, "graph", ""),
           "keras_ecg_file": keras_ecg.__file__, "chunk_s": args.chunk_s,
           "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    print(TAG + json.dumps(out), flush=True)


def git_commit(path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_once(code: pathlib.Path, record, args) -> dict:
    """One fresh process on the checkout ``code``: its JSON, the process time and its peak RSS."""
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", "--record", str(record),
           "--model", args.model] + (["--chunk-s", str(args.chunk_s)] if args.chunk_s else [])
    env = dict(os.environ, PYTHONPATH=str(code), PYTHONWARNINGS="ignore", TF_CPP_MIN_LOG_LEVEL="2")
    import resource

    parent_rss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # a child's floor (fork)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        stdout = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)  # the child's resource usage: ru_maxrss as time -v reports it
        proc.returncode = os.waitstatus_to_exitcode(status)
        process_s = time.perf_counter() - t0
        err.seek(0)
        stderr = err.read()
    got = [json.loads(line[len(TAG):]) for line in stdout.splitlines() if line.startswith(TAG)]
    if proc.returncode != 0 or not got:
        tail = " | ".join(stderr.strip().splitlines()[-3:])
        return {"error": f"worker exit {proc.returncode}: {tail}"[:500], "process_s": round(process_s, 3)}
    return {**got[0], "process_s": round(process_s, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "parent_rss_mb": parent_rss}


def measure(label, code, record, repeats, args) -> dict:
    runs = []
    for i in range(repeats):
        r = run_once(code, record, args)
        runs.append(r)
        print(f"{label} {i + 1}/{repeats}: " + (r["error"] if "error" in r else
              f"wall {r['wall_s']} s (annotate {r['annotate_s']}, rhythm {r['rhythm_s']}; {r['stages_s']}), "
              f"process {r['process_s']} s, peak RSS {r['peak_rss_mb']} MB, {r['beats']} beats"), flush=True)
    ok = [r for r in runs if "error" not in r]
    summary = {}
    if ok:
        for key in ("wall_s", "process_s", "peak_rss_mb"):
            vals = [r[key] for r in ok]
            summary[key] = {"median": round(statistics.median(vals), 3), "max": round(max(vals), 3),
                            "min": round(min(vals), 3)}
        summary["meets_wall_target"] = summary["wall_s"]["max"] <= TARGET_WALL_S
        summary["meets_memory_target"] = summary["peak_rss_mb"]["max"] <= TARGET_RSS_MB
    return {"label": label, "code": str(code), "commit": git_commit(code), "repeats": runs, "summary": summary}


def markdown(result) -> str:
    m = result["machine"]
    fs = next((r["fs"] for b in result["runs"] for r in b["repeats"] if "fs" in r), 360)
    made = "given with `--record`" if result["record"].get("given") else "synthetic, `keras-ecg synth-record`"
    lines = [f"# Long record: {result['record']['minutes']:g} min, {result['record']['leads']} at {fs:g} Hz, annotated "
             "with rhythm", "",
             f"- {result['date']}; CPU {m['cpu']}, {m['cores']} cores; load average before {m['load_before']}, "
             f"after {m['load_after']}.",
             f"- Record: `{result['record']['path']}` ({made}; generation not timed). "
             f"Model `{result['model']}`.",
             f"- Targets: wall (annotate + rhythm) <= {TARGET_WALL_S:g} s, peak RSS <= {TARGET_RSS_MB:g} MB, "
             "every repeat. Each repeat is a fresh process; `process` adds interpreter start, imports and model load.",
             "", "| code | commit | run | wall s | read | detect | segment | classify | rhythm | load s | process s "
             "| peak RSS MB | beats | runtime |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for block in result["runs"]:
        for i, r in enumerate(block["repeats"], 1):
            if "error" in r:
                lines.append(f"| {block['label']} | {block['commit']} | {i} | error: {r['error'][:80]} |"
                             + " |" * 10)
                continue
            s = r["stages_s"]
            lines.append(f"| {block['label']} | {block['commit']} | {i} | {r['wall_s']:.2f} | {s['read']:.2f} | "
                         f"{s['detect']:.2f} | {s['segment']:.2f} | {s['classify']:.2f} | {r['rhythm_s']:.2f} | "
                         f"{r['load_s']:.2f} | {r['process_s']:.2f} | {r['peak_rss_mb']:.0f} | {r['beats']} | "
                         f"{r['runtime']} {r.get('graph') or ''} |")
    lines.append("")
    for block in result["runs"]:
        s = block["summary"]
        if s:
            lines.append(f"- **{block['label']}** ({block['commit']}): wall median {s['wall_s']['median']:.2f} s "
                         f"(max {s['wall_s']['max']:.2f}), process median {s['process_s']['median']:.2f} s, peak RSS "
                         f"max {s['peak_rss_mb']['max']:.0f} MB: wall target "
                         f"{'met' if s['meets_wall_target'] else 'NOT met'}, memory target "
                         f"{'met' if s['meets_memory_target'] else 'NOT met'}.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=1440.0)
    p.add_argument("--leads", default="MLII,V1")
    p.add_argument("--record", default=None, help="an existing recording instead of the synthetic one")
    p.add_argument("--model", default="pretrained:mitbih_beats")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--chunk-s", type=float, default=None, help="annotate's chunk_s (default: its own)")
    p.add_argument("--compare-with", default=None, metavar="CHECKOUT",
                   help="also measure this checkout of keras_ecg (e.g. the main branch: the 'before' figures)")
    p.add_argument("--compare-repeats", type=int, default=1)
    p.add_argument("--out", default=None, help="results path without extension")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:  # keras_ecg from $PYTHONPATH: the checkout measured
        worker(args)
        return 0
    sys.path.insert(1, str(ROOT))  # this checkout's keras_ecg, whatever is installed
    from keras_ecg import _atomic

    record = pathlib.Path(args.record) if args.record else record_path(args.minutes, args.leads)
    load_before = machine.load_avg()
    runs = [measure("this checkout", ROOT, record, args.repeats, args)]
    if args.compare_with:
        other = pathlib.Path(args.compare_with).resolve()
        runs.append(measure(f"{other.name}", other, record, args.compare_repeats,
                            argparse.Namespace(**{**vars(args), "chunk_s": None})))
    result = {"benchmark": "long_record", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
              timespec="seconds"), "model": args.model,
              "record": {"path": str(record), "minutes": args.minutes if not args.record else None,
                         "leads": args.leads if not args.record else None},
              "machine": {"cpu": machine.cpu_model(), "cores": os.cpu_count(), "device": machine.device_name(),
                          "load_before": load_before, "load_after": machine.load_avg()},
              "targets": {"wall_s": TARGET_WALL_S, "peak_rss_mb": TARGET_RSS_MB}, "runs": runs,
              "versions": _versions()}
    if args.record:
        result["record"]["given"] = True
        result["record"]["minutes"] = next((r["record_s"] / 60 for b in runs for r in b["repeats"]
                                            if "record_s" in r), 0.0)
        result["record"]["leads"] = next((",".join(r["leads"]) for b in runs for r in b["repeats"]
                                          if "leads" in r), "?")
    base = pathlib.Path(args.out) if args.out else HERE / "results" / f"long_record_{machine.device_name()}"
    _atomic.write_json(base.with_suffix(".json"), result)
    _atomic.write_text(base.with_suffix(".md"), markdown(result))
    print(f"wrote {base}.json and .md")
    return 0 if all("error" not in r for b in runs for r in b["repeats"]) else 1


def _versions() -> dict:
    from keras_ecg.versions import package_versions

    return package_versions(extra=["onnxruntime", "onnx", "scipy", "wfdb"])


if __name__ == "__main__":
    sys.exit(main())
