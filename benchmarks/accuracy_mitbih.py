"""Inter-patient accuracy of the main MIT-BIH recipe (DS1 -> DS2), over seeds, with ablations.

    KERAS_ECG_DATA=../shared/data python benchmarks/accuracy_mitbih.py                 # 3 seeds
    KERAS_ECG_DATA=../shared/data python benchmarks/accuracy_mitbih.py --ablations     # + one run per ablation

Each run is ``recipes/mitbih_hybrid.py`` in its own process (its default configuration, plus the flags of
an ablation), reading the real MIT-BIH records; DS2 is evaluated once per run, at the end, and chooses
nothing (validation: DS1 records 205 220 223, the run configuration's val_records). The figures are the AAMI EC57 ones of the run's
report: on the reference beat positions and end to end on detected R peaks. Writes
``benchmarks/results/accuracy_mitbih.json`` (top-level ``reference`` and ``detected``: means over the
seeds of ``accuracy``, ``macro_f1`` and per-class ``f1``/``se``/``ppv``; ``*_std`` the spread) and
``accuracy_mitbih.md`` (the tables the docs include, docs/evaluation/accuracy.md).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

from harness.measure import cpu_model as cpu_name  # noqa: E402
from keras_ecg import _atomic  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SCORED = ("N", "S", "V", "F")
TARGETS = {"accuracy": 0.955, "f1_S": 0.72, "f1_V": 0.92, "detected_gap": 0.015}  # issue 22
SINGLE = ["--members", "1"]  # ablations train one model, not the ensemble: compare them with the first row
ABLATIONS = {  # name -> the flags that change the main configuration
    "main configuration, one model (no ensemble)": [],
    "no RR features": ["--no-rr-features"],
    "RR features joined directly (no RR layer)": ["--model-args", '{"rr_units": 0}'],
    "with shape features (beat vs template)": ["--shape-features"],
    "constant learning rate (no cosine decay)": ["--lr-schedule", "constant"],
    "no patient template": ["--template-beats", "0"],
    "no RR, no template (morphology only)": ["--no-rr-features", "--template-beats", "0"],
    "window from R-0.05 s (no P wave)": ["--before-s", "0.05"],
    "two leads (MLII + V1, else the record's other lead)": ["--leads", "MLII,V1"],
    "balanced sampling instead of class weights": ["--balance"],
    "augmentation (shift, scale, wander, noise)": ["--augment"],
    "training beats cut at detected R peaks": ["--train-peaks", "detected"],
    "peaks moved to the detector's fiducial (align)": ["--align-peaks"],
}
ANCHORS = [  # published DS1 -> DS2 figures (../shared/ACCURACY.md)
    {"work": "de Chazal 2004", "model": "linear discriminant, RR + morphology, 2 leads", "accuracy": 0.862,
     "S": "Se 0.76 / +P 0.38", "V": "Se 0.77 / +P 0.82"},
    {"work": "Llamedo & Martinez 2011", "model": "linear discriminant, RR + wavelet, 2 leads", "accuracy": 0.93,
     "S": "Se 0.77 / +P 0.39", "V": "Se 0.81 / +P 0.87"},
    {"work": "Mondejar-Guerra 2019", "model": "SVM ensemble, RR + wavelet + HOS + LBP, 2 leads",
     "accuracy": 0.945, "S": "-", "V": "-"},
    {"work": "Niu et al. 2020", "model": "multi-perspective CNN, symbolised morphology + RR", "accuracy": 0.964,
     "S": "F1 0.766", "V": "F1 0.897"},
]


def run_recipe(seed: int, flags, backend: str, out: pathlib.Path) -> dict:
    """Run the main recipe once; return its report.json plus the wall time."""
    cmd = [sys.executable, str(ROOT / "recipes" / "mitbih_hybrid.py"), "--backend", backend, "--seed", str(seed),
           "--out", str(out), "--overwrite", "--export", "keras" if seed == 0 and not flags else "none",
           "--no-plots", "--verbose", "0", *flags]
    t0 = time.time()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.time() - t0
    if done.returncode != 0:
        raise SystemExit(f"accuracy_mitbih: {' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    report = json.loads((out / "report.json").read_text())
    if report.get("synthetic"):
        raise SystemExit("accuracy_mitbih: the recipe fell back to synthetic data; set KERAS_ECG_DATA to the folder "
                         "holding mitdb/")
    if "ec57" not in report:
        raise SystemExit("accuracy_mitbih: the report has no EC57 section (inter split on WFDB records expected)")
    return {"seed": seed, "flags": list(flags), "wall_s": round(wall, 1), "report": report}


def _write_resampled(src, dest, name, fs, lead_names):
    """Record ``name`` of ``src`` resampled to ``fs`` with its leads renamed, written to ``dest``."""
    import wfdb

    from keras_ecg.data import mitbih
    from keras_ecg.data import signal as S

    rec = mitbih.load_record(pathlib.Path(src) / name)
    x = S.resample(rec.signal, rec.fs, fs, axis=0).astype(np.float64)
    names = [lead_names.get(l, l) for l in rec.leads]
    wfdb.wrsamp(name, fs=fs, units=["mV"] * x.shape[1], sig_name=names, p_signal=x, fmt=["16"] * x.shape[1],
                adc_gain=[1000.0] * x.shape[1], baseline=[0] * x.shape[1], write_dir=str(dest))
    keep = np.isin(rec.ann_symbols, list(mitbih.AAMI_MAP))
    samples = S.resample_index(rec.ann_samples[keep], rec.fs, fs)
    wfdb.wrann(name, "atr", samples, list(rec.ann_symbols[keep]), write_dir=str(dest))


def resampled(run_dir: pathlib.Path, backend: str, rates=(200, 250, 500)) -> list:
    """The seed-0 model on DS2 records resampled to other rates, MLII renamed (II, ECG1): reference-beat figures."""
    import tempfile

    os.environ["KERAS_BACKEND"] = backend
    import keras_ecg
    from keras_ecg import card as C
    from keras_ecg.data import splits
    from keras_ecg.evaluation import records as ER

    model = keras_ecg.load_model(run_dir / "model.keras")
    card = C.read(run_dir / "model_card.json")
    prep = card.preprocessing
    folder = pathlib.Path(os.environ["KERAS_ECG_DATA"]) / "mitdb"

    def predict(xs):
        return model.predict(xs if len(xs) > 1 else xs[0], batch_size=1024, verbose=0)

    out = []
    for fs, lead in zip(rates, ("II", "ECG1", "MLII")):
        with tempfile.TemporaryDirectory() as tmp:
            for name in splits.DS2:
                _write_resampled(folder, tmp, name, fs, {"MLII": lead})
            r = ER.evaluate_records(predict, tmp, splits.DS2, prep, rhythm=card.rhythm_config())
        out.append({"fs": fs, "lead_name": lead, "reference": summary(r["reference"]),
                    "detected": summary(r["detected"])})
        print(f"  {fs} Hz, MLII named {lead}: accuracy {r['reference']['accuracy']:.4f}", flush=True)
    return out


def _val_records() -> list:
    """The validation records of the main recipe's configuration."""
    import importlib.util

    from keras_ecg.training import runner

    spec = importlib.util.spec_from_file_location("mitbih_hybrid", ROOT / "recipes" / "mitbih_hybrid.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return [str(r) for r in runner.parse_args(mod.CONFIG, []).val_records]


def summary(side: dict) -> dict:
    """The figures of one EC57 dict that the results keep."""
    pc = side["per_class"]
    return {"accuracy": side["accuracy"], "macro_f1": side["macro_f1"],
            "f1": {c: pc[c]["f1"] for c in SCORED}, "se": {c: pc[c]["se"] for c in SCORED},
            "ppv": {c: pc[c]["ppv"] for c in SCORED}, "fpr": {c: pc[c]["fpr"] for c in SCORED},
            "support": {c: pc[c]["support"] for c in SCORED}}


def _mean_std(values):
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    return float(np.nanmean(v)), float(np.nanstd(v))


def aggregate(runs, side: str) -> dict:
    """Means (and ``*_std`` spreads) over runs of one side (reference or detected)."""
    sums = [summary(r["report"]["ec57"][side]) for r in runs]
    out = {}
    for key in ("accuracy", "macro_f1"):
        out[key], out[key + "_std"] = _mean_std([s[key] for s in sums])
    for key in ("f1", "se", "ppv", "fpr"):
        pairs = {c: _mean_std([s[key][c] for s in sums]) for c in SCORED}
        out[key] = {c: m for c, (m, _) in pairs.items()}
        out[key + "_std"] = {c: sd for c, (_, sd) in pairs.items()}
    out["support"] = sums[0]["support"]
    if side == "detected":
        det = [r["report"]["ec57"]["detected"] for r in runs]
        out["detector_se"] = det[0].get("detector_se")
        out["detector_ppv"] = det[0].get("detector_ppv")
    return out


def _fmt(m, s=None):
    if m is None or (isinstance(m, float) and np.isnan(m)):
        return "—"
    return f"{m:.3f}" if s is None else f"{m:.3f} ± {s:.3f}"


def _jobs(res) -> str:
    """How many ablation runs shared the machine: one figure, or the range over rows run apart."""
    jobs = sorted({int(a.get("jobs", res.get("ablation_jobs") or 1)) for a in res.get("ablations", [])} or {1})
    return str(jobs[0]) if len(jobs) == 1 else f"{jobs[0]} to {jobs[-1]}"


def markdown(res: dict) -> str:
    lines = [f"# MIT-BIH inter-patient accuracy ({res['split']})", "",
             f"`{res['command']}`; {len(res['seeds'])} seeds ({', '.join(map(str, res['seeds']))}), backend "
             f"{res['backend']}, CPU {res['cpu']}; mean ± spread (std) over seeds. DS2 is evaluated once per run "
             f"and chooses nothing; validation records {', '.join(res['validation_records'])} (DS1). Beat classes "
             "after the run's rhythm analysis (the model card's `rhythm`: beats in detected AF are not called S).", "",
             "| beats | accuracy | macro-F1 (NSVF) | F1 N | F1 S | F1 V | F1 F | Se S / +P S | Se V / +P V |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for side in ("reference", "detected"):
        m = res[side]
        lines.append(f"| {side} | {_fmt(m['accuracy'], m['accuracy_std'])} | {_fmt(m['macro_f1'], m['macro_f1_std'])} | "
                     + " | ".join(_fmt(m["f1"][c], m["f1_std"][c]) for c in SCORED)
                     + f" | {_fmt(m['se']['S'])} / {_fmt(m['ppv']['S'])} | {_fmt(m['se']['V'])} / {_fmt(m['ppv']['V'])} |")
    lines += ["", f"Wall time per run (train + evaluate, no export): {res['wall_s_mean']:.0f} s mean "
              f"(max {res['wall_s_max']:.0f} s). Detector on DS2: Se {_fmt(res['detected'].get('detector_se'))}, "
              f"+P {_fmt(res['detected'].get('detector_ppv'))}.", "",
              "Targets (issue 22): " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in res["targets_met"].items()),
              "", "## Published anchors (DS1 -> DS2)", "", "| work | model | accuracy | S | V |", "|---|---|---:|---|---|"]
    lines += [f"| {a['work']} | {a['model']} | {a['accuracy']} | {a['S']} | {a['V']} |" for a in ANCHORS]
    if res.get("resampled"):
        lines += ["", "## Other recording set-ups (seed-0 model, DS2 records resampled, MLII renamed)", "",
                  "| rate | lead name | accuracy (reference) | accuracy (detected) | F1 S | F1 V |",
                  "|---|---|---:|---:|---:|---:|",
                  f"| 360 Hz (native) | MLII | {_fmt(res['per_seed'][0]['reference']['accuracy'])} | "
                  f"{_fmt(res['per_seed'][0]['detected']['accuracy'])} | "
                  f"{_fmt(res['per_seed'][0]['reference']['f1']['S'])} | {_fmt(res['per_seed'][0]['reference']['f1']['V'])} |"]
        lines += [f"| {r['fs']} Hz | {r['lead_name']} | {_fmt(r['reference']['accuracy'])} | "
                  f"{_fmt(r['detected']['accuracy'])} | {_fmt(r['reference']['f1']['S'])} | {_fmt(r['reference']['f1']['V'])} |"
                  for r in res["resampled"]]
    if res.get("ablations"):
        since = f", run {res['ablations_from']}, before the beat rule in AF existed" if res.get("ablations_from") else ""
        lines += ["", f"## Ablations (one model each, seed 0, reference beats; detected beats in brackets{since})", "",
                  "Each row changes one thing against the first row, the main configuration trained as one model "
                  "instead of the ensemble" + (f" ({_jobs(res)} runs at a time)" if _jobs(res) != "1" else "") + ".", "",
                  "| configuration | accuracy | macro-F1 | F1 S | F1 V | F1 F |", "|---|---:|---:|---:|---:|---:|"]
        for a in res["ablations"]:
            r, d = a["reference"], a["detected"]
            lines.append(f"| {a['name']} | {_fmt(r['accuracy'])} ({_fmt(d['accuracy'])}) | {_fmt(r['macro_f1'])} | "
                         f"{_fmt(r['f1']['S'])} | {_fmt(r['f1']['V'])} | {_fmt(r['f1']['F'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--backend", default="jax", help="the backend of `make run`")
    p.add_argument("--ablations", action="store_true", help="also one run (seed 0) per ablation")
    p.add_argument("--only", default=None, help="comma-separated numbers (1-based) of the ablations to run")
    p.add_argument("--only-ablations", action="store_true", help="keep the seed runs of an existing results file")
    p.add_argument("--jobs", type=int, default=1,
                   help="ablation runs at a time (each is its own process; their wall times then overlap)")
    p.add_argument("--work", default=str(ROOT / "runs" / "accuracy_mitbih"), help="folder for the runs")
    p.add_argument("--out", default=str(RESULTS / "accuracy_mitbih.json"))
    args = p.parse_args(argv)
    if not os.environ.get("KERAS_ECG_DATA"):
        raise SystemExit("accuracy_mitbih: set KERAS_ECG_DATA to the folder holding mitdb/ (e.g. ../shared/data)")
    work, out = pathlib.Path(args.work), pathlib.Path(args.out)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.only_ablations:
        res = json.loads(out.read_text())
    else:
        runs = []
        for s in seeds:
            print(f"seed {s} ...", flush=True)
            runs.append(run_recipe(s, [], args.backend, work / f"seed{s}"))
            print(f"  {runs[-1]['wall_s']} s", flush=True)
        rep = runs[0]["report"]
        res = {
            "benchmark": "accuracy_mitbih", "recipe": "recipes/mitbih_hybrid.py",
            "command": f"python benchmarks/accuracy_mitbih.py --seeds {args.seeds} --backend {args.backend}",
            "split": rep["split"], "backend": args.backend, "cpu": cpu_name(), "cores": os.cpu_count(),
            "seeds": seeds, "validation_records": _val_records(),
            "model": rep["extra"].get("model"), "preprocessing": rep["extra"].get("preprocessing"),
            "reference": aggregate(runs, "reference"), "detected": aggregate(runs, "detected"),
            "wall_s": [r["wall_s"] for r in runs],
            "wall_s_mean": float(np.mean([r["wall_s"] for r in runs])),
            "wall_s_max": float(np.max([r["wall_s"] for r in runs])),
            "per_seed": [{"seed": r["seed"], "wall_s": r["wall_s"],
                          "reference": summary(r["report"]["ec57"]["reference"]),
                          "detected": summary(r["report"]["ec57"]["detected"]),
                          "epochs_run": r["report"]["extra"].get("epochs_run"),
                          "best_epoch": r["report"]["extra"].get("best_epoch")} for r in runs],
            "anchors": ANCHORS, "targets": TARGETS,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        print("resampled DS2 records ...", flush=True)
        res["resampled"] = resampled(work / f"seed{seeds[0]}", args.backend)
        ref, det = res["reference"], res["detected"]
        native = res["per_seed"][0]["reference"]["accuracy"]
        res["targets_met"] = {
            "resampled within 0.02 of native (seed 0)": all(abs(r["reference"]["accuracy"] - native) <= 0.02
                                                            for r in res["resampled"]),
            "accuracy >= 0.955": ref["accuracy"] >= TARGETS["accuracy"],
            "F1(S) >= 0.72": (ref["f1"]["S"] or 0) >= TARGETS["f1_S"],
            "F1(V) >= 0.92": (ref["f1"]["V"] or 0) >= TARGETS["f1_V"],
            "detected within 0.015 of reference": abs(ref["accuracy"] - det["accuracy"]) <= TARGETS["detected_gap"],
            "main recipe under 15 min": res["wall_s_max"] < 900,
        }
    if not (args.ablations or args.only_ablations) and out.is_file():
        old = json.loads(out.read_text())
        if old.get("ablations"):  # seed runs alone keep the ablation rows of the results file (and say when)
            res["ablations"] = old["ablations"]
            res["ablations_from"] = old.get("ablations_from") or old.get("created")
    if args.ablations or args.only_ablations:
        chosen = list(ABLATIONS.items())
        if args.only:
            chosen = [chosen[int(i) - 1] for i in args.only.split(",")]
        names = {n for n, _ in chosen}
        # --only with --only-ablations re-runs those rows and keeps the others of the results file
        res["ablations"] = [a for a in res.get("ablations", []) if args.only and a["name"] not in names]
        res["ablation_jobs"] = args.jobs

        def one(item):
            name, flags = item
            flags = [*SINGLE, *flags]
            print(f"ablation: {name} ...", flush=True)
            r = run_recipe(0, flags, args.backend, work / ("ablation-" + "-".join(f.strip("-") for f in flags)))
            return {"name": name, "flags": flags, "wall_s": r["wall_s"], "jobs": args.jobs,
                    "reference": summary(r["report"]["ec57"]["reference"]),
                    "detected": summary(r["report"]["ec57"]["detected"])}

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:  # each run is its own process
            for row in pool.map(one, chosen):
                res["ablations"].append(row)
                _atomic.write_json(out, res)  # after each run: an interrupted sweep keeps what it measured
                _atomic.write_text(out.with_suffix(".md"), markdown(res))
    _atomic.write_json(out, res)
    _atomic.write_text(out.with_suffix(".md"), markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
