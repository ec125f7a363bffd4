"""Rhythm on MIT-BIH: the AF detector chosen on DS1, scored on DS2, with the beat rule's effect on beats.

    KERAS_ECG_DATA=../shared/data python benchmarks/rhythm_mitbih.py                      # pretrained:mitbih_beats
    KERAS_ECG_DATA=../shared/data python benchmarks/rhythm_mitbih.py --model runs/x/model.keras

For every DS1 and DS2 record the model classifies its annotated beats (reference positions) and the R
peaks the toolkit detects; the rhythm analysis (:func:`keras_ecg.rhythm.analyze`) runs on the detected
beats, as ``annotate`` does. Then:

1. **Choice on DS1 only**: each AF detector (``irregularity``, ``cosen``) over a grid of thresholds;
   the configuration with the best AF duration F1 (AFIB + AFL, pooled over all DS1 records, so false
   AF in records without it counts) is kept. DS2 chooses nothing.
2. **DS2**: EC57 AF measures (episode and duration sensitivity and +P) over the records with AF or
   flutter and over all records, AF burden per record against the reference, beat figures (reference
   and detected beats) with and without the beat rule, N sensitivity inside and outside AF and per record.
3. **Other recording set-ups**: DS2 resampled to 200 Hz with its leads renamed I (the second lead,
   listed first) and II (MLII), as an external two-lead 200 Hz database would have them.

Writes ``benchmarks/results/rhythm_mitbih.json`` and ``.md``. Per-record model outputs are cached under
``$KERAS_ECG_CACHE/rhythm_bench`` keyed by the model file and the record set-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from harness.measure import cpu_model as cpu_name  # noqa: E402
from keras_ecg import _atomic  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
THRESHOLDS = {"irregularity": [round(v, 3) for v in np.arange(0.04, 0.161, 0.01)],
              "cosen": [round(v, 2) for v in np.arange(-2.2, -0.59, 0.1)]}
WATCH = ("113", "202", "222", "231")  # irregular but not ectopic: N sensitivity per record
FALSE_AF_BURDEN = 0.005  # the most false AF allowed in DS1 records without AF (share of their time)
TARGETS = {"duration_se": 0.95, "duration_ppv": 0.93, "n_se_each": 0.98}


# ----------------------------------------------------------------------------- model outputs per record

def _write_setup(src, dest, name, fs, rename):
    """Record ``name`` resampled to ``fs``, leads renamed by ``rename`` and the renamed MLII listed second,
    beat and rhythm annotations kept (rhythm notes moved to the new rate)."""
    import wfdb

    from keras_ecg.data import signal as S

    rec = wfdb.rdrecord(str(pathlib.Path(src) / name))
    ann = wfdb.rdann(str(pathlib.Path(src) / name), "atr")
    x = S.resample(rec.p_signal, rec.fs, fs, axis=0).astype(np.float64)
    names = [rename.get(n, n) for n in rec.sig_name]
    order = sorted(range(len(names)), key=lambda i: names[i] != "I")  # the renamed second lead first
    x, names = x[:, order], [names[i] for i in order]
    wfdb.wrsamp(name, fs=fs, units=["mV"] * x.shape[1], sig_name=names, p_signal=x, fmt=["16"] * x.shape[1],
                adc_gain=[1000.0] * x.shape[1], baseline=[0] * x.shape[1], write_dir=str(dest))
    samples = np.minimum(S.resample_index(ann.sample, rec.fs, fs), len(x) - 1)
    keep = np.concatenate([[True], np.diff(samples) > 0])  # two notes on one sample at the new rate: keep the first
    wfdb.wrann(name, "atr", samples[keep], list(np.asarray(ann.symbol)[keep]),
               aux_note=list(np.asarray(ann.aux_note, dtype=object)[keep]), write_dir=str(dest))


def _record_outputs(clf, folder, name) -> dict:
    from keras_ecg.data import beats as B
    from keras_ecg.data import mitbih
    from keras_ecg.data import signal as S
    from keras_ecg.data.model_inputs import record_inputs
    from keras_ecg.evaluation import rhythm as RM

    path = pathlib.Path(folder) / name
    prep = clf.card.preprocessing
    rec = mitbih.load_record(path)
    is_beat = np.isin(rec.ann_symbols, list(mitbih.AAMI_MAP))
    ann_samples = rec.ann_samples[is_beat]
    ann_labels = np.array([mitbih.AAMI_MAP[s] for s in rec.ann_symbols[is_beat]])
    ref = record_inputs(path, prep)
    spec = B.BeatSpec.from_card(prep)
    lead0 = rec.signal[:, B.choose_leads(rec.leads, spec.leads[:1], str(path))[0]]
    det = record_inputs(path, prep, peaks=S.detect_r_peaks(lead0, rec.fs))
    rhythm_ref, duration = RM.reference_rhythm(path)
    kept = np.isin(ann_samples, ref.peaks)
    return {"fs": float(rec.fs), "duration_s": duration, "leads": [str(v) for v in ref.leads_used],
            "ann_samples": ann_samples, "ann_labels": ann_labels,
            "ref_samples": ann_samples[kept], "ref_labels": ann_labels[kept], "ref_probs": clf(ref.inputs),
            "det_samples": det.peaks, "det_probs": clf(det.inputs),
            "rhythm": [list(r) for r in rhythm_ref]}


def _model_key(clf) -> str:
    h = hashlib.sha256()
    for f in sorted(clf.path.parent.glob("*")):
        if f.is_file() and f.suffix in (".keras", ".onnx", ".json"):
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def outputs(clf, folder, names, setup: str) -> dict:
    """``{record: outputs}``, cached per model and set-up."""
    from keras_ecg.data.cache import cache_dir

    cdir = cache_dir() / "rhythm_bench" / _model_key(clf) / setup
    cdir.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names:
        f = cdir / f"{name}.json"
        if f.is_file():
            d = json.loads(f.read_text())
        else:
            d = _record_outputs(clf, folder, name)
            _atomic.write_text(f, json.dumps({k: (v.tolist() if isinstance(v, np.ndarray) else v)
                                              for k, v in d.items()}))
        out[name] = {k: (np.asarray(v) if k not in ("fs", "duration_s", "leads", "rhythm") else v)
                     for k, v in d.items()}
    return out


# ----------------------------------------------------------------------------- scoring

def rhythm_scores(outs, config, class_names) -> dict:
    """Per record AF measures of the rhythm analysis on detected beats, and the pooled figures."""
    from keras_ecg import rhythm
    from keras_ecg.evaluation import rhythm as RM

    per = {}
    for name, o in outs.items():
        r = rhythm.analyze(o["det_samples"] / o["fs"], o["det_probs"], class_names, config)
        per[name] = RM.record_measures(RM.intervals([tuple(v) for v in o["rhythm"]]), RM.intervals(r.episodes),
                                       o["duration_s"])
    with_af = {k: v for k, v in per.items() if v["ref_s"] > 0}
    return {"per_record": per, "af_records": RM.af_measures(with_af), "all_records": RM.af_measures(per)}


def _f1(m):
    se, ppv = m["duration_se"] or 0.0, m["duration_ppv"] or 0.0
    return 0.0 if se + ppv == 0 else 2 * se * ppv / (se + ppv)


def choose(outs_ds1, class_names) -> tuple:
    """The detector and threshold chosen on DS1, and the whole grid.

    Per detector, the lowest threshold whose false AF in the DS1 records without reference AF or
    flutter stays at most FALSE_AF_BURDEN of their time (the most sensitive setting that is quiet
    on sinus rhythm with ectopy); then the detector with the higher duration sensitivity on DS1's
    AF records, ties broken by duration +P. (Pooled duration F1 is in the grid too: it is blind
    between thresholds whose only extra AF lies in 203's ventricular-tachycardia notes, which
    interrupt its AF.)
    """
    from keras_ecg.card_rhythm import RhythmConfig

    grid = []
    for det, values in THRESHOLDS.items():
        for thr in values:
            cfg = RhythmConfig(af_detector=det, af_threshold=float(thr))
            sc = rhythm_scores(outs_ds1, cfg, class_names)
            quiet = [m for m in sc["per_record"].values() if m["ref_s"] == 0]
            false_af = sum(m["det_s"] for m in quiet) / sum(m["duration_s"] for m in quiet)
            grid.append({"detector": det, "threshold": float(thr), "duration_f1": round(_f1(sc["all_records"]), 4),
                         "false_af_burden": round(false_af, 5), **sc["af_records"]})
    picks = []
    for det in THRESHOLDS:
        ok = [g for g in grid if g["detector"] == det and g["false_af_burden"] <= FALSE_AF_BURDEN]
        if ok:
            picks.append(min(ok, key=lambda g: g["threshold"]))
    best = max(picks, key=lambda g: (g["duration_se"] or 0, g["duration_ppv"] or 0))
    return RhythmConfig(af_detector=best["detector"], af_threshold=best["threshold"]), grid


def beat_scores(outs, config, class_names) -> dict:
    """EC57 beat figures on reference and detected beats, N sensitivity inside/outside AF and per record."""
    from keras_ecg import rhythm
    from keras_ecg.evaluation import ec57
    from keras_ecg.evaluation import rhythm as RM

    names = list(class_names)
    ref_t, ref_p, e2e = [], [], {k: [] for k in ("rs", "rl", "ds", "dp", "fs")}
    per_record, n_in = {}, []
    for name, o in outs.items():
        rr = rhythm.analyze(o["ref_samples"] / o["fs"], o["ref_probs"], names, config)
        dr = rhythm.analyze(o["det_samples"] / o["fs"], o["det_probs"], names, config)
        ref_t.append(o["ref_labels"])
        ref_p.append(np.array(rr.classes))
        for k, v in (("rs", o["ann_samples"]), ("rl", np.array([names.index(c) for c in o["ann_labels"]])),
                     ("ds", o["det_samples"]), ("dp", np.array([names.index(c) for c in dr.classes])), ("fs", o["fs"])):
            e2e[k].append(v)
        af_iv = RM.intervals([tuple(v) for v in o["rhythm"]])
        ns = RM.n_sensitivity(o["ref_samples"] / o["fs"], o["ref_labels"], rr.classes, af_iv)
        per_record[name] = {"n_se": ns["all"]["se"], "n_beats": ns["all"]["n_beats"], "relabelled": rr.relabelled,
                            "s_called": int(sum(c == "S" for c in rr.classes)),
                            "s_true": int((o["ref_labels"] == "S").sum())}
        n_in.append(ns)
    y_true = np.array([names.index(c) for c in np.concatenate(ref_t)])
    y_pred = np.array([names.index(c) for c in np.concatenate(ref_p)])
    reference = ec57.beat_metrics(y_true, y_pred, names)
    detected = ec57.end_to_end(e2e["rs"], e2e["rl"], e2e["ds"], e2e["dp"], e2e["fs"], class_names=names)

    return {"reference": _summary(reference), "detected": _summary(detected),
            "n_se_in_af": RM.pooled_n(n_in, "in_af"), "n_se_outside_af": RM.pooled_n(n_in, "outside_af"), "per_record": per_record}


def _summary(m) -> dict:
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
            **{f"{k}_{c}": m["per_class"][c][k] for c in ("N", "S", "V", "F") for k in ("se", "ppv", "f1")}}


# ----------------------------------------------------------------------------- patient adaptation (tried)

def label_shift(probs, prior, iters: int, floor: float = 1e-3) -> np.ndarray:
    """Per-record unsupervised adaptation of the class priors by EM (Saerens et al. 2002, Neural Comput 14:21):
    the record's own class mix is estimated from its unlabelled outputs and the outputs re-weighted to it."""
    q = prior.copy()
    for _ in range(iters):
        a = probs * (q / prior)
        a /= a.sum(axis=1, keepdims=True)
        q = np.maximum(a.mean(axis=0), floor)
        q /= q.sum()
    a = probs * (q / prior)
    return a / a.sum(axis=1, keepdims=True)


