"""Accuracy of the three image recipes under duplicate-aware grouped 5-fold cross-validation, beside
the format-only baseline (the shortcut audit), with an ablation of the format-removing preprocessing.

    KERAS_ECG_DATA=../shared/data /work/bin/heavy python benchmarks/accuracy_images.py            # all tasks
    python benchmarks/accuracy_images.py --tasks risk          # re-run one task, keep the others' figures
    python benchmarks/accuracy_images.py --ablations           # + the preprocessing ablation (more training)
    python benchmarks/accuracy_images.py --quick --results /tmp/r   # tiny synthetic share, 2 folds (tests)

Each task is its recipe run with ``--cv 5`` in its own process (``recipes/ecg_images_attention_vgg.py``
for ``five_class``, ``recipes/ecg_images_cnn_lstm.py`` for ``four_class``, ``recipes/ecg_risk.py`` for
``risk``), with the flags in :data:`TASKS`; the folds are the recipe's (:mod:`keras_ecg.training.cv`):
whole duplicate groups per fold, stratified by class, the validation side that picks the epoch carved
from the training folds only. The format baseline (:mod:`keras_ecg.training.format_baseline`) is scored
on the same folds from the page files, and from each preprocessing's model input (no training: cheap).

Every task scores :data:`MODELS` (the page model ``cnn2d``, ``cnn1d`` on the digitised leads, and the
median-beat ``template_baseline``) and their combination, the mean of their out-of-fold probabilities
(:mod:`keras_ecg.training.cv_ensemble`); the combination (:data:`COMBINED`) is the task's figure.

Writes ``benchmarks/results/accuracy_images.json``: one object per task (``five_class``, ``four_class``,
``risk``) with the figure row's CV means ``accuracy``, ``macro_f1``, ``recall`` ({class: mean}) and ``roc_auc`` (the
risk's for ``risk``, the macro one-vs-rest mean otherwise), ``spread``, ``folds``, ``model``, ``flags``,
``wall_s``, ``cpu``, ``targets`` (met or not), ``format_baseline`` (same keys) and ``format_ablation``;
and ``accuracy_images.md``, the tables the docs include (docs/guide/images.md). Other models (e.g. a 1-D model on digitised
leads) join a task as extra rows: add their names to its ``models`` (see :mod:`keras_ecg.training.cv`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from harness.measure import cpu_model  # noqa: E402
from keras_ecg import _atomic  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
K = 5
# task -> recipe, the models, the row that is the task's figure, flags of the CV run, and targets (issue 23)
FLAGS = ["--page-preprocess", "degrid", "--image-size", "128", "--epochs", "10", "--patience", "4",
         "--class-weight", "balanced"]  # sized so that the three 5-fold runs fit ~40 min of this CPU
# the page model, the digitised-lead model, and the classical models on the median beats (with the measurements)
MODELS = ["cnn2d", "cnn1d", "template_baseline", "measures_baseline"]
COMBINED = "best combination"  # the task's figure: its best "mean of ..." row (cv_ensemble), what ships
TASKS = {
    "five_class": {"recipe": "ecg_images_attention_vgg.py", "models": MODELS, "flags": FLAGS, "figure": COMBINED,
                   "targets": {"macro_f1": 0.85, "recall.mi": 0.75}},
    "four_class": {"recipe": "ecg_images_cnn_lstm.py", "models": MODELS, "flags": FLAGS, "figure": COMBINED,
                   "targets": {"macro_f1": 0.80}},
    "risk": {"recipe": "ecg_risk.py", "models": MODELS, "flags": FLAGS, "figure": COMBINED,
             "targets": {"roc_auc": 0.95}},
}
PAGE_PREPROCESS = ("page", "crop", "degrid", "binary")
ABLATION_TASK = "five_class"  # the page model trained under each preprocessing with --ablations
QUICK_FLAGS = ["--epochs", "1", "--image-size", "32", "--batch-size", "8", "--model-args",
               '{"filters": [4, 8]}']
# the smallest page model for every task: --quick checks the harness (folds, tables, files), not a model
QUICK_MODELS = {"five_class": ["cnn2d"], "four_class": ["cnn2d"], "risk": ["cnn2d"]}


def _recipe_config(recipe: str) -> dict:
    """The recipe's CONFIG (read from its file; the recipe module itself is not run)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(recipe[:-3], ROOT / "recipes" / recipe)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return dict(mod.CONFIG)


