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
import json
import os
import pathlib
import shutil
import sys
import time

from keras_ecg import _atomic
from keras_ecg.backend import BACKENDS
from keras_ecg.sources import DataError
from keras_ecg.train import PRECISIONS, STRATEGIES

RUN_CONFIG = "run_config.json"
# Flags that do not change what a run is: a folder may be reused across them.
_NOT_IDENTITY = ("epochs", "resume", "overwrite", "out", "verbose", "tensorboard", "export", "strategy",
                 "patience", "plots")
EXPORT_FORMATS = ("keras", "saved_model", "onnx")


# Training choices shared by every recipe of a task; a recipe's CONFIG overrides them.
TASK_DEFAULTS = {
    "images": {
        "image_size": 224,
        "epochs": 10,
        "batch_size": 16,
        "learning_rate": 3e-4,
        "bn_momentum": 0.9,  # ~30 steps per epoch: Keras's 0.99 leaves inference statistics far off
        "class_weight": "sqrt",
        "monitor": "val_macro_f1",
        "patience": 4,
        "synthetic_n": 12,
    },
}


def with_defaults(config: dict) -> dict:
    """``config`` on top of its task's defaults."""
    return {**TASK_DEFAULTS.get(config.get("task", "mitbih"), {}), **config}


class RunError(Exception):
    """A problem the user can fix; reported as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise SystemExit(f"{self.prog}: error: {message}")


def _default_backend() -> str:
    env = os.environ.get("KERAS_BACKEND")
    return env if env in BACKENDS else "jax"


def build_parser(config: dict) -> argparse.ArgumentParser:
    name = config.get("name", "keras-ecg")
    p = _Parser(prog=name, description=config.get("description"))
    g = p.add_argument_group("common")
    g.add_argument("--backend", choices=(*BACKENDS, "auto"), default=_default_backend(),
                   help="Keras backend (default: $KERAS_BACKEND or jax), chosen before keras is imported; "
                        "auto = the fastest measured on this machine for the (first) model")
    g.add_argument("--strategy", choices=STRATEGIES, default="auto",
                   help="auto = data_parallel when more than one accelerator is visible")
    g.add_argument("--precision", choices=PRECISIONS, default="float32")
    g.add_argument("--epochs", type=int, default=config.get("epochs", 5))
    g.add_argument("--batch-size", type=int, default=config.get("batch_size", 64))
    g.add_argument("--lr", type=float, default=config.get("learning_rate", 1e-3), help="learning rate")
    g.add_argument("--patience", type=int, default=config.get("patience", 3),
                   help="early stopping patience in epochs (0: never stop early)")
    g.add_argument("--monitor", choices=("val_loss", "val_macro_f1", "val_accuracy"),
                   default=config.get("monitor", "val_loss"),
                   help="validation quantity for early stopping and the best checkpoint")
    g.add_argument("--data", default="auto",
                   help="a data folder, 'synthetic', or 'auto' (--data, $KERAS_ECG_DATA, ~/.keras/datasets, "
                        "download where open, else synthetic with a warning)")
    g.add_argument("--out", default=None, help="run folder (default runs/<recipe>-<backend>)")
    g.add_argument("--seed", type=int, default=config.get("seed", 0))
    g.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    g.add_argument("--overwrite", action="store_true", help="replace a different run in --out")
    g.add_argument("--balance", action="store_true", help="balanced sampling instead of class weights")
    g.add_argument("--class-weight", choices=("balanced", "sqrt", "none"),
                   default=config.get("class_weight", "balanced"),
                   help="class weights: inverse frequency, its square root, or none")
    g.add_argument("--class-weight-cap", type=float, default=config.get("class_weight_cap", 50.0),
                   help="upper bound of any class weight")
    g.add_argument("--augment", action="store_true", default=config.get("augment", False))
    g.add_argument("--bn-momentum", type=float, default=config.get("bn_momentum"),
                   help="BatchNormalization momentum (default: the model's, 0.99; small datasets want ~0.9)")
    g.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs")
    g.add_argument("--no-plots", dest="plots", action="store_false", help="reports without PNG plots")
    g.add_argument("--export", default=",".join(config.get("export", EXPORT_FORMATS)),
                   help="comma-separated formats among keras,saved_model,onnx, or 'none'")
    g.add_argument("--verbose", default="auto", help="keras fit verbosity: auto, 0, 1 or 2")
    g.add_argument("--synthetic-n", type=int, default=config.get("synthetic_n"),
                   help="items per class of synthetic data")
    g.add_argument("--model-args", default=None, help="JSON dict of builder arguments (overrides the recipe's)")
    models = list(config.get("model_choices") or [])
    default_model = config.get("model")
    if isinstance(default_model, (list, tuple)):
        default_model = ",".join(default_model)
    g.add_argument("--model", default=default_model,
                   help="model name" + (f": one of {', '.join(models)}, a comma-separated list, or 'all'"
                                        if models else " (or comma-separated list)"))
    task = config.get("task", "mitbih")
    t = p.add_argument_group(task)
    if task == "mitbih":
        t.add_argument("--split", choices=("inter", "intra"), default=config.get("split", "inter"),
                       help="inter: DS1 -> DS2 by record (de Chazal); intra: random beats (Kaggle-style)")
        t.add_argument("--source", choices=("wfdb", "csv"), default=config.get("source", "wfdb"),
                       help="wfdb records, or the Kaggle mitbih_train.csv/mitbih_test.csv")
        t.add_argument("--mi-top", type=int, default=config.get("mi_top"),
                       help="keep the top-K samples by mutual information (fit on the training side)")
    else:
        t.add_argument("--image-size", type=int, default=config.get("image_size", 224))
    return p


def parse_args(config: dict, argv=None) -> argparse.Namespace:
    args = build_parser(config).parse_args(argv)
    for flag in ("epochs", "batch_size"):
        if getattr(args, flag) < 1:
            raise SystemExit(f"{config.get('name', 'keras-ecg')}: error: --{flag.replace('_', '-')} must be >= 1")
    formats = [f.strip() for f in args.export.split(",") if f.strip() and f.strip() != "none"]
    bad = [f for f in formats if f not in EXPORT_FORMATS]
    if bad:
        raise SystemExit(f"{config.get('name')}: error: --export: unknown format(s) {', '.join(bad)}; "
                         f"choose among {', '.join(EXPORT_FORMATS)} or none")
    args.export_formats = formats
    if args.verbose != "auto":
        try:
            args.verbose = int(args.verbose)
        except ValueError:
            raise SystemExit(f"{config.get('name')}: error: --verbose must be auto, 0, 1 or 2") from None
    if args.model_args:
        try:
            args.model_args = json.loads(args.model_args)
        except ValueError as e:
            raise SystemExit(f"{config.get('name')}: error: --model-args is not valid JSON ({e})") from None
        if not isinstance(args.model_args, dict):
            raise SystemExit(f"{config.get('name')}: error: --model-args must be a JSON object")
    return args


# ----------------------------------------------------------------------------- run folder


def identity(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in _NOT_IDENTITY}


def check_out_dir(out: pathlib.Path, run_cfg: dict, overwrite: bool, resume: bool) -> None:
    """Refuse a folder that holds a different run (unless ``overwrite``)."""
    path = out / RUN_CONFIG
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} exists and is not a folder")
    if not path.exists():
        if resume:
            return
        return
    try:
        old = json.loads(path.read_text())
    except ValueError:
        old = None
    same = old is not None and identity(old.get("config", {})) == identity(run_cfg)
    if same:
        return
    if overwrite:
        for child in out.iterdir():
            _atomic.remove(child)
        return
    diff = []
    if old is not None:
        a, b = identity(old.get("config", {})), identity(run_cfg)
        diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    detail = f" (differs in: {', '.join(diff[:6])})" if diff else ""
    raise RunError(f"--out {out} already holds a different run{detail}; pass --overwrite to replace it "
                   "or choose another --out")


# ----------------------------------------------------------------------------- main


def main(config: dict, argv=None, callbacks=()) -> dict:
    """Run a recipe; return ``{model name: report dict}`` (empty on non-chief processes)."""
    config = with_defaults(config)
    args = parse_args(config, argv)
    name = config.get("name", "keras-ecg")
    try:
        return run(config, args, callbacks=callbacks)
    except (RunError, DataError) as e:
        raise SystemExit(f"{name}: error: {e}") from None
    except ImportError as e:  # an optional dependency; the message names the extra to install
        raise SystemExit(f"{name}: error: {str(e).splitlines()[0]}") from None


def _models(config, args) -> list:
    from keras_ecg import registry

    spec = args.model or config.get("model")
    if not spec:
        raise RunError("no --model given")
    choices = list(config.get("model_choices") or [])
    if spec == "all":
        if not choices:
            raise RunError("--model all: this recipe lists no model choices")
        names = choices
    else:
        names = [m.strip() for m in str(spec).split(",") if m.strip()]
    known = registry.list_models()
    for m in names:
        if m not in known:
            raise RunError(f"unknown model {m!r}; known models: {', '.join(known)}")
        if choices and m not in choices:
            raise RunError(f"model {m!r} is not one of this recipe's models: {', '.join(choices)}")
    return names


def _run_config(config, args, models) -> dict:
    keep = {k: v for k, v in vars(args).items() if k not in ("export_formats",)}
    return {"recipe": config.get("name"), "task": config.get("task", "mitbih"), "models": models,
            "recipe_config": {k: v for k, v in config.items() if k not in ("description",)}, **keep}


def _log(msg):
    if os.environ.get("RANK", "0") == "0":  # one voice under torchrun
        print(msg, flush=True)


def _auto_backend(config, args) -> str:
    """``--backend auto``: the fastest backend for the first model (measured once, cached)."""
    from keras_ecg import autobackend, registry

    model = _models(config, args)[0]
    kind = registry.input_kind(model)
    if kind == "waveform":
        shape = (int(getattr(args, "mi_top", None) or config.get("window", 187)), 1)
    elif kind == "image":
        shape = (args.image_size, args.image_size, 3)
    else:
        shape = (13, 64, 64, 1)
    classes = 2 if config.get("binary") else len(config.get("classes") or []) or 5
    return autobackend.choose(model, shape, num_classes=classes, batch_size=args.batch_size, log=_log)


def run(config: dict, args, callbacks=()) -> dict:
    from keras_ecg import backend as kb

    if args.backend == "auto":
        args.backend = _auto_backend(config, args)
    try:
        kb.use(args.backend)
    except (RuntimeError, ValueError) as e:
        raise RunError(str(e).splitlines()[0]) from None
    name = config.get("name", "keras-ecg")
    task = config.get("task", "mitbih")
    out = pathlib.Path(args.out or os.path.join("runs", f"{name}-{args.backend}"))
    models = _models(config, args)
    run_cfg = _run_config(config, args, models)
    rank = int(os.environ.get("RANK", "0"))
    if rank == 0:
        check_out_dir(out, run_cfg, args.overwrite, args.resume)
        out.mkdir(parents=True, exist_ok=True)

    t_start = time.time()
    import keras

    from keras_ecg import train as T

    keras.utils.set_random_seed(args.seed)
    T.set_precision(args.precision)
    strategy_name = T.resolve_strategy(args.strategy, args.backend, _accelerators())
    strategy = T.make_strategy(strategy_name, args.backend)
    chief = strategy.is_chief
    if chief:
        _atomic.write_json(out / RUN_CONFIG, {"config": run_cfg, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                         time.gmtime())})
    _log(f"[{name}] backend {args.backend}, strategy {strategy.describe()}, precision {args.precision}, out {out}")

    cache: dict = {}
    reports: dict = {}
    for model_name in models:
        sub = out if len(models) == 1 else out / model_name
        reports[model_name] = _run_one(config, args, model_name, sub, strategy, cache, callbacks)
    if chief and len(models) > 1:
        from keras_ecg.evaluation import compare_table

        table = compare_table(reports)
        _atomic.write_text(out / "comparison.md", f"# {name}: comparison\n\n{table}")
        _atomic.write_json(out / "comparison.json", {
            m: {k: r.get(k) for k in ("split", "data_source", "synthetic", "accuracy", "macro_f1", "roc_auc_macro",
                                      "roc_auc_risk", "per_class", "num_test", "warnings", "extra")}
            for m, r in reports.items()})
        _log("\n" + table)
    if chief:
        _log(f"[{name}] done in {time.time() - t_start:.1f} s; reports in {out}")
    strategy.barrier()
    return reports if chief else {}


def _accelerators() -> int:
    try:
        from keras_ecg.backend import num_accelerators

        return num_accelerators()
    except Exception:
        return 0


def _load_data(config, args, input_kind, cache):
    from keras_ecg import sources

    if input_kind in cache:
        return cache[input_kind]
    cfg = dict(config)
    if args.synthetic_n:
        cfg["synthetic_n"] = args.synthetic_n
    if config.get("task", "mitbih") == "mitbih":
        cfg.update(split=args.split, source=args.source)
        data = sources.load_mitbih(cfg, args.data, seed=args.seed, log=_log)
    else:
        cfg["image_size"] = args.image_size
        if input_kind == "panels":
            cfg["preprocess"] = config.get("panel_preprocess", "panels")
        else:
            cfg["preprocess"] = config.get("page_preprocess", config.get("preprocess", "page"))
        data = sources.load_images(cfg, args.data, input_kind, seed=args.seed, log=_log)
    for w in data.warnings:
        if os.environ.get("RANK", "0") == "0":
            print(f"WARNING: {w}", file=sys.stderr)
    if getattr(args, "mi_top", None):
        data = _select_mi(data, args.mi_top, args.seed)
    from keras_ecg.data import splits

    train, val = _carve_validation(data.train, float(config.get("val_size", 0.15)), args.seed)
    cache[input_kind] = (data, train, val)
    _log(f"data: {data.source}\n  train {train.summary()}\n  val   {val.summary()}\n  test  {data.test.summary()}")
    return cache[input_kind]


def _carve_validation(train, size, seed):
    """Validation side by group (record/patient/content hash); random when groups are too few."""
    import numpy as np

    from keras_ecg.data import splits

    if len(np.unique(train.groups)) >= 4:
        tr, val = splits.group_split(train, test_size=size, seed=seed)
        how = "group_split"
    else:
        tr, val = splits.intra_patient(train, test_size=size, seed=seed)
        how = "stratified random (too few groups for a group split)"
    tr.meta["validation"] = val.meta["validation"] = how
    tr.meta["split"] = val.meta["split"] = train.meta.get("split")
    return tr, val


def _select_mi(data, k, seed):
    from keras_ecg.data import features

    x_train = data.train.inputs[0]
    flat = x_train.reshape(len(x_train), -1)
    if not 0 < k <= flat.shape[1]:
        raise RunError(f"--mi-top {k}: must lie in 1..{flat.shape[1]} (samples per beat)")
    sel = features.MutualInfoSelector(k=k, seed=seed).fit(flat, data.train.y)
    idx = sel.indices_

    def apply(ds):
        xs = list(ds.inputs)
        xs[0] = xs[0][:, idx, ...]
        ds.x = tuple(xs) if isinstance(ds.x, tuple) else xs[0]
        ds.meta["mi_top"] = int(k)
        return ds

    data.train, data.test = apply(data.train), apply(data.test)
    data.preprocessing = {**data.preprocessing, "mi_top": int(k), "mi_indices": [int(i) for i in idx]}
    return data


def _model_args(config, args, model_name) -> dict:
    margs = dict(config.get("model_args", {}).get(model_name, {}))
    if args.model_args:
        margs.update(args.model_args)
    if config.get("binary"):
        margs["binary"] = True
    return margs


def _run_one(config, args, model_name, out, strategy, cache, callbacks) -> dict:
    import numpy as np

    from keras_ecg import registry
    from keras_ecg import train as T

    kind = registry.input_kind(model_name)
    data, train, val = _load_data(config, args, kind, cache)
    binary = bool(config.get("binary", False))
    class_names = list(data.test.class_names)
    input_shape = tuple(train.inputs[0].shape[1:])
    margs = _model_args(config, args, model_name)
    if isinstance(train.x, tuple) and len(train.inputs) > 1 and "rr_features" not in margs:
        margs["rr_features"] = int(train.inputs[1].shape[1])

    def build():
        try:
            model = registry.build(model_name, input_shape, len(class_names), **margs)
        except (TypeError, ValueError) as e:
            raise RunError(f"model {model_name}: {str(e).splitlines()[0]}") from None
        return T.ensure_float32_head(model)

    tcfg = T.TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                         class_weight=args.class_weight, class_weight_cap=args.class_weight_cap,
                         balance=args.balance,
                         augment=_augmenter(kind) if args.augment else None,
                         patience=args.patience, monitor=args.monitor, seed=args.seed, resume=args.resume,
                         tensorboard=args.tensorboard, verbose=args.verbose, bn_momentum=args.bn_momentum)
    if strategy.is_chief:
        out.mkdir(parents=True, exist_ok=True)
    _log(f"[{model_name}] input {kind} {input_shape}, {len(class_names)} classes"
         f"{' (binary risk)' if binary else ''}, args {margs}")
    t0 = time.time()
    result = T.fit(build, train, val, out, tcfg, binary=binary, strategy=strategy, loader=data.loader,
                   callbacks=callbacks, log=_log)
    fit_s = time.time() - t0
    if not strategy.is_chief:
        return {}
    model = result.model
    probs = T.predict_proba(model, data.test, batch_size=max(args.batch_size, 256), loader=data.loader,
                            multiple=strategy.batch_multiple)
    from keras_ecg.evaluation import evaluate

    extra = {
        "recipe": config.get("name"), "model": model_name, "model_args": margs,
        "params": int(model.count_params()),
        "input_kind": kind, "input_shape": list(input_shape),
        "strategy": strategy.describe(), "precision": args.precision, "seed": args.seed,
        "epochs_requested": args.epochs, "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early, "resumed": result.resumed,
        "batch_size": args.batch_size, "learning_rate": args.lr,
        "class_weight_mode": args.class_weight, "class_weight": result.class_weight,
        "balanced_sampling": args.balance,
        "train_items": len(train), "val_items": len(val), "validation": train.meta.get("validation"),
        "train_class_counts": train.class_counts(), "fit_seconds": round(fit_s, 1),
        "data_warnings": list(data.warnings), "preprocessing": data.preprocessing,
    }
    split_name = data.test.meta.get("split") or "test"
    report = evaluate(probs, data.test, out, split_name=split_name, class_names=class_names,
                      history=result.history or None, data_source=data.source, extra=extra,
                      synthetic=data.synthetic, plots=args.plots)
    if data.warnings:  # the fallback warning goes into every report
        report["warnings"] = list(dict.fromkeys(list(report.get("warnings", [])) + list(data.warnings)))
        _atomic.write_json(out / "report.json", report)
        md = (out / "report.md").read_text()
        _atomic.write_text(out / "report.md", md + "".join(f"\n> WARNING: {w}\n" for w in data.warnings))
    _log(f"[{model_name}] {split_name}: accuracy {report.get('accuracy'):.4f}, macro-F1 "
         f"{(report.get('macro_f1') or 0):.4f}" + (f", ROC-AUC {report['roc_auc_risk']:.4f}"
                                                   if binary and report.get("roc_auc_risk") is not None else ""))
    if args.export_formats:
        card = {
            "name": model_name, "recipe": config.get("name"), "input_kind": kind,
            "input_shape": list(input_shape), "inputs": data.train.meta.get("inputs", ["input"]),
            "class_names": class_names, "classes": class_names, "binary": binary,
            "preprocessing": data.preprocessing,
            "data_source": data.source, "synthetic": data.synthetic, "split": split_name,
            "metrics": {k: report.get(k) for k in ("accuracy", "macro_f1", "roc_auc_macro", "roc_auc_risk")},
            "backend": args.backend, "precision": args.precision,
        }
        sample = _sample_inputs(data.test, 8)
        _export(model, out, args.export_formats, sample, card)
    return report


def _augmenter(kind):
    if kind == "waveform":
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
    from keras_ecg.export import export

    try:
        res = export(model, out, formats=tuple(formats), sample_inputs=sample, card=card)
    except ImportError as e:
        print(f"WARNING: export skipped: {e}", file=sys.stderr)
        return None
    paths = res.get("paths", {}) if isinstance(res, dict) else {}
    _log("exported (verified): " + ", ".join(f"{k} -> {v}" for k, v in paths.items()))
    return res
