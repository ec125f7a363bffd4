"""Duplicate-aware grouped K-fold cross-validation of the image recipes (``--cv K``).

How a CV run goes (:func:`run`, called by the runner instead of its single train/test split):

1. The **fold table** is made once, on the pages themselves (the ``page`` listing of the image folder,
   or the synthetic pages): :class:`keras_ecg.data.folds.FoldTable` deals whole duplicate groups
   (exact copies and near copies share a group, :mod:`keras_ecg.data.images.dedup`) to K folds,
   stratified by class, and keys each page by its file name (by its group id for in-memory pages).
   Every model and the format baseline are scored under this one table, so their figures compare.
2. For each model and fold ``f``: the model's own input (whole pages, lead panels, ...) is loaded once,
   split by the table (fold ``f`` is held out), and the **validation side** that chooses the epoch,
   checkpoint and calibration is carved by group from the other K-1 folds only
   (:func:`keras_ecg.training.sides.carve_validation`); the held-out fold is touched only to be scored.
   Training and the fold's report (``<out>/<model>/fold<f>/report.json``) are the runner's own
   (:func:`keras_ecg.training.runner._run_one`); nothing is exported from a fold.
3. The **format baseline** (:mod:`keras_ecg.training.format_baseline`) is scored on the same folds:
   on the page files, and for each page-input model on what that model is shown.
4. ``<out>/report.json`` and ``report.md`` hold, per model, the mean over folds of accuracy, macro-F1,
   per-class recall (and ROC-AUC), their spread (std, min, max), the per-fold figures and the pooled
   confusion matrix, with the split named.

Plugging in another model or input kind: a model registered in :mod:`keras_ecg.registry` under an
existing input kind (``image``, ``panels``, and ``digitized``: a 1-D waveform model in the images
task reads the 12 leads digitised off each page, :func:`keras_ecg.training.sources.data_input_kind`)
needs nothing here; list it in the recipe's ``model_choices``. A new input kind adds a loader to
:data:`INPUT_LOADERS`::

    def load_signals(cfg, kind, log) -> cv.Loaded:
        ds = ...  # a Dataset of every page it could read, with ds.groups and ds.class_names
        return cv.Loaded(ds, keys=files, prep=prep, source=desc, synthetic=False, warnings=[])

    cv.INPUT_LOADERS["signals"] = load_signals

where ``keys`` names each item by its page file relative to the image folder (the same names as the
fold table's; ``None`` for in-memory synthetic pages, whose items are keyed by group id). The model's
rows then sit beside the others in the run's report and in ``benchmarks/accuracy_images.py``.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from keras_ecg import _atomic
from keras_ecg.errors import RunError


@dataclasses.dataclass
class Loaded:
    """One input kind's whole data: the dataset, each item's key in the fold table, and its description."""

    ds: object
    keys: list | None
    prep: dict
    source: str
    synthetic: bool
    warnings: list
    root: object = None  # the image folder (None for in-memory pages)


def load_images(cfg, kind: str, log=print) -> Loaded:
    """Pages (``image``) or lead panels (``panels``) of the run's image folder, not split."""
    from keras_ecg.training import sources

    ds, prep, desc, res = sources.image_dataset(cfg, cfg.data, kind, seed=cfg.seed, log=log)
    keys = ds.meta.pop("files", None)
    return Loaded(ds, keys, prep, desc, res.synthetic or bool(ds.meta.get("synthetic")), list(res.warnings),
                  None if res.synthetic else res.path)


INPUT_LOADERS = {"image": load_images, "panels": load_images, "digitized": load_images}


def _load(cfg, kind, cache, log) -> Loaded:
    key = (kind, {"panels": cfg.panel_preprocess, "digitized": "digitized"}.get(kind, cfg.page_preprocess))
    if key not in cache:
        if kind not in INPUT_LOADERS:
            raise RunError(f"--cv: no loader for input kind {kind!r} (known: {', '.join(INPUT_LOADERS)})")
        cache[key] = INPUT_LOADERS[kind](cfg, kind, log)
    return cache[key]


def reference(cfg, cache, log=print) -> Loaded:
    """The pages the fold table is made on: the ``page`` listing of the data (every readable page)."""
    return _load(dataclasses.replace(cfg, page_preprocess="page"), "image", cache, log)


# ----------------------------------------------------------------------------- summaries


def _stats(values) -> dict | None:
    v = [float(x) for x in values if x is not None]
    if not v:
        return None
    return {"mean": round(float(np.mean(v)), 4), "std": round(float(np.std(v)), 4),
            "min": round(min(v), 4), "max": round(max(v), 4)}