def run_cv(task: str, flags, models, data: str, out: pathlib.Path, backend: str, k: int,
           in_process: bool = False) -> tuple:
    """The task's recipe with ``--cv k`` in its own process (``in_process``: in this one, for ``--quick``);
    ``(report.json of the CV run, wall s, command)``."""
    spec = TASKS[task]
    cmd = [sys.executable, str(ROOT / "recipes" / spec["recipe"]), "--cv", str(k), "--model", ",".join(models),
           "--data", data, "--backend", backend, "--out", str(out), "--overwrite", "--export", "none",
           "--no-plots", "--verbose", "0", *flags]
    t0 = time.time()
    if in_process:
        from keras_ecg.training import runner

        runner.main(_recipe_config(spec["recipe"]), cmd[2:])
    else:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"accuracy_images: {' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    wall = time.time() - t0
    return json.loads((out / "report.json").read_text()), round(wall, 1), cmd


def best_combination(rows: dict, task: str) -> str | None:
    """The combination row (``mean of ...``) with the best CV figure: ROC-AUC for ``risk``, else macro-F1.
    Chosen on the CV means themselves (no other data exists to choose on): a mild optimism, stated in the
    results; the shipped bundle (``saved_models/make_pretrained.py``) is this row's members."""
    key = "roc_auc" if task == "risk" else "macro_f1"  # the binary summary's ROC-AUC is the risk's
    combos = {n: r[key] for n, r in rows.items() if n.startswith("mean of ") and r.get(key) is not None}
    return max(combos, key=combos.get) if combos else None


def format_ablation(task: str, data: str, k: int, image_size: int, seed: int = 0, log=print) -> dict:
    """The format baseline on the page files and on each preprocessing's model input (no training)."""
    from keras_ecg.config import RunConfig
    from keras_ecg.data.folds import FoldTable
    from keras_ecg.training import cv

    cfg = RunConfig.for_recipe({**_recipe_config(TASKS[task]["recipe"]), "data": data, "cv": k, "seed": seed,
                                "image_size": image_size})
    cache: dict = {}
    ref = cv.reference(cfg, cache, log)
    table = FoldTable.from_dataset(ref.ds, k, seed, keys=ref.keys)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="format-baseline-"))
    rows = {"page files": cv.cv_format(cfg, table, ref, tmp / "files", source="file", log=log)}
    for p in PAGE_PREPROCESS:
        c = dataclasses.replace(cfg, page_preprocess=p)
        rows[f"model input: {p}"] = cv.cv_format(c, table, cv._load(c, "image", cache, log), tmp / p,
                                                 source="input", log=log)
    return {name: _row(s) for name, s in rows.items() if s}


def _row(s: dict) -> dict:
    """The figures a results row keeps from a CV summary."""
    keys = ("accuracy", "macro_f1", "recall", "roc_auc", "roc_auc_macro", "spread", "folds", "pooled", "num_items",
            "model", "input", "model_args", "top_features", "seconds", "not_held_out", "members", "deployable")
    out = {k: s[k] for k in keys if k in s}
    if "roc_auc" not in out and "roc_auc_macro" in out:
        out["roc_auc"] = out["roc_auc_macro"]
    return out


def _target_check(row: dict, targets: dict) -> dict:
    res = {}
    for key, want in targets.items():
        got = row["recall"].get(key.split(".", 1)[1]) if key.startswith("recall.") else row.get(key)
        res[key] = {"target": want, "got": got, "met": got is not None and got >= want,
                    "gap": None if got is None else round(want - got, 4)}
    return res


