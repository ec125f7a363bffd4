"""Export every registered model from one backend and record what works.

    KERAS_BACKEND=jax python benchmarks/export_all.py            # all models, 3 formats
    python benchmarks/export_all.py --backend torch --small      # narrow widths (fast)
    python benchmarks/export_all.py --models "cnn*" --no-fallback
    python benchmarks/export_all.py --models lstm gru --merge   # refresh two entries

Each model is built with random weights (default widths unless ``--small``)
and exported one format at a time with :func:`keras_ecg.export`, so a
failing format does not hide the others. Writes
``benchmarks/results/export_<backend>.json``: per model and format the
status (``ok`` / ``failed``), the path used (``native:<backend>`` or
``tensorflow-subprocess``), the max abs error against the Keras outputs on
random inputs (batch sizes 1 and 4), seconds, and the native/fallback error
messages. The exported files go to a temporary folder (``--keep DIR`` keeps
them).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

INPUT_SHAPES = {"waveform": (187, 1), "image": (64, 64, 3), "panels": (4, 32, 32, 1)}
NUM_CLASSES = 5
from keras_ecg.models.presets import TINY as SMALL  # noqa: E402  (narrow widths for --small)


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("tensorflow", "jax", "torch"),
                   default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    p.add_argument("--models", nargs="+", default=["*"], help="shell patterns of model names")
    p.add_argument("--merge", action="store_true",
                   help="update these models in an existing result file, keep the others")
    p.add_argument("--formats", nargs="+", default=["keras", "saved_model", "onnx"])
    p.add_argument("--small", action="store_true", help="narrow widths (quick run)")
    p.add_argument("--no-fallback", action="store_true", help="native exporters only")
    p.add_argument("--atol", type=float, default=1e-4)
    p.add_argument("--keep", help="keep the exported files under this folder")
    p.add_argument("--out", default=None, help="result JSON (default benchmarks/results/export_<backend>.json)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = _parse(argv)
    from keras_ecg import backend as kb

    kb.use(args.backend)
    import numpy as np

    import keras_ecg
    from keras_ecg import _atomic
    from keras_ecg import export
    from keras_ecg.deploy.export.tf_fallback import exporter_versions
    from keras_ecg.registry import input_kind

    names = sorted({n for pat in args.models for n in keras_ecg.list_models(pat)})
    work = pathlib.Path(args.keep) if args.keep else pathlib.Path(tempfile.mkdtemp(prefix="export_all_"))
    out_path = pathlib.Path(args.out or ROOT / "benchmarks" / "results" / f"export_{args.backend}.json")
    results = {
        "backend": args.backend,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": "small" if args.small else "default widths",
        "num_classes": NUM_CLASSES,
        "input_shapes": {k: list(v) for k, v in INPUT_SHAPES.items()},
        "fallback": not args.no_fallback,
        "atol": args.atol,
        "verification_inputs": "random normal (seed 0), batch sizes 1 and 4",
        "models": {},
    }
    t_all = time.perf_counter()
    try:
        for name in names:
            kind = input_kind(name)
            entry = {"input_kind": kind, "input_shape": list(INPUT_SHAPES[kind]), "formats": {}}
            results["models"][name] = entry
            try:
                t0 = time.perf_counter()
                model = keras_ecg.build(name, INPUT_SHAPES[kind], NUM_CLASSES,
                                        **(SMALL.get(name, {}) if args.small else {}))
                entry["params"] = int(model.count_params())
                entry["build_seconds"] = round(time.perf_counter() - t0, 2)
            except Exception as e:  # noqa: BLE001
                entry["build_error"] = f"{type(e).__name__}: {e}"[:500]
                print(f"{name:22s} BUILD FAILED {entry['build_error']}", flush=True)
                continue
            x = np.random.default_rng(0).normal(size=(4, *INPUT_SHAPES[kind])).astype("float32")
            for fmt in args.formats:
                t0 = time.perf_counter()
                dest = work / name / fmt
                try:
                    card = export(model, dest, formats=(fmt,), sample_inputs=x, atol=args.atol,
                                  fallback=not args.no_fallback)
                    r = dict(card["export"]["formats"][fmt])
                    r.pop("file", None)
                except Exception as e:  # noqa: BLE001
                    r = {"status": "failed", "error": f"{type(e).__name__}: {e}"[:1500]}
                    if os.environ.get("EXPORT_ALL_TRACEBACK"):
                        traceback.print_exc()
                r["total_seconds"] = round(time.perf_counter() - t0, 2)
                entry["formats"][fmt] = r
                if not args.keep:
                    shutil.rmtree(dest, ignore_errors=True)
                err = r.get("max_abs_error")
                print(f"{name:22s} {fmt:12s} {r['status']:7s} {r.get('path', ''):22s} "
                      f"{'' if err is None else f'{err:.2e}':9s} {r['total_seconds']:6.1f}s"
                      + (f"  {r['error'][:160]}" if r["status"] != "ok" else ""), flush=True)
            del model
            keras_clear()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = results["seconds"] = round(time.perf_counter() - t_all, 1)
    if args.merge and out_path.exists():
        old = json.loads(out_path.read_text())
        merged = {**old.get("models", {}), **results["models"]}
        results["models"] = {k: merged[k] for k in sorted(merged)}
        results["updated_models"] = {"created": results["created"], "models": names}
        results["created"] = old.get("created", results["created"])
        results["seconds"] = old.get("seconds")
    results["versions"] = exporter_versions(args.backend)
    summary = {}
    for fmt in args.formats:
        s = {"ok_native": [], "ok_fallback": [], "failed": []}
        for name, e in results["models"].items():
            r = e["formats"].get(fmt)
            if r is None:
                s["failed"].append(name)
            elif r["status"] != "ok":
                s["failed"].append(name)
            elif r.get("path") == "tensorflow-subprocess":
                s["ok_fallback"].append(name)
            else:
                s["ok_native"].append(name)
        errs = [e["formats"][fmt]["max_abs_error"] for e in results["models"].values()
                if e["formats"].get(fmt, {}).get("status") == "ok"]
        s["max_abs_error"] = max(errs) if errs else None
        summary[fmt] = s
    results["summary"] = summary
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _atomic.write_json(out_path, results)
    print(f"\nwrote {out_path} (this run: {elapsed} s)")
    for fmt, s in summary.items():
        print(f"  {fmt:12s} native {len(s['ok_native'])}, fallback {len(s['ok_fallback'])}, "
              f"failed {len(s['failed'])} {s['failed'] or ''}  max err {s['max_abs_error']}")
    return 0 if all(not s["failed"] for s in summary.values()) else 1


def keras_clear():
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


if __name__ == "__main__":
    sys.exit(main())
