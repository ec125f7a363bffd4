"""``--bundle``: train several image models on all the pages but a validation side and write them as ONE model
(:mod:`keras_ecg.deploy.bundle`), the configuration the grouped CV chose, ready to ship.

1. The validation side is one fold of the CV's own fold table (:class:`keras_ecg.data.folds.FoldTable`, whole
   duplicate groups, stratified by class) with ``K = round(1 / --val-size)``: about ``--val-size`` of the pages.
2. Each deep member (``cnn2d`` on the page, ``cnn1d`` on the digitised leads, ...) is trained by the runner
   (:func:`keras_ecg.training.runner._run_one`) on the rest, its epoch chosen on the validation side, and
   exported (``.keras`` and its verified ONNX twin) into ``<out>/<member>/``. A classical member
   (:mod:`keras_ecg.training.template_baseline`) is fitted on the rest and kept as ``<member>/model.skops``.
3. The members' validation outputs are averaged (:func:`keras_ecg.evaluation.calibration.as_one_form`), the
   calibration and uncertainty threshold of the mean are fitted on them, and ``<out>/model_card.json`` is the
   bundle's card: the first deep member's card with the ``bundle`` part, the calibration and the validation
   figures (the figures a user should quote are the CV's; ``saved_models/make_pretrained.py`` adds them).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from keras_ecg import _atomic
from keras_ecg import card as C
from keras_ecg.errors import RunError


def _validation_fold(cfg, ref):
    from keras_ecg.data.folds import FoldTable

    k = max(3, int(round(1.0 / float(cfg.val_size)))) if cfg.val_size else 7
    return FoldTable.from_dataset(ref.ds, k, cfg.seed, keys=ref.keys)


def _fit_classical(cfg, name, train, val, out):
    from keras_ecg.data.images.preprocess import DIGITIZED_FS
    from keras_ecg.training import format_baseline as FB
    from keras_ecg.training import template_baseline as TB

    x_train = TB.features(train.x, DIGITIZED_FS, name)
    model = FB.classifier(cfg.seed, len(x_train)).fit(x_train, train.y)
    out.mkdir(parents=True, exist_ok=True)
    TB.save(model, out / "model.skops")
    x_val = TB.features(val.x, DIGITIZED_FS, name)
    full = np.zeros((len(val), len(val.class_names)), np.float64)
    full[:, model.classes_] = model.predict_proba(x_val)
    again = TB.load(out / "model.skops")  # what a user loads gives the same outputs
    diff = float(np.max(np.abs(again.predict_proba(x_val) - full[:, model.classes_])))
    if diff > 1e-9:
        raise RunError(f"{out / 'model.skops'}: reloaded model differs by {diff:g}")
    return full, [int(c) for c in model.classes_]


def run(cfg, models, out, strategy, callbacks=(), log=print) -> dict:
    """Train ``models`` into ``out`` as one bundle; ``{member: validation report, "bundle": ...}``."""
    import keras

    from keras_ecg.evaluation import calibration as CAL
    from keras_ecg.evaluation import evaluate
    from keras_ecg.training import cv, runner, sources
    from keras_ecg.training import predictions as PR
    from keras_ecg.training import template_baseline as TB

    if cfg.task != "images":
        raise RunError("--bundle: for the image recipes (a bundle reads pages)")
    if not strategy.is_chief:
        raise RunError("--bundle: single-process runs only")
    out = pathlib.Path(out)
    cache: dict = {}
    ref = cv.reference(cfg, cache, log)
    table = _validation_fold(cfg, ref)
    where = f"validation side: fold 1 of {table.describe()}"
    member_cfg = dataclasses.replace(cfg, export=list(cfg.export) or ["keras", "onnx"], plots=False, cv=0,
                                     bundle=False)
    reports, members, val_out = {}, [], {}
    for m in models:
        classical = TB.is_template_baseline(m)
        kind = TB.INPUT_KIND if classical else sources.data_input_kind(cfg.task, m)
        loaded = cv._load(cfg, kind, cache, log)
        train, val = table.split(loaded.ds, loaded.keys, where=f"{m} ({kind})", name=table.describe())[0]
        val.meta["split"] = train.meta["split"] = where
        val.meta["validation"] = train.meta["validation"] = where
        sources.check_classes(train, f"{m}'s training side")
        log(f"[{m}] bundle member: train {len(train)}, validation {len(val)} ({where})")
        sub = out / m
        if classical:
            probs, columns = _fit_classical(cfg, m, train, val, sub)
            PR.write(sub / PR.PREDICTIONS, probs, val)
            reports[m] = evaluate(probs, val, sub, split_name=where, plots=False, data_source=loaded.source,
                                  synthetic=loaded.synthetic, extra={"model": m})
            prep = C.ImagePreprocessing(preprocess="digitized")
        else:
            keras.utils.set_random_seed(cfg.seed)
            data = sources.Data(train, val, loaded.source, loaded.synthetic, loaded.warnings, kind, loaded.prep)
            reports[m] = runner._run_one(member_cfg, m, sub, strategy, {kind: (data, train, val)}, callbacks)
            columns = []
            prep = C.read(sub / C.CARD_NAME).preprocessing
        members.append(C.BundleMember(name=m, folder=m, kind="classical" if classical else "keras", input_kind=kind,
                                      preprocessing=prep, columns=columns))
        p = PR.read(sub / PR.PREDICTIONS)
        val_out[m] = {str(k): (pr, int(y)) for k, pr, y in zip(p["keys"], p["probs"], p["y"])}
    deep = [mb for mb in members if mb.kind == "keras"]
    if not deep:
        raise RunError("--bundle: name at least one deep model (its card is the bundle's)")
    keys = sorted(set.intersection(*(set(v) for v in val_out.values())))
    binary = bool(cfg.binary)
    y = np.array([val_out[models[0]][k][1] for k in keys], np.int64)
    mean = np.mean([CAL.as_one_form(np.stack([val_out[m][k][0] for k in keys]), binary) for m in models], axis=0)
    first = C.read(out / deep[0].folder / C.CARD_NAME)
    cal = None
    if cfg.calibration != "none":
        cal = CAL.fit(mean, y, cfg.calibration, cfg.target_accuracy, fitted_on=f"{where} ({len(keys)} pages)")
        log(f"[bundle] calibration ({cal.method}) on {len(keys)} validation pages: ECE {cal.ece_before:.4f} -> "
            f"{cal.ece_after:.4f}; uncertain below {cal.uncertain_below:.3f}")
    from keras_ecg.data.dataset import Dataset

    val_ds = Dataset(np.zeros((len(keys), 1), np.float32), y, np.array(keys), list(first.class_names),
                     {"split": where})
    rep = evaluate(mean, val_ds, out / "validation", split_name=where, plots=False, data_source=ref.source,
                   synthetic=ref.synthetic, calibration=cal, extra={"model": "bundle of " + " + ".join(models)})
    reports["bundle"] = rep
    from keras_ecg.deploy.bundle import member_files

    files = member_files(out, members)
    card = dataclasses.replace(
        first, name="bundle_" + "_".join(models), model="bundle", model_args={"members": list(models)},
        inputs=[C.InputSpec(name=f"{mb.name}:{i.name}", shape=i.shape, dtype=i.dtype)
                for mb in members if mb.kind == "keras" for i in C.read(out / mb.folder / C.CARD_NAME).inputs],
        files=files, calibration=cal, recipe=cfg.name,
        metrics={k: rep.get(k) for k in ("accuracy", "macro_f1", "roc_auc_macro", "roc_auc_risk")},
        training_data=C.TrainingData(source=ref.source, synthetic=bool(ref.synthetic), split=where),
        bundle=C.Bundle(members=members, combine="mean", validation=f"{where}: {len(keys)} pages"))
    C.write(out / C.CARD_NAME, card)
    _atomic.write_json(out / "bundle_report.json", {"members": models, "validation": where, "pages": len(keys),
                                                     "figures": {m: {k: r.get(k) for k in ("accuracy", "macro_f1",
                                                                                          "roc_auc_macro",
                                                                                          "roc_auc_risk")}
                                                                 for m, r in reports.items()},
                                                     "calibration": CAL.to_card(cal)})
    log(f"[bundle] {' + '.join(models)} -> {out}: validation accuracy {rep.get('accuracy'):.3f}, macro-F1 "
        f"{rep.get('macro_f1'):.3f}; " + json.dumps({m: round(r.get('macro_f1') or 0, 3) for m, r in reports.items()}))
    return reports