def run_task(task, args, data, k, flags, models) -> dict:
    out = pathlib.Path(args.runs) / task
    report, wall, cmd = run_cv(task, flags, models, data, out, args.backend, k, in_process=args.quick)
    rows = report["models"]
    figure = TASKS[task].get("figure") if not args.quick else None
    if figure == COMBINED:
        figure = best_combination(rows, task)
    main = _row(rows[figure if figure in rows else models[0]])
    fb_name = "format_baseline (page files)"
    res = {**main, "task": task, "recipe": TASKS[task]["recipe"], "flags": flags, "split": report["split"],
           "class_names": report["class_names"], "pages": report["pages"], "groups": report["groups"],
           "data_source": report["data_source"], "synthetic": report["synthetic"], "backend": args.backend,
           "wall_s": wall, "cpu": cpu_model(), "command": " ".join(cmd[1:]),
           "format_baseline": _row(rows[fb_name]) if fb_name in rows else None,
           "rows": {name: _row(s) for name, s in rows.items()}}
    res["targets"] = _target_check(main, TASKS[task]["targets"]) if not args.quick else {}
    size = int(flags[flags.index("--image-size") + 1]) if "--image-size" in flags else 224
    res["format_ablation"] = format_ablation(task, data, k, size, log=lambda m: None)
    return res


def ablation(args, data, k, flags, models, done=None) -> dict:
    """The page model of :data:`ABLATION_TASK` trained under each page preprocessing (and the baseline);
    ``done``: the task's own results, reused for its own preprocessing."""
    rows = {}
    at = flags.index("--page-preprocess") if "--page-preprocess" in flags else None
    base = list(flags) if at is None else [*flags[:at], *flags[at + 2:]]
    own = "page" if at is None else flags[at + 1]
    for p in PAGE_PREPROCESS:
        if done and p == own and models[0] in done.get("rows", {}):
            rows[p] = {"model": _row(done["rows"][models[0]]), "wall_s": done["wall_s"],
                       "format_baseline_input": _row(done["rows"][f"format_baseline ({models[0]} input)"])}
            continue
        out = pathlib.Path(args.runs) / f"ablation_{p}"
        report, wall, _ = run_cv(ABLATION_TASK, [*base, "--page-preprocess", p], models, data, out, args.backend, k,
                                 in_process=args.quick)
        m = report["models"]
        rows[p] = {"model": _row(m[models[0]]), "wall_s": wall,
                   "format_baseline_input": _row(m[f"format_baseline ({models[0]} input)"])}
    return rows


# ----------------------------------------------------------------------------- markdown


def _f(v):
    return "—" if v is None else f"{v:.3f}"


def _pm(row, key):
    s = (row.get("spread") or {}).get(key)
    return "—" if not s else f"{s['mean']:.3f} ± {s['std']:.3f}"


