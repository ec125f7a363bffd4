"""Classify every beat of a 30-minute record: time each stage and the total.

    python benchmarks/record_speed.py                      # tensorflow, jax, torch
    python benchmarks/record_speed.py --backends jax --record /path/to/mitdb/100

Stages (one worker process per backend, ``KERAS_BACKEND`` set):

1. ``read``: ``mitbih.load_record`` of MIT-BIH record 100 from
   ``$KERAS_ECG_DATA/mitdb`` (or ``--record``); without it, a 30-minute
   ``synthetic.record(duration_s=1800, fs=360)`` (its generation is not timed);
2. ``filter``: ``signal.bandpass`` 0.5-40 Hz on the first lead (MLII);
3. ``detect_r_peaks``: ``signal.detect_r_peaks``;
4. ``segment``: resample to 125 Hz and cut a 187-sample window around each
   peak, as ``mitbih.annotate_record`` does;
5. ``classify_keras``: ``cnn_lstm`` (default widths, untrained: speed only),
   ``predict_on_batch`` in batches of 1024 (predict function already compiled);
   ``classify_onnx``: the same model exported with
   ``keras_ecg.export(formats=("onnx",))`` in onnxruntime, batches of 1024.

Each stage is run ``--repeats`` times; the median is reported. Totals:
``total_keras_s`` and ``total_onnx_s`` = read + filter + R peaks + segment +
classify; ``total_best_s`` is the smaller. The one-off costs (model build,
predict compilation, ONNX export and session creation) are reported
separately and not in the totals. Also checks that ``annotate_record`` with
the ONNX classifier gives the same beats.

``annotate``: the whole ``keras-ecg annotate`` path with the shipped ``pretrained:mitbih_beats``
(:func:`keras_ecg.deploy.annotate.annotate`: read, detect R peaks, the card's beat inputs with
RR features and templates, classify), once with ONNX Runtime and once with Keras on the
worker's backend (``annotate_s``, medians; ``annotate_write_s`` adds writing the annotation
file, CSV, summary and strip chart). Its records (model ``annotate_record``) go to
``benchmarks/results/annotate_<device>.json`` as well.

Records (model ``whole_record``) are merged into
benchmarks/results/<device>.json and the table/chart are rewritten.
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

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import backends as bench  # noqa: E402 - sibling module (helpers, writers)

TAG = "RECORD_JSON "


def default_record():
    root = os.environ.get("KERAS_ECG_DATA")
    candidates = ([pathlib.Path(root) / "mitdb" / "100"] if root else []) + [
        pathlib.Path("/work/shared/data/mitdb/100"), HERE.parent.parent / "shared" / "data" / "mitdb" / "100"]
    for c in candidates:
        if c.with_suffix(".hea").exists() and c.with_suffix(".dat").exists():
            return c
    return None


def median_time(fn, repeats):
    times, out = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out, times


def time_annotate(rec_path, repeats):
    """Median seconds of the annotate path per runtime, and with the files written."""
    from keras_ecg.deploy import annotate as A
    from keras_ecg.deploy import runtime

    out = {"annotate_s": {}, "annotate_stage_s": {}, "annotate_write_s": {}, "annotate_beats": None,
           "annotate_error": None}
    try:
        for rt in ("onnx", "keras"):
            clf = runtime.load("pretrained:mitbih_beats", runtime=rt)
            A.annotate(clf, rec_path)  # warm-up (keras: compiles predict)
            t, a, _ = median_time(lambda: A.annotate(clf, rec_path), repeats)
            out["annotate_s"][clf.runtime] = round(t, 4)
            out["annotate_stage_s"][clf.runtime] = a.seconds
            out["annotate_beats"] = len(a.classes)
            with tempfile.TemporaryDirectory() as tmp:
                t, _, _ = median_time(lambda: A.write(A.annotate(clf, rec_path), clf.card, tmp), repeats)
            out["annotate_write_s"][clf.runtime] = round(t, 4)
    except Exception as e:  # noqa: BLE001 - record the reason
        out["annotate_error"] = f"{type(e).__name__}: {e}"[:400]
    return out


def worker(args):
    os.environ["KERAS_BACKEND"] = args.backend
    import keras

    import keras_ecg
    from keras_ecg.data import mitbih, signal, synthetic

    rec_path = pathlib.Path(args.record) if args.record else default_record()
    la0 = bench.load_avg()
    stages, runs = {}, {}
    if rec_path is not None:
        source = f"MIT-BIH record {rec_path.name} ({rec_path})"
        t, rec, runs["read"] = median_time(lambda: mitbih.load_record(rec_path), args.repeats)
        stages["read"] = t
        x, fs = np.asarray(rec.signal[:, 0], np.float32), float(rec.fs)
        lead = rec.leads[0] if getattr(rec, "leads", None) else "lead 0"
    else:
        source = "synthetic.record(duration_s=1800, fs=360) (no MIT-BIH data found)"
        x, _, _ = synthetic.record(duration_s=1800, fs=360, seed=0)
        fs, lead = 360.0, "synthetic"
        stages["read"] = 0.0
    duration_s = len(x) / fs
    t, xf, runs["filter"] = median_time(lambda: signal.bandpass(x, fs, 0.5, 40.0), args.repeats)
    stages["filter"] = t
    xf = np.asarray(xf, np.float32)
    t, peaks, runs["detect_r_peaks"] = median_time(lambda: signal.detect_r_peaks(xf, fs), args.repeats)
    stages["detect_r_peaks"] = t
    window, fs_model = 187, 125.0
    before = window // 2

    def segment():  # the toolkit's own windowing (beats.beat_inputs, as annotate_record uses it)
        return mitbih._windows(xf, fs, peaks, fs_model, window, before, None, "record")[0][..., None]

    t, beats, runs["segment"] = median_time(segment, args.repeats)
    stages["segment"] = t

    t0 = time.perf_counter()
    model = keras_ecg.build("cnn_lstm", (window, 1), 5)
    model.predict_on_batch(beats[:1024])  # compile the predict function (one-off)
    if len(beats) % 1024:
        model.predict_on_batch(beats[-(len(beats) % 1024):])  # the last, smaller batch shape
    setup_keras = time.perf_counter() - t0

    def classify(fn):
        return lambda: np.concatenate([np.asarray(fn(beats[i:i + 1024])) for i in range(0, len(beats), 1024)])

    t, probs_keras, runs["classify_keras"] = median_time(classify(model.predict_on_batch), args.repeats)
    stages["classify_keras"] = t

    onnx_error, setup_onnx, probs_onnx, max_diff, annotate_ok = None, None, None, None, None
    with tempfile.TemporaryDirectory(prefix="keras_ecg_record_onnx_") as tmp:
        try:
            from keras_ecg import export

            t0 = time.perf_counter()
            card = export(model, tmp, formats=("onnx",), sample_inputs=beats[:16])
            fn = bench.onnx_session(card["paths"]["onnx"])
            fn(beats[:1024])
            setup_onnx = time.perf_counter() - t0
            onnx_path = card["export"]["formats"]["onnx"].get("path")
            t, probs_onnx, runs["classify_onnx"] = median_time(classify(fn), args.repeats)
            stages["classify_onnx"] = t
            max_diff = float(np.max(np.abs(probs_onnx - probs_keras)))
            pk, out = mitbih.annotate_record(xf, fs, lambda b: fn(b[..., None].astype(np.float32)), r_peaks=peaks)
            annotate_ok = bool(len(pk) == len(beats) and np.allclose(out, probs_onnx, atol=1e-5))
        except Exception as e:  # noqa: BLE001 - record the reason
            onnx_error = f"{type(e).__name__}: {e}"[:400]
            onnx_path = None
    annotate_rec = rec_path if rec_path is not None else None
    ann = time_annotate(annotate_rec, args.repeats) if annotate_rec is not None else {
        "annotate_error": "no MIT-BIH record found"}
    base = stages["read"] + stages["filter"] + stages["detect_r_peaks"] + stages["segment"]
    total_keras = base + stages["classify_keras"]
    total_onnx = base + stages["classify_onnx"] if "classify_onnx" in stages else None
    best = min([v for v in (total_keras, total_onnx) if v is not None])
    rec = {
        "device": bench.device_name(), "backend": args.backend, "model": "whole_record", "date": args.date,
        "cpu": bench.cpu_model(), "cpus": os.cpu_count(), "gpu": None,
        "source": source, "lead": lead, "fs": fs, "duration_s": round(duration_s, 1),
        "r_peaks": int(len(peaks)), "beats": int(len(beats)), "classifier": "cnn_lstm (untrained, default widths)",
        "stages_s": {k: round(v, 4) for k, v in stages.items()},
        "stage_runs_s": {k: [round(v, 4) for v in vs] for k, vs in runs.items()},
        "total_keras_s": round(total_keras, 4), "total_onnx_s": None if total_onnx is None else round(total_onnx, 4),
        "total_best_s": round(best, 4), "best_runtime": "onnxruntime" if best == total_onnx else f"keras/{args.backend}",
        "setup_keras_s": round(setup_keras, 3), "setup_onnx_s": None if setup_onnx is None else round(setup_onnx, 3),
        "onnx_export_path": onnx_path, "onnx_error": onnx_error, "onnx_vs_keras_max_abs_diff": max_diff,
        "annotate_record_matches": annotate_ok, "repeats": args.repeats, "keras_version": keras.__version__,
        "peak_rss_mb": bench.peak_rss_mb(), "load_avg_before": la0, "load_avg_after": bench.load_avg(),
        "versions": bench.versions(), **ann,
        # keys every record carries
        "train_samples_per_s": None, "train_samples_per_s_spread": None, "first_step_s": None,
        "predict_p50_ms": None, "predict_p99_ms": None,
        "predict_samples_per_s": round(len(beats) / stages["classify_keras"], 1),
        "onnx_p50_ms": None,
    }
    print(TAG + json.dumps(rec), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="tensorflow,jax,torch")
    p.add_argument("--record", default=None, help="WFDB record path without extension")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", default=None, help=argparse.SUPPRESS)
    p.add_argument("--date", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.date = args.date or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    if args.worker:
        worker(args)
        return 0
    records = []
    for b in [b for b in args.backends.split(",") if b]:
        cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", "--backend", b,
               "--repeats", str(args.repeats), "--date", args.date] + (["--record", args.record] if args.record else [])
        env = dict(os.environ, KERAS_BACKEND=b, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        got = [json.loads(line[len(TAG):]) for line in proc.stdout.splitlines() if line.startswith(TAG)]
        if not got:
            tail = " | ".join((proc.stderr or "").strip().splitlines()[-3:])
            got = [{"device": bench.device_name(), "backend": b, "model": "whole_record", "date": args.date,
                    "error": f"worker exit {proc.returncode}: {tail}"[:500],
                    **{k: None for k in bench.REQUIRED_KEYS if k not in ("device", "backend", "model")}}]
        for g in got:
            print(f"{b:10s} {g.get('beats')} beats  stages {g.get('stages_s')}  total keras {g.get('total_keras_s')} s"
                  f"  total onnx {g.get('total_onnx_s')} s" + (f"  ERROR {g['error']}" if g.get("error") else "")
                  + (f"  onnx_error {g['onnx_error']}" if g.get("onnx_error") else "")
                  + f"  annotate {g.get('annotate_s')} (with files {g.get('annotate_write_s')})"
                  + (f"  annotate_error {g['annotate_error']}" if g.get("annotate_error") else ""), flush=True)
        records += got
    out = pathlib.Path(args.out) if args.out else bench.RESULTS / f"{bench.device_name()}.json"
    allrec = bench.merge(out, records)
    bench.write_all(out, allrec)
    ann_out = out.with_name(f"annotate_{out.name}")
    from keras_ecg import _atomic

    _atomic.write_json(ann_out, [{k: r.get(k) for k in ("backend", "date", "cpu", "cpus", "source", "annotate_beats",
                                                        "annotate_s", "annotate_stage_s", "annotate_write_s",
                                                        "annotate_error", "load_avg_before", "load_avg_after")}
                                 for r in records])
    print(f"wrote {out} (+ .md, .png), {ann_out}")
    return 0 if not any(r.get("error") for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