def summarize(reports, class_names, binary: bool, split: str) -> dict:
    """Mean and spread over folds of accuracy, macro-F1, per-class recall and ROC-AUC; pooled confusion."""
    from keras_ecg.evaluation.metrics import classification_metrics

    per = {
        "accuracy": [r.get("accuracy") for r in reports],
        "macro_f1": [r.get("macro_f1") for r in reports],
        "roc_auc": [r.get("roc_auc_risk") if binary else r.get("roc_auc_macro") for r in reports],
    }
    recall = {c: [(r.get("per_class") or {}).get(c, {}).get("recall") for r in reports] for c in class_names}
    spread = {k: _stats(v) for k, v in per.items()}
    spread["recall"] = {c: _stats(v) for c, v in recall.items()}
    cm = np.sum([np.asarray(r["confusion_matrix"], np.int64) for r in reports], axis=0)
    pooled = classification_metrics(cm, class_names)
    out = {
        "split": split,
        "folds_run": len(reports),
        "accuracy": (spread["accuracy"] or {}).get("mean"),
        "macro_f1": (spread["macro_f1"] or {}).get("mean"),
        "recall": {c: (s or {}).get("mean") for c, s in spread["recall"].items()},
        ("roc_auc" if binary else "roc_auc_macro"): (spread["roc_auc"] or {}).get("mean"),
        "spread": spread,
        "folds": [{"fold": i + 1, "num_test": r.get("num_test"), "accuracy": r.get("accuracy"),
                   "macro_f1": r.get("macro_f1"), "roc_auc": per["roc_auc"][i],
                   "recall": {c: recall[c][i] for c in class_names},
                   "epochs_run": (r.get("extra") or {}).get("epochs_run"),
                   "best_epoch": (r.get("extra") or {}).get("best_epoch")} for i, r in enumerate(reports)],
        "pooled": {"accuracy": pooled["accuracy"], "macro_f1": pooled["macro_f1"],
                   "recall": {c: m["recall"] for c, m in pooled["per_class"].items()},
                   "confusion_matrix": cm.tolist()},
        "num_items": int(cm.sum()),
    }
    return out


def _fmt(s) -> str:
    return "—" if not s else f"{s['mean']:.3f} ± {s['std']:.3f} [{s['min']:.3f}–{s['max']:.3f}]"