def adaptation(clf, sets) -> list:
    """Reference-beat figures of each set with and without the per-record label-shift adaptation."""
    from keras_ecg.evaluation import ec57
    from keras_ecg.evaluation.calibration import apply

    names = list(clf.card.class_names)
    cal = {k: {r: apply(o["ref_probs"], clf.card.calibration) for r, o in outs.items()} for k, outs in sets.items()}
    prior = np.mean(np.concatenate(list(cal["DS1"].values())), axis=0)  # the model's mean output on DS1
    rows = []
    for key, outs in sets.items():
        for iters in (0, 1, 50):
            y = np.concatenate([[names.index(c) for c in o["ref_labels"]] for o in outs.values()])
            p = np.concatenate([label_shift(cal[key][r], prior, iters) if iters else cal[key][r] for r in outs])
            m = _summary(ec57.beat_metrics(y, p.argmax(axis=1), names))
            rows.append({"set": key, "em_iterations": iters, **m})
    return rows


# ----------------------------------------------------------------------------- report

def _f(v, nd=3):
    return "—" if v is None else f"{v:.{nd}f}"


def markdown(res) -> str:
    cfg = res["config"]
    lines = ["# Rhythm on MIT-BIH: AF detection chosen on DS1, scored on DS2", "",
             f"`{res['command']}`; model `{res['model']}`; CPU {res['cpu']}. AF = AFIB + AFL (reference `+` "
             "rhythm notes); the analysis runs on the toolkit's detected R peaks, as `annotate` does. DS2 chooses "
             "nothing.", "",
             f"Chosen on DS1 (see the grid below): detector `{cfg['af_detector']}`, threshold "
             f"{cfg['af_threshold']}, episodes merged across {cfg['af_merge_s']:g} s gaps and kept from "
             f"{cfg['af_min_s']:g} s. Beat rule: `{cfg['af_rule']}`.", "",
             "## AF episodes (EC57 measures)", "",
             "| set-up | records | episode Se | episode +P | duration Se | duration +P |", "|---|---|---:|---:|---:|---:|"]
    for key, label in (("ds1", "DS1 (chooses)"), ("ds2", "DS2"), *[(k, k) for k in res.get("setups", {})]):
        block = res["setups"][key] if key in res.get("setups", {}) else res[key]
        for part in ("af_records", "all_records"):
            m = block["rhythm"][part]
            lines.append(f"| {label} | {'with AF/AFL' if part == 'af_records' else 'all'} ({m['records']}) | "
                         f"{_f(m['episode_se'])} | {_f(m['episode_ppv'])} | {_f(m['duration_se'])} | "
                         f"{_f(m['duration_ppv'])} |")
    lines += ["", "## AF burden per DS2 record (% of the record)", "",
              "| record | reference | detected | AF found (s) / reference (s) | reference episodes > 1 min found |",
              "|---|---:|---:|---:|---:|"]
    for name, m in res["ds2"]["rhythm"]["per_record"].items():
        if m["ref_s"] or m["det_s"]:
            lines.append(f"| {name} | {m['ref_burden']:.1f} | {m['det_burden']:.1f} | {m['both_s']:.0f} / "
                         f"{m['ref_s']:.0f} | {m['long_ref_found']} of {m['long_ref_episodes']} |")
    lines += ["", "## Beats on DS2, without and with the beat rule (no S in AF)", "",
              "| rule | beats | accuracy | macro-F1 | F1 S | Se S / +P S | F1 V | N Se in AF | N Se outside AF |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for rule in ("none", "no_s_in_af"):
        b = res["ds2"]["beats"][rule]
        for side in ("reference", "detected"):
            m = b[side]
            lines.append(f"| {rule} | {side} | {_f(m['accuracy'])} | {_f(m['macro_f1'])} | {_f(m['f1_S'])} | "
                         f"{_f(m['se_S'])} / {_f(m['ppv_S'])} | {_f(m['f1_V'])} | {_f(b['n_se_in_af']['se'])} | "
                         f"{_f(b['n_se_outside_af']['se'])} |")
    lines += ["", "N sensitivity per record (reference beats; irregular but not ectopic records):", "",
              "| record | N Se, no rule | N Se, rule | S called (rule) | S in reference |", "|---|---:|---:|---:|---:|"]
    for name in WATCH:
        a, b = res["ds2"]["beats"]["none"]["per_record"][name], res["ds2"]["beats"]["no_s_in_af"]["per_record"][name]
        lines.append(f"| {name} | {_f(a['n_se'])} | {_f(b['n_se'])} | {b['s_called']} | {b['s_true']} |")
    lines += ["", "## DS1 grid (the choice)", "",
              f"Per detector the lowest threshold with at most {100 * FALSE_AF_BURDEN:g} % false AF in the DS1 records "
              "without AF; then the detector with the higher duration Se. Se and +P over DS1's AF records (201, 203).",
              "", "| detector | threshold | false AF, records without AF | duration Se | duration +P | F1 (all records) "
              "| episode Se | episode +P |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for g in res["grid"]:
        lines.append(f"| {g['detector']} | {g['threshold']} | {100 * g['false_af_burden']:.2f} % | "
                     f"{_f(g['duration_se'])} | {_f(g['duration_ppv'])} | "
                     f"{_f(g['duration_f1'])} | {_f(g['episode_se'])} | {_f(g['episode_ppv'])} |")
    if res.get("adaptation"):
        lines += ["", "## Patient adaptation tried: per-record label-shift EM (Saerens et al. 2002)", "",
                  "Each record's class priors estimated from its own unlabelled, calibrated outputs and the outputs "
                  "re-weighted to them (0 iterations: no adaptation). Reference beats, no beat rule. DS1 is the "
                  "model's training side (in-sample); not kept: it lowers every figure.", "",
                  "| set | EM iterations | accuracy | macro-F1 | F1 S | F1 V |", "|---|---:|---:|---:|---:|---:|"]
        for r in res["adaptation"]:
            lines.append(f"| {r['set']} | {r['em_iterations']} | {_f(r['accuracy'])} | {_f(r['macro_f1'])} | "
                         f"{_f(r['f1_S'])} | {_f(r['f1_V'])} |")
    lines += ["", "Targets (issue 22): " + ", ".join(f"{k} {'met' if v else 'NOT met'}"
                                                  for k, v in res["targets_met"].items()), ""]
    return "\n".join(lines)


def evaluate_set(clf, outs, config) -> dict:
    names = list(clf.card.class_names)
    return {"rhythm": rhythm_scores(outs, config, names),
            "beats": {rule: beat_scores(outs, dataclasses.replace(config, af_rule=rule), names)
                      for rule in ("none", "no_s_in_af")}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="pretrained:mitbih_beats")
    p.add_argument("--no-setups", action="store_true", help="skip the resampled, renamed DS2")
    p.add_argument("--out", default=str(RESULTS / "rhythm_mitbih.json"))
    args = p.parse_args(argv)
    data = os.environ.get("KERAS_ECG_DATA")
    if not data:
        raise SystemExit("rhythm_mitbih: set KERAS_ECG_DATA to the folder holding mitdb/ (e.g. ../shared/data)")
    from keras_ecg.data import splits
    from keras_ecg.deploy import runtime

    t0 = time.time()
    clf = runtime.load(args.model)
    folder = pathlib.Path(data) / "mitdb"
    names = list(clf.card.class_names)
    ds1 = outputs(clf, folder, splits.DS1, "native")
    config, grid = choose(ds1, names)
    print(f"chosen on DS1: {config.af_detector} > {config.af_threshold}", flush=True)
    ds2 = outputs(clf, folder, splits.DS2, "native")
    res = {"benchmark": "rhythm_mitbih", "command": f"python benchmarks/rhythm_mitbih.py --model {args.model}",
           "model": args.model, "cpu": cpu_name(), "split": "inter_patient DS1/DS2 (de Chazal 2004)",
           "config": config.to_card(), "grid": grid,
           "ds1": {"rhythm": rhythm_scores(ds1, config, names)}, "ds2": evaluate_set(clf, ds2, config)}
    res["adaptation"] = adaptation(clf, {"DS1": ds1, "DS2": ds2})
    if not args.no_setups:
        res["setups"] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name in splits.DS2:
                _write_setup(folder, tmp, name, 200, {"MLII": "II", "V1": "I", "V2": "I", "V4": "I", "V5": "I"})
            outs = outputs(clf, tmp, splits.DS2, "200Hz-I-II")
            res["setups"]["DS2 at 200 Hz, leads I, II"] = evaluate_set(clf, outs, config)
    m, b = res["ds2"]["rhythm"]["af_records"], res["ds2"]["beats"]["no_s_in_af"]["per_record"]
    res["targets_met"] = {
        "AF duration Se >= 0.95": (m["duration_se"] or 0) >= TARGETS["duration_se"],
        "AF duration +P >= 0.93": (m["duration_ppv"] or 0) >= TARGETS["duration_ppv"],
        "every AF episode > 1 min found": m["long_ref_found"] == m["long_ref_episodes"],
        "N Se >= 0.98 on 113, 202, 222, 231": all((b[r]["n_se"] or 0) >= TARGETS["n_se_each"] for r in WATCH),
    }
    res["wall_s"] = round(time.time() - t0, 1)
    res["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = pathlib.Path(args.out)
    _atomic.write_json(out, res)
    _atomic.write_text(out.with_suffix(".md"), markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
