"""Choosing the heartbeat configuration without DS2: a record-wise 2-fold cross-validation inside DS1.

    KERAS_ECG_DATA=../shared/data python benchmarks/cv_mitbih.py                    # every variant, seed 0
    KERAS_ECG_DATA=../shared/data python benchmarks/cv_mitbih.py --only 1,2 --seeds 0,1 --jobs 2

Each variant is ``recipes/mitbih_hybrid.py --split ds1cv --fold k`` for both folds of
``keras_ecg.data.splits.DS1_FOLDS`` (one fold trains, validated on its records in ``DS1_FOLD_VAL``;
the other is scored), one model per run (``--members 1``), plus the variant's flags. DS2 is never read.
The EC57 counts of the two held-out folds are pooled (true/false positives and misses per class, and
correct beats over all beats), on reference beats and end to end on detected R peaks. Writes
``benchmarks/results/cv_mitbih.json`` and ``cv_mitbih.md``; a re-run with ``--only`` keeps the other
rows. A variant is worth taking into the main job when it moves the pooled figures by more than the
spread between seeds.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from accuracy_mitbih import SCORED, run_recipe  # noqa: E402
from harness.measure import cpu_model  # noqa: E402
from keras_ecg import _atomic  # noqa: E402
from keras_ecg.data import splits  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
VARIANTS = {  # name -> flags on top of the main recipe's configuration (one model)
    "main configuration, one model": [],
    "peaks aligned to the detector's fiducial": ["--align-peaks"],
    "augmentation (shift, scale, wander, noise)": ["--augment"],
    "two leads (MLII + V1, else the record's other lead)": ["--leads", "MLII,V1"],
    "balanced sampling instead of class weights": ["--balance"],
    "no RR layer (RR features joined directly)": ["--model-args", '{"rr_units": 0}'],
    "early stopping and checkpoint on validation loss": ["--monitor", "val_loss"],
    "15 epochs (cosine over 15)": ["--epochs", "15"],
    "class weights capped at 8": ["--class-weight-cap", "8"],
    "rhythm-context RR features (pre/previous, pre/median of 8, local irregularity)": ["--rr-context"],
    "no beat rule in AF (the model's classes; rows above this one were run before the rule existed)":
        ["--af-rule", "none"],
}


def pool(parts: list) -> dict:
    """Pooled EC57 figures of several held-out sides (their reports' ``per_class`` counts and ``n``)."""
    n = sum(p["n"] for p in parts)
    correct = sum(int(np.trace(np.asarray(p["confusion"]))) for p in parts)
    out = {"n": n, "accuracy": correct / n if n else None, "f1": {}, "se": {}, "ppv": {}}
    for c in SCORED:
        tp = sum(p["per_class"][c]["tp"] for p in parts)
        fp = sum(p["per_class"][c]["fp"] for p in parts)
        fn = sum(p["per_class"][c]["fn"] for p in parts)
        out["f1"][c] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
        out["se"][c] = tp / (tp + fn) if tp + fn else None
        out["ppv"][c] = tp / (tp + fp) if tp + fp else None
    out["macro_f1"] = float(np.mean([v for v in out["f1"].values() if v is not None]))
    return out


def run_variant(name: str, flags: list, seed: int, backend: str, work: pathlib.Path) -> dict:
    reports, walls = [], []
    for fold in (0, 1):
        tag = "-".join(f.strip("-").replace("{", "").replace("}", "").replace('"', "").replace(":", "")
                       .replace(" ", "") for f in flags) or "main"
        r = run_recipe(seed, ["--members", "1", "--split", "ds1cv", "--fold", str(fold), *flags], backend,
                       work / f"{tag}-seed{seed}-fold{fold}")
        reports.append(r["report"]["ec57"])
        walls.append(r["wall_s"])
    return {"name": name, "flags": flags, "seed": seed, "wall_s": walls,
            "reference": pool([e["reference"] for e in reports]), "detected": pool([e["detected"] for e in reports])}


def _cell(rows, side, get) -> str:
    vals = [get(r[side]) for r in rows]
    return f"{np.mean(vals):.3f}" + (f" ± {np.std(vals):.3f}" if len(vals) > 1 else "")


def markdown(res: dict) -> str:
    lines = ["# MIT-BIH configuration choice: DS1 record-wise 2-fold cross-validation (DS2 unused)", "",
             f"`python benchmarks/cv_mitbih.py`; backend {res['backend']}, CPU {res['cpu']}; one model per run "
             "(`--members 1`), both folds pooled; mean ± std over the seeds listed.", "",
             "| variant | seeds | accuracy | macro-F1 | F1 S | F1 V | detected accuracy | detected macro-F1 |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name in dict.fromkeys(r["name"] for r in res["rows"]):
        rows = [r for r in res["rows"] if r["name"] == name]
        seeds = ",".join(str(r["seed"]) for r in rows)
        lines.append(f"| {name} | {seeds} | {_cell(rows, 'reference', lambda s: s['accuracy'])} | "
                     f"{_cell(rows, 'reference', lambda s: s['macro_f1'])} | "
                     f"{_cell(rows, 'reference', lambda s: s['f1']['S'])} | "
                     f"{_cell(rows, 'reference', lambda s: s['f1']['V'])} | "
                     f"{_cell(rows, 'detected', lambda s: s['accuracy'])} | "
                     f"{_cell(rows, 'detected', lambda s: s['macro_f1'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0")
    p.add_argument("--backend", default="jax")
    p.add_argument("--only", default=None, help="comma-separated numbers (1-based) of the variants to run")
    p.add_argument("--jobs", type=int, default=1, help="variants run side by side (each run is one process)")
    p.add_argument("--work", default=str(ROOT / "runs" / "cv_mitbih"))
    p.add_argument("--out", default=str(RESULTS / "cv_mitbih.json"))
    args = p.parse_args(argv)
    out = pathlib.Path(args.out)
    chosen = list(VARIANTS.items())
    if args.only:
        chosen = [chosen[int(i) - 1] for i in args.only.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    res = json.loads(out.read_text()) if out.exists() and args.only else {}
    redo = {(n, s) for n, _ in chosen for s in seeds}
    res.update(backend=args.backend, cpu=cpu_model(), date=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               folds=[list(f) for f in splits.DS1_FOLDS], fold_val=[list(v) for v in splits.DS1_FOLD_VAL])
    res["rows"] = [r for r in res.get("rows", []) if (r["name"], r["seed"]) not in redo]
    jobs = [(n, f, s) for n, f in chosen for s in seeds]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool_:
        for row in pool_.map(lambda j: run_variant(*j, args.backend, pathlib.Path(args.work)), jobs):
            res["rows"].append(row)
            print(f"{row['name']} seed {row['seed']}: accuracy {row['reference']['accuracy']:.4f}, macro-F1 "
                  f"{row['reference']['macro_f1']:.4f}, detected {row['detected']['accuracy']:.4f}", flush=True)
            _atomic.write_json(out, res)
            _atomic.write_text(out.with_suffix(".md"), markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