def markdown(res: dict) -> str:
    tasks = [t for t in TASKS if t in res]
    if not tasks:
        return "# ECG images: grouped 5-fold cross-validation\n\n(no task run yet)\n"
    first = res[tasks[0]]
    lines = ["# ECG images: grouped cross-validation", "",
             f"Split: {first['split']}. Mean ± std over the folds; each fold's epoch chosen on a validation side "
             f"carved from its training folds. CPU: {first['cpu']} (2 cores, shared). Data: {first['data_source']}"
             f"{' (SYNTHETIC)' if first['synthetic'] else ''}.", "",
             "| task | model | input | accuracy | macro-F1 | ROC-AUC | recall per class | wall |",
             "|---|---|---|---|---|---|---|---|"]
    for t in tasks:
        r = res[t]
        for name, row in r["rows"].items():
            rec = ", ".join(f"{c} {_f(v)}" for c, v in row["recall"].items())
            wall = f"{r['wall_s'] / 60:.1f} min (all rows)" if name == r["model"] else ""
            lines.append(f"| {t} | {name.split(' (')[0]} | {row.get('input', '')} | {_pm(row, 'accuracy')} "
                         f"| {_pm(row, 'macro_f1')} | {_pm(row, 'roc_auc')} | {rec} | {wall} |")
    lines += ["", "Targets (issue 23):", ""]
    for t in tasks:
        for key, c in res[t].get("targets", {}).items():
            lines.append(f"- {t} {key}: {_f(c['got'])} (target {c['target']}; "
                         f"{'met' if c['met'] else 'missed by ' + _f(c['gap'])})")
    lines += ["", "Format-only baseline (no trace information) from the page files and from what each page "
              "preprocessing shows a model (same folds; macro-F1, and ROC-AUC for risk):", "",
              "| task | " + " | ".join(res[tasks[0]]["format_ablation"]) + " |",
              "|---|" + "---|" * len(res[tasks[0]]["format_ablation"])]
    for t in tasks:
        ab = res[t]["format_ablation"]
        key = "roc_auc" if t == "risk" else "macro_f1"
        lines.append(f"| {t} ({'ROC-AUC' if t == 'risk' else 'macro-F1'}) | "
                     + " | ".join(_f(ab[n].get(key)) for n in ab) + " |")
    if res.get("ablation"):
        lines += ["", f"Preprocessing ablation ({ABLATION_TASK}, {res['ablation_model']}): the model and the format "
                  "baseline of its input, macro-F1:", "", "| preprocess | model | format baseline (input) |",
                  "|---|---|---|"]
        for p, a in res["ablation"].items():
            lines.append(f"| {p} | {_pm(a['model'], 'macro_f1')} | {_pm(a['format_baseline_input'], 'macro_f1')} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", "--only", dest="tasks", default=",".join(TASKS),
                   help="comma-separated tasks to (re-)run; the others keep their figures from the results file")
    p.add_argument("--ablations", action="store_true", help="also train the page model under each preprocessing")
    p.add_argument("--quick", action="store_true", help="a tiny synthetic image folder, 2 folds, 1 epoch (tests)")
    p.add_argument("--backend", default="tensorflow",
                   help="Keras backend of the CV runs (default tensorflow: 4-5x faster than jax for the image "
                        "models on this CPU, benchmarks/results/cpu-2core.md)")
    p.add_argument("--data", default=None, help="the image folder (default: $KERAS_ECG_DATA/ecg_images)")
    p.add_argument("--results", default=str(RESULTS), help="folder of accuracy_images.json and .md")
    p.add_argument("--runs", default=None, help="folder of the CV runs (default: a temporary one)")
    args = p.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise SystemExit(f"accuracy_images: unknown task(s) {', '.join(bad)}; known: {', '.join(TASKS)}")
    args.runs = args.runs or tempfile.mkdtemp(prefix="accuracy-images-")
    k = K
    if args.quick:
        from keras_ecg.data.images import synthetic_pages

        data = str(synthetic_pages.write_folder(pathlib.Path(args.runs) / "pages", n_per_class=3, width=400,
                                                height=284))
        k = 2
    else:
        data = args.data or str(pathlib.Path(os.environ.get("KERAS_ECG_DATA", "")) / "ecg_images")
        if not pathlib.Path(data).is_dir():
            raise SystemExit(f"accuracy_images: {data}: no image folder (set KERAS_ECG_DATA or --data)")
    results = pathlib.Path(args.results)
    path = results / "accuracy_images.json"
    res = json.loads(path.read_text()) if path.is_file() else {}
    for t in tasks:
        flags = QUICK_FLAGS if args.quick else TASKS[t]["flags"]
        models = QUICK_MODELS[t] if args.quick else TASKS[t]["models"]
        print(f"accuracy_images: {t} ({k}-fold CV, {', '.join(models)})", flush=True)
        res[t] = run_task(t, args, data, k, flags, models)
        _atomic.write_json(path, res)  # each finished task is kept, whatever happens to the next
    if args.ablations:
        t = ABLATION_TASK
        flags = QUICK_FLAGS if args.quick else TASKS[t]["flags"]
        models = QUICK_MODELS[t] if args.quick else TASKS[t]["models"][:1]
        res["ablation"], res["ablation_model"] = ablation(args, data, k, flags, models, res.get(t)), models[0]
    _atomic.write_json(path, res)
    _atomic.write_text(results / "accuracy_images.md", markdown(res))
    print(markdown(res))
    return res


if __name__ == "__main__":
    main()
