"""The shared recipe runner: flags, backend, data, model, fit, evaluate, export.

A recipe is a config dict and ``runner.main(config)``. The command-line flags
(see ``--help``) override the config. The backend is chosen from ``--backend``
before anything imports keras, so this module imports keras only inside
:func:`main`, after argument parsing.

Bad input ends with ``SystemExit`` carrying a one-line message (no traceback):
an unknown backend/strategy/precision/model, a ``--data`` path that does not
exist or holds no usable data, a dataset with one class, an output folder that
already holds a different run (unless ``--overwrite``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from keras_ecg import _atomic
from keras_ecg.data import splits
from keras_ecg.config import RunConfig, add_flags, apply_flags
from keras_ecg.errors import KerasECGError, RunError, one_line

from keras_ecg.training.multi_host import process_rank
from keras_ecg.training.sides import carve_validation, select_mi
from keras_ecg.training.run_folder import RUN_CONFIG, _reload, check_out_dir, open_run, out_dir  # noqa: F401


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise SystemExit(f"{self.prog}: error: {message}")


def build_parser(cfg: RunConfig, suppress: bool = False) -> argparse.ArgumentParser:
    """The recipe's command line, generated from :class:`~keras_ecg.config.RunConfig` (defaults: ``cfg``)."""
    p = _Parser(prog=cfg.name, description=cfg.description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flags(p, cfg, suppress=suppress)
    return p


def parse_args(config, argv=None) -> RunConfig:
    """The run's :class:`RunConfig`: the recipe's ``config`` (checked), then the flags in ``argv``.

    With ``--resume`` and a ``run_config.json`` in the run folder, that run's
    settings are reloaded and only the flags given in ``argv`` change them.
    """
    try:
        cfg = RunConfig.for_recipe(config)
    except RunError as e:
        raise SystemExit(f"{config.get('name', 'keras-ecg') if isinstance(config, dict) else 'keras-ecg'}: "
                         f"error: {one_line(e)}") from None
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = apply_flags(cfg, vars(build_parser(cfg).parse_args(argv)))
        if args.resume:
            args = _reload(args, vars(build_parser(cfg, suppress=True).parse_args(argv)))
    except RunError as e:
        raise SystemExit(f"{cfg.name}: error: {one_line(e)}") from None
    return args


# ----------------------------------------------------------------------------- main


def main(config, argv=None, callbacks=()) -> dict:
    """Run a recipe; return ``{model name: report dict}`` (empty on non-chief processes).

    ``config``: the recipe's ``CONFIG`` dict (checked against
    :class:`~keras_ecg.config.RunConfig`) or a ``RunConfig``. Any
    :class:`~keras_ecg.errors.KerasECGError` ends the process with one line
    ``<recipe>: error: <message>`` (``SystemExit``), no traceback.
    """
    cfg = parse_args(config, argv)
    try:
        return run(cfg, callbacks=callbacks)
    except KerasECGError as e:
        raise SystemExit(f"{cfg.name}: error: {one_line(e)}") from None
    except ImportError as e:  # an optional dependency; the message names the extra to install
        raise SystemExit(f"{cfg.name}: error: {one_line(e)}") from None
    except OSError as e:  # a folder or disk that cannot be written (read-only --out, disk full): one line
        where = e.filename or out_dir(cfg)
        raise SystemExit(f"{cfg.name}: error: {where}: cannot write ({e.strerror or one_line(e)})") from None


def _models(cfg: RunConfig) -> list:
    """The model names of ``--model`` (checked against the registry without importing keras)."""
    from keras_ecg import registry

    if not cfg.model:
        raise RunError("no --model given")
    choices = list(cfg.model_choices)
    if cfg.model == "all":
        if not choices:
            raise RunError("--model all: this recipe lists no model choices")
        names = choices
    else:
        names = [m.strip() for m in cfg.model.split(",") if m.strip()]
    from keras_ecg.training import template_baseline as TB
    from keras_ecg.training.baseline_run import NAMES as BASELINES

    images = cfg.task == "images"
    known = [*registry.list_models(), *BASELINES, *(list(TB.NAMES) if images else [])]
    for m in names:
        if m not in known:
            raise RunError(f"unknown model {m!r}; known models: {', '.join(known)}")
        if TB.is_template_baseline(m):
            if not (cfg.cv or cfg.bundle):
                raise RunError(f"--model {m}: the median-beat baseline is scored under --cv K (or joins a --bundle) only")
            continue  # every image recipe's CV may score it
        if choices and m not in choices:
            raise RunError(f"model {m!r} is not one of this recipe's models: {', '.join(choices)}")
    return names


def _log(msg):
    if process_rank() == 0:  # one voice under torchrun / multi_host
        print(msg, flush=True)


def _auto_backend(cfg: RunConfig) -> str:
    """``--backend auto``: the fastest backend for the first model (measured once, cached)."""
    from keras_ecg import autobackend, registry

    from keras_ecg.training.baseline_run import is_baseline

    from keras_ecg.training.template_baseline import is_template_baseline

    deep = [m for m in _models(cfg) if not is_baseline(m) and not is_template_baseline(m)]
    if not deep:
        return "tensorflow"  # the baseline runs in scikit-learn; any backend serves the reports
    model = deep[0]
    kind = registry.input_kind(model)
    if kind == "waveform":
        from keras_ecg.training.sources import beat_spec

        spec = beat_spec(cfg)
        shape = (int(cfg.mi_top), spec.input_shape[1]) if cfg.mi_top else spec.input_shape
    elif kind == "image":
        shape = (cfg.image_size, cfg.image_size, 3)
    else:
        shape = (13, 64, 64, 1)
    classes = 2 if cfg.binary else len(cfg.classes or []) or 5
    try:
        return autobackend.choose(model, shape, num_classes=classes, batch_size=cfg.batch_size, log=_log)
    except RuntimeError as e:
        raise RunError(one_line(e)) from None


def run(cfg: RunConfig, callbacks=()) -> dict:
    """Run the recipe configured by ``cfg`` (flags already applied; see :func:`parse_args`)."""
    from keras_ecg import backend as kb

    models = _models(cfg)
    if cfg.backend == "auto":
        cfg = dataclasses.replace(cfg, backend=_auto_backend(cfg))
    try:
        kb.use(cfg.backend)
    except (RuntimeError, ValueError) as e:
        raise RunError(one_line(e)) from None
    run_cfg = cfg.to_dict()
    with open_run(cfg, run_cfg, chief=process_rank() == 0, log=_log) as folder:  # locked; staged over a finished run
        return _run_in(cfg, models, folder, run_cfg, callbacks)


def _run_in(cfg: RunConfig, models, folder, run_cfg, callbacks) -> dict:
    name, out = cfg.name, folder.work
    t_start = time.time()
    import keras

    from keras_ecg import training as T

    # the strategy first: jax.distributed / MultiWorkerMirroredStrategy must start before the framework does
    strategy = T.make_strategy(T.resolve_strategy(cfg.strategy, cfg.backend, _accelerators), cfg.backend)
    keras.utils.set_random_seed(cfg.seed)
    T.set_precision(cfg.precision)
    chief = strategy.is_chief
    if chief:
        _atomic.write_json(out / RUN_CONFIG, {"config": run_cfg, "models": models,
                                              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    _log(f"[{name}] backend {cfg.backend}, strategy {strategy.describe()}, precision {cfg.precision}, out {folder.out}"
         + (f" (staged in {out} until it finishes)" if out != folder.out else ""))

    cache: dict = {}
    reports: dict = {}
    if cfg.cv:  # grouped K-fold cross-validation (keras_ecg.training.cv) instead of one split
        from keras_ecg.training import cv

        reports = cv.run(cfg, models, out, strategy, callbacks, log=_log)
    elif cfg.bundle:  # the models trained on all but a validation side, written as one bundle
        from keras_ecg.training import bundle_fit

        reports = bundle_fit.run(cfg, models, out, strategy, callbacks, log=_log)
    for model_name in models if not (cfg.cv or cfg.bundle) else ():
        sub = out if len(models) == 1 else out / model_name
        reports[model_name] = _run_one(cfg, model_name, sub, strategy, cache, callbacks)
    if chief and len(models) > 1 and not (cfg.cv or cfg.bundle):
        from keras_ecg.evaluation import compare_table

        table = compare_table(reports)
        _atomic.write_text(out / "comparison.md", f"# {name}: comparison\n\n{table}")
        _atomic.write_json(out / "comparison.json", {
            m: {k: r.get(k) for k in ("split", "data_source", "synthetic", "accuracy", "macro_f1", "roc_auc_macro",
                                      "roc_auc_risk", "per_class", "num_test", "warnings", "extra")}
            for m, r in reports.items()})
        _log("\n" + table)
    if chief:
        folder.finish()  # a staged run replaces the previous one only now
        _log(f"[{name}] done in {time.time() - t_start:.1f} s; reports in {folder.out}")
    strategy.barrier()
    return reports if chief else {}


def _accelerators() -> int:
    try:
        from keras_ecg.backend import num_accelerators

        return num_accelerators()
    except Exception:
        return 0


def _load_data(cfg: RunConfig, input_kind, cache):
    from keras_ecg.training import sources

    if input_kind in cache:
        return cache[input_kind]
    if cfg.task == "mitbih":
        data = sources.load_mitbih(cfg, cfg.data, seed=cfg.seed, log=_log)
    else:
        data = sources.load_images(cfg, cfg.data, input_kind, seed=cfg.seed, log=_log)
    for w in data.warnings:
        if process_rank() == 0:
            print(f"WARNING: {w}", file=sys.stderr)
    if cfg.mi_top:
        data = select_mi(data, cfg.mi_top, cfg.seed)

    by_record = cfg.task == "mitbih" and cfg.split in ("inter", "ds1cv") and cfg.source == "wfdb" and not data.synthetic
    val_records = splits.DS1_FOLD_VAL[int(cfg.fold)] if cfg.split == "ds1cv" else cfg.val_records
    train, val = carve_validation(data.train, cfg.val_size, cfg.seed, val_records if by_record else None)
    cache[input_kind] = (data, train, val)
    _log(f"data: {data.source}\n  train {train.summary()}\n  val   {val.summary()}\n  test  {data.test.summary()}")
    return cache[input_kind]


def _model_args(cfg: RunConfig, model_name) -> dict:
    margs = dict(cfg.model_args.get(model_name, {}))
    if cfg.builder_args:
        margs.update(cfg.builder_args)
    if cfg.binary:
        margs["binary"] = True
    return margs


def _run_one(cfg: RunConfig, model_name, out, strategy, cache, callbacks) -> dict:
    from keras_ecg import registry
    from keras_ecg import training as T

    from keras_ecg.training.baseline_run import is_baseline

    if is_baseline(model_name):
        return _run_baseline(cfg, model_name, out, cache)
    from keras_ecg.training.sources import data_input_kind

    kind = data_input_kind(cfg.task, model_name)  # a 1-D model on pages reads the digitised leads
    data, train, val = _load_data(cfg, kind, cache)
    binary = cfg.binary
    class_names = list(data.test.class_names)
    input_shape = tuple(train.inputs[0].shape[1:])
    margs = _model_args(cfg, model_name)
    if isinstance(train.x, tuple) and len(train.inputs) > 1 and "rr_features" not in margs:
        margs["rr_features"] = int(train.inputs[1].shape[1])

    members = int(cfg.members)
    if members < 1:
        raise RunError(f"--members {members}: must be at least 1")

    def build(n=1):
        try:
            model = registry.build(model_name, input_shape, len(class_names), **margs,
                                   **({"members": n} if n > 1 else {}))
        except (TypeError, ValueError) as e:
            raise RunError(f"model {model_name}: {str(e).splitlines()[0]}") from None
        return T.ensure_float32_head(model)

    def build_ensemble():
        with strategy.scope():
            return build(members)

    tcfg = T.TrainConfig.from_run(cfg, augment=_augmenter(kind) if cfg.augment else None)
    if strategy.is_chief:
        out.mkdir(parents=True, exist_ok=True)
    _log(f"[{model_name}] input {kind} {input_shape}, {len(class_names)} classes"
         f"{' (binary risk)' if binary else ''}, args {margs}")
    t0 = time.time()
    from keras_ecg.training.members import fit_members

    result = fit_members(members, build, build_ensemble, train, val, out, tcfg, binary=binary, strategy=strategy,
                         loader=data.loader, callbacks=callbacks, log=_log)
    fit_s = time.time() - t0
    if not strategy.is_chief:
        return {}
    model = strategy.chief_model(result.model)  # multi_host: a process-local copy
    probs = T.predict_proba(model, data.test, batch_size=max(cfg.batch_size, 256), loader=data.loader,
                            multiple=strategy.batch_multiple)
    from keras_ecg.evaluation import evaluate
    from keras_ecg.training import predictions

    calibration = _calibrate(cfg, model, val, data.loader, binary, strategy.batch_multiple)
    extra = {
        "recipe": cfg.name, "model": model_name, "model_args": margs,
        "params": int(model.count_params()),
        "input_kind": kind, "input_shape": list(input_shape),
        "strategy": strategy.describe(), "precision": cfg.precision, "seed": cfg.seed,
        "epochs_requested": cfg.epochs, "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early, "resumed": result.resumed, "members": result.members,
        "batch_size": cfg.batch_size, "learning_rate": cfg.learning_rate,
        "class_weight_mode": cfg.class_weight, "class_weight": result.class_weight,
        "balanced_sampling": cfg.balance, "train_peaks": getattr(cfg, "train_peaks", "reference"),
        "train_items": len(train), "val_items": len(val), "validation": train.meta.get("validation"),
        "train_class_counts": train.class_counts(), "fit_seconds": round(fit_s, 1),
        "data_warnings": list(data.warnings), "preprocessing": data.preprocessing,
    }
    split_name = data.test.meta.get("split") or "test"
    predictions.write(out / predictions.PREDICTIONS, probs, data.test)
    report = evaluate(probs, data.test, out, split_name=split_name, class_names=class_names,
                      history=result.history or None, data_source=data.source, extra=extra,
                      synthetic=data.synthetic, plots=cfg.plots, calibration=calibration)
    if cfg.task == "mitbih" and cfg.source == "wfdb" and cfg.split in ("inter", "ds1cv"):
        report = _ec57(_keras_predict(model), data, out, report, split_name, cfg)
    if data.warnings:  # the fallback warning goes into every report
        report["warnings"] = list(dict.fromkeys(list(report.get("warnings", [])) + list(data.warnings)))
        _atomic.write_json(out / "report.json", report)
        md = (out / "report.md").read_text()
        _atomic.write_text(out / "report.md", md + "".join(f"\n> WARNING: {w}\n" for w in data.warnings))
    _log(f"[{model_name}] {split_name}: accuracy {report.get('accuracy'):.4f}, macro-F1 "
         f"{(report.get('macro_f1') or 0):.4f}" + (f", ROC-AUC {report['roc_auc_risk']:.4f}"
                                                   if binary and report.get("roc_auc_risk") is not None else ""))
    if cfg.export:
        card = {  # the caller's part of the model card (keras_ecg.card.ModelCard); export adds the rest
            "model": model_name, "model_args": {"input_shape": list(input_shape), "num_classes": len(class_names),
                                                **margs, **({"members": members} if members > 1 else {})},
            "recipe": cfg.name, "input_kind": kind, "class_names": class_names, "binary": binary,
            "preprocessing": data.preprocessing,
            "training_data": {"source": data.source, "synthetic": data.synthetic, "split": split_name},
            "metrics": {k: report.get(k) for k in ("accuracy", "macro_f1", "roc_auc_macro", "roc_auc_risk")},
            "precision": cfg.precision,
            "calibration": None if calibration is None else dataclasses.asdict(calibration),
            "rhythm": _rhythm(cfg, data),
        }
        sample = _sample_inputs(data.test, 8)
        _export(model, out, cfg.export, sample, card)
    return report


def _calibrate(cfg: RunConfig, model, val, loader, binary, multiple=1):
    """The calibration and uncertainty threshold fitted on the validation side (never the test side)."""
    from keras_ecg import training as T
    from keras_ecg.evaluation import calibration as CAL

    if cfg.calibration == "none" or not len(val):
        return None
    if cfg.calibration == "platt" and not binary:
        raise RunError("--calibration platt: for binary models only (use temperature)")
    raw = T.predict_proba(model, val, batch_size=max(cfg.batch_size, 256), loader=loader, multiple=multiple)
    try:
        cal = CAL.fit(raw, val.y, cfg.calibration, cfg.target_accuracy, fitted_on=f"validation "
                      f"({val.meta.get('validation') or 'validation side'})")
    except ValueError as e:
        raise RunError(one_line(e)) from None
    _log(f"calibration ({cal.method}) on {cal.fitted_items} validation outputs: ECE {cal.ece_before:.4f} -> "
         f"{cal.ece_after:.4f}; uncertain below confidence {cal.uncertain_below:.3f} "
         f"(kept {cal.kept_fraction:.2f}, accuracy {cal.kept_accuracy or 0:.3f})")
    return cal


def _keras_predict(model):
    def predict(xs):
        return model.predict(xs if len(xs) > 1 else xs[0], batch_size=1024, verbose=0)

    return predict


def _run_baseline(cfg, name, out, cache) -> dict:
    from keras_ecg.training import baseline_run

    if cfg.task != "mitbih":
        raise RunError(f"--model {name}: the baseline classifies MIT-BIH beats only")
    data, train, _ = _load_data(cfg, "waveform", cache)
    return baseline_run.run(cfg, name, out, data, train, ec57=_ec57, log=_log)


def _rhythm(cfg: RunConfig, data) -> dict | None:
    """The card's ``rhythm`` of a beat model (waveform cut around R peaks): the defaults and ``--af-rule``."""
    prep = data.preprocessing or {}
    if data.input_kind != "waveform" or not prep.get("before") or prep.get("format") == "kaggle_csv":
        return None  # Kaggle CSV beats carry no R-peak times
    from keras_ecg.card_rhythm import RhythmConfig

    return RhythmConfig(af_rule=cfg.af_rule).to_card()


def _ec57(predict, data, out, report, split_name, cfg: RunConfig | None = None):
    """AAMI EC57 figures (and rhythm, where the records have rhythm notes) on the test records, added to the report."""
    from keras_ecg.card_rhythm import RhythmConfig
    from keras_ecg.evaluation import records as ER

    if data.path is None or data.input_kind != "waveform" or not data.preprocessing.get("before"):
        return report
    card_rhythm = _rhythm(cfg, data) if cfg is not None else None
    rhythm = RhythmConfig(**card_rhythm) if card_rhythm else None
    return ER.add_to_report(predict, data, out, report, split_name, log=_log, rhythm=rhythm)


def _augmenter(kind):
    if kind in ("waveform", "digitized"):
        from keras_ecg.data.pipeline import waveform_augment

        return waveform_augment()
    from keras_ecg.data.images import image_augment

    return image_augment()


def _sample_inputs(ds, n):
    import numpy as np

    xs = [np.asarray(a[:n]) for a in ds.inputs]
    if xs[0].dtype == object:
        return None
    return xs if len(xs) > 1 else xs[0]


def _export(model, out, formats, sample, card):
    from keras_ecg import export

    try:
        res = export(model, out, formats=tuple(formats), sample_inputs=sample, card=card)
    except ImportError as e:
        print(f"WARNING: export skipped: {e}", file=sys.stderr)
        return None
    paths = res.get("paths", {}) if isinstance(res, dict) else {}
    _log("exported (verified): " + ", ".join(f"{k} -> {v}" for k, v in paths.items()))
    return res
