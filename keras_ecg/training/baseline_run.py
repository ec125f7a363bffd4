"""The classical baseline as a recipe "model": ``--model baseline_lda`` (or ``baseline_svm``,
``baseline_logreg``) beside the deep models, on the same data, split and reports.

The baseline (:class:`keras_ecg.evaluation.baseline.FeatureBaseline`) reads the same beats and RR
features the deep models get (the lead channels only, not the template channels; the RR features as the
spec gives them), is fitted on the training side (the validation side chooses nothing: it has no epochs),
scored on the test side by the same report and EC57 code, and saved as ``baseline.pkl`` (a pickle:
trusted input only). It needs the RR features (``rr_features`` on).
"""

from __future__ import annotations

import time

import numpy as np

from keras_ecg.errors import RunError

PREFIX = "baseline_"
NAMES = ("baseline_lda", "baseline_svm", "baseline_logreg")


def is_baseline(name: str) -> bool:
    return name in NAMES


def _split_inputs(ds, prep):
    """(lead channels of the beats, RR features as the data holds them) of a dataset."""
    n_rr = len(prep.get("rr_features") or [])
    if len(ds.inputs) < 2 or not n_rr:
        raise RunError("the baseline needs the RR features: drop --no-rr-features")
    beats, rr = ds.inputs[0], ds.inputs[1]
    beats = beats[..., : len(prep["leads"])]
    return beats, rr[:, :n_rr]  # the shape features after them are the deep models' (the baseline has its own)


def run_baseline(name, data, train, out, log=print) -> tuple:
    """Fit the baseline ``name`` on ``train``; return ``(probs on data.test, predict(inputs) -> probs, extra)``."""
    from keras_ecg.evaluation.baseline import FeatureBaseline

    prep = data.preprocessing
    kind = name[len(PREFIX):]
    model = FeatureBaseline(kind, fs=float(prep["fs"]), before=int(prep["before"]), rr_log=bool(prep.get("rr_log")),
                            max_per_class=3000 if kind == "svm" else None)
    k = len(data.test.class_names)

    def predict(inputs):
        beats, rr = _split_inputs(type("D", (), {"inputs": inputs})(), prep)
        p = model.predict_proba(beats, rr)
        full = np.zeros((len(p), k), dtype=np.float32)  # classes absent from training get probability 0
        full[:, model.classes_] = p
        return full

    t0 = time.time()
    model.fit(*_split_inputs(train, prep), train.y)
    fit_s = time.time() - t0
    log(f"[{name}] fitted in {fit_s:.1f} s on {len(train)} beats")
    model.save(out / "baseline.pkl")
    extra = {"model": name, "baseline": model.params(), "fit_seconds": round(fit_s, 1), "train_items": len(train),
             "train_class_counts": train.class_counts(), "preprocessing": prep}
    return predict(list(data.test.inputs)), predict, extra


def run(cfg, name, out, data, train, ec57=None, log=print) -> dict:
    """Fit, report (and EC57 figures through ``ec57(predict, data, out, report, split)``) one baseline."""
    from keras_ecg.evaluation import evaluate

    out.mkdir(parents=True, exist_ok=True)
    probs, predict, extra = run_baseline(name, data, train, out, log=log)
    split_name = data.test.meta.get("split") or "test"
    extra.update(recipe=cfg.name, seed=cfg.seed, validation=train.meta.get("validation"))
    report = evaluate(probs, data.test, out, split_name=split_name, class_names=list(data.test.class_names),
                      data_source=data.source, extra=extra, synthetic=data.synthetic, plots=cfg.plots)
    if ec57 is not None and cfg.source == "wfdb" and cfg.split in ("inter", "ds1cv"):
        report = ec57(predict, data, out, report, split_name)
    log(f"[{name}] {split_name}: accuracy {report.get('accuracy'):.4f}, macro-F1 {(report.get('macro_f1') or 0):.4f}")
    return report