def markdown(results: dict, class_names, binary: bool, split: str, title: str) -> str:
    """The CV report table: one row per model (mean ± std [min–max] over folds)."""
    auc = "ROC-AUC (risk)" if binary else "ROC-AUC (macro)"
    head = ["model", "input", "items", "accuracy", "macro-F1", auc, *[f"recall {c}" for c in class_names]]
    lines = [f"# {title}", "", f"Split: {split}. Figures: mean ± std [min–max] over the folds; each fold's "
             "epoch/checkpoint chosen on a validation side carved from its training folds only.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in results.items():
        sp = s["spread"]
        row = [name, s.get("input", ""), str(s["num_items"]), _fmt(sp["accuracy"]), _fmt(sp["macro_f1"]),
               _fmt(sp["roc_auc"]), *[_fmt(sp["recall"].get(c)) for c in class_names]]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- folds


def _check_fold(train, val, test, where):
    held = set(test.groups.astype(str))
    for side, what in ((train, "training"), (val, "validation")):
        leak = held & set(side.groups.astype(str))
        if leak:
            raise RunError(f"{where}: held-out group {sorted(leak)[0]} on the {what} side")


def cv_model(cfg, model_name, table, loaded: Loaded, out, strategy, callbacks=(), log=print) -> dict:
    """K folds of one deep model on ``loaded`` (its input kind); the summary over folds."""
    import keras

    from keras_ecg.training import runner, sources
    from keras_ecg.training.sides import carve_validation

    kind = sources.data_input_kind(cfg.task, model_name)
    ds = loaded.ds
    folds = table.split(ds, loaded.keys, where=f"{model_name} ({kind})", name=table.describe())
    fold_cfg = dataclasses.replace(cfg, export=[], plots=False, cv=0)
    reports = []
    for f, (tr, te) in enumerate(folds):
        sub = out / f"fold{f + 1}"
        done = sub / "report.json"
        if cfg.resume and done.is_file():  # a finished fold of an interrupted CV run
            reports.append(json.loads(done.read_text()))
            log(f"[{model_name}] fold {f + 1}/{table.k}: kept from the interrupted run")
            continue
        sources.check_classes(tr, f"fold {f + 1}'s training side")
        train, val = carve_validation(tr, cfg.val_size, cfg.seed + f)
        _check_fold(train, val, te, f"{model_name} fold {f + 1}")
        log(f"[{model_name}] fold {f + 1}/{table.k}: train {len(train)}, val {len(val)} (from the training folds), "
            f"held out {len(te)}")
        keras.utils.set_random_seed(cfg.seed + f)
        data = sources.Data(tr, te, loaded.source, loaded.synthetic, loaded.warnings, kind, loaded.prep)
        rep = runner._run_one(fold_cfg, model_name, sub, strategy, {kind: (data, train, val)}, callbacks)
        if strategy.is_chief:
            reports.append(rep)
    if not strategy.is_chief:
        return {}
    s = summarize(reports, list(ds.class_names), bool(cfg.binary), table.describe())
    s.update(model=model_name, input=f"{kind} ({loaded.prep.get('preprocess')})",
             model_args=(reports[0].get("extra") or {}).get("model_args") if reports else None,
             not_held_out=len(table.folds) - len(ds))
    return s


def _cv_classical(cfg, table, loaded: Loaded, x, out, model: str, what: str) -> dict:
    """Gradient boosting on the feature rows ``x`` (one per item of ``loaded``) under ``table``'s folds."""
    from keras_ecg.data.dataset import Dataset
    from keras_ecg.evaluation import evaluate
    from keras_ecg.training import format_baseline as FB
    from keras_ecg.training import predictions

    ds = loaded.ds
    feats = Dataset(x, ds.y, ds.groups, ds.class_names, {"source": loaded.source, "synthetic": loaded.synthetic})
    reports = []
    for f, (tr, te) in enumerate(table.split(feats, loaded.keys, where=f"{model} ({what})",
                                             name=table.describe())):
        probs = FB.fit_predict(tr.x, tr.y, te.x, len(ds.class_names), seed=cfg.seed)
        predictions.write(out / f"fold{f + 1}" / predictions.PREDICTIONS, probs, te)
        reports.append(evaluate(probs, te, out / f"fold{f + 1}", split_name=te.meta["split"], plots=False,
                                data_source=loaded.source, synthetic=loaded.synthetic,
                                extra={"model": model, "features": what, "fold": f + 1}))
    return summarize(reports, list(ds.class_names), bool(cfg.binary), table.describe())


def cv_format(cfg, table, loaded: Loaded, out, source: str = "file", log=print) -> dict:
    """The format baseline under ``table``'s folds, from the page files or from a page model's inputs."""
    from keras_ecg.data.images import format_features as ff
    from keras_ecg.training import format_baseline as FB

    ds = loaded.ds
    t0 = time.time()
    if source == "file":
        if loaded.root is None or loaded.keys is None:
            return {}  # in-memory pages have no files: nothing to measure a format on
        x, names = ff.folder_features(loaded.root, loaded.keys, log=log), ff.FEATURES
        what = "page files"
    else:
        tag = f"input-{loaded.prep.get('preprocess')}-{loaded.prep.get('image_size')}"
        x, names = FB.input_features(ds.x, loaded.root, loaded.keys, tag, log=log), ff.IMAGE_FEATURES
        what = f"model input ({loaded.prep.get('preprocess')})"
    s = _cv_classical(cfg, table, loaded, x, out, FB.NAME, what)
    s.update(model=FB.NAME, input=f"format of the {what}", features=list(names),
             top_features=FB.importances(x, ds.y, names, seed=cfg.seed), seconds=round(time.time() - t0, 1))
    log(f"[{FB.NAME}] {what}: accuracy {s['accuracy']:.3f}, macro-F1 {s['macro_f1']:.3f}")
    return s


def cv_template(cfg, table, loaded: Loaded, out, log=print, name: str = "template_baseline") -> dict:
    """A classical model on the digitised leads (:mod:`keras_ecg.training.template_baseline`: ``name`` is
    ``template_baseline`` or ``measures_baseline``)."""
    from keras_ecg.data.images.preprocess import DIGITIZED_FS
    from keras_ecg.training import template_baseline as TB

    x = TB.features(loaded.ds.x, DIGITIZED_FS, name)
    s = _cv_classical(cfg, table, loaded, x, out, name, TB.DESCRIPTION[name] + " of the digitised leads")
    s.update(model=name, input=f"{TB.INPUT_KIND} ({TB.DESCRIPTION[name]})")
    log(f"[{name}] accuracy {s['accuracy']:.3f}, macro-F1 {s['macro_f1']:.3f}")
    return s


# ----------------------------------------------------------------------------- the run


def run(cfg, models, out, strategy, callbacks=(), log=print) -> dict:
    """``--cv K``: every model and the format baseline over the same K folds; ``{row name: summary}``."""
    from keras_ecg.training import sources
    from keras_ecg.training import template_baseline as TB

    if cfg.task != "images":
        raise RunError("--cv: grouped cross-validation is for the image recipes (MIT-BIH uses DS1 -> DS2)")
    if cfg.cv < 2:
        raise RunError(f"--cv {cfg.cv}: K must be at least 2")
    cache: dict = {}
    ref = reference(cfg, cache, log)
    from keras_ecg.data.folds import FoldTable

    table = FoldTable.from_dataset(ref.ds, cfg.cv, cfg.seed, keys=ref.keys)
    log(f"[{cfg.name}] {table.describe()}: {len(ref.ds)} pages in {len(np.unique(ref.ds.groups))} groups")
    results, t0 = {}, time.time()
    for m in models:
        template = TB.is_template_baseline(m)
        kind = TB.INPUT_KIND if template else sources.data_input_kind(cfg.task, m)
        loaded = _load(cfg, kind, cache, log)
        t = time.time()
        if template:
            results[m] = cv_template(cfg, table, loaded, out / m, log, m) if strategy.is_chief else {}
        else:
            results[m] = cv_model(cfg, m, table, loaded, out / m, strategy, callbacks, log)
        if not strategy.is_chief:
            continue
        results[m]["seconds"] = round(time.time() - t, 1)
        if kind == "image":  # how much format the model's own input still shows
            fb = cv_format(cfg, table, loaded, out / f"format_baseline_{m}", source="input", log=log)
            results[f"format_baseline ({m} input)"] = fb
    if not strategy.is_chief:
        return {}
    names, binary = list(ref.ds.class_names), bool(cfg.binary)
    from keras_ecg.training import cv_ensemble

    tables = {}
    for m in (m for m in models if results.get(m)):  # each model's out-of-fold predictions
        try:
            tables[m] = cv_ensemble.pool(out / m, table.k)
        except RunError as e:
            log(f"[{m}] not combined: {e}")
    deep = list(tables)
    keras_only = [m for m in deep if not TB.is_template_baseline(m)]
    classical = [m for m in deep if m not in keras_only]
    combos = [deep] + ([keras_only] if len(keras_only) > 1 and keras_only != deep else [])
    if len(classical) > 1:  # the deep models with each classical model alone
        combos += [keras_only + [c] for c in classical]
    for members in (c for c in combos if len(c) > 1):  # the mean of the members' out-of-fold probabilities
        row = "mean of " + " + ".join(members)
        comb = cv_ensemble.combine({m: tables[m] for m in members}, names, binary, table.k, table.describe(),
                                   out / ("ensemble" if members == deep else "ensemble_" + "_".join(members)),
                                   {"data_source": ref.source, "synthetic": ref.synthetic})
        results[row] = summarize(comb["reports"], names, binary, table.describe())
        results[row].update(model=row, input=" + ".join(results[m]["input"] for m in members), members=members,
                            deployable=members == keras_only)
        log(f"[{row}] accuracy {results[row]['accuracy']:.3f}, macro-F1 {results[row]['macro_f1']:.3f} "
            f"({comb['items']} pages scored by every member)")
    fb = cv_format(cfg, table, ref, out / "format_baseline", source="file", log=log)
    if fb:
        results["format_baseline (page files)"] = fb
    report = {"split": table.describe(), "cv": table.k, "seed": cfg.seed, "recipe": cfg.name,
              "data_source": ref.source, "synthetic": ref.synthetic, "class_names": names, "binary": binary,
              "pages": len(ref.ds), "groups": int(len(np.unique(ref.ds.groups))), "backend": cfg.backend,
              "seconds": round(time.time() - t0, 1), "models": results, "warnings": list(ref.warnings)}
    _atomic.write_json(out / "report.json", report)
    md = markdown(results, names, binary, table.describe(), f"{cfg.name}: {table.k}-fold cross-validation")
    if ref.synthetic:
        md += "\n> WARNING: synthetic pages: these figures say nothing about ECG performance.\n"
    _atomic.write_text(out / "report.md", md)
    log("\n" + md)
    return results
