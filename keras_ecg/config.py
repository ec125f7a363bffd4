"""The typed run configuration: every setting of a recipe run, in one place.

:class:`RunConfig` is a dataclass. Each field has one type, one default and one
line of help; a recipe's ``CONFIG`` dict sets fields (an unknown or misspelt key
is an error naming the close matches), the command-line parser of the recipes
and of ``keras-ecg train`` is generated from the fields marked ``flag=True``,
``run_config.json`` holds :meth:`RunConfig.to_dict`, and
:meth:`RunConfig.from_dict` reads it back.

Adding a setting is one call to :func:`setting` in :class:`RunConfig`::

    before_s: float = setting(0.25, "seconds of signal before the R peak", flag=True, group="mitbih")

``flag=True`` gives it a ``--before-s`` flag (argparse type from the field's
type); ``group`` shows it only for that task; ``identity=False`` lets a run folder
be reused when only this setting differs. Importing this module never imports keras.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import types
import typing

from keras_ecg.backend import BACKENDS
from keras_ecg.card_rhythm import AF_RULES
from keras_ecg.errors import RunError

TASKS = ("mitbih", "images")
STRATEGIES = ("auto", "none", "data_parallel", "multi_host")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
EXPORT_FORMATS = ("keras", "saved_model", "onnx")
CLASS_WEIGHTS = ("balanced", "sqrt", "none")
MONITORS = ("val_loss", "val_macro_f1", "val_accuracy")


def setting(default, help: str, *, flag: bool | str = False, choices=None, group: str = "common",
            identity: bool = True):
    """A :class:`RunConfig` field: its default, one line of help, and how the command line sets it.

    Args:
        default: the one default (lists and dicts are copied per instance).
        help: one line, shown by ``--help``.
        flag: ``True`` for ``--name-with-dashes``, a string for another flag name, ``False`` for
            recipe-only settings.
        choices: the allowed values (checked for recipes and flags alike).
        group: ``common`` or a task name (the flag is offered for that task only).
        identity: ``False`` when a run folder may be reused with another value (epochs, out...).
    """
    meta = {"help": help, "flag": flag, "choices": choices, "group": group, "identity": identity}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass
class RunConfig:
    """One recipe run. Field order is the order of ``--help``."""

    # --- the recipe
    name: str = setting("keras-ecg", "recipe name (messages, default run folder runs/<name>-<backend>)")
    description: str | None = setting(None, "recipe description shown by --help", identity=False)
    task: str = setting("mitbih", "mitbih (waveform beats) or images (ECG pages)", choices=TASKS)
    model: str | None = setting(None, "model name, a comma-separated list, or 'all' (the recipe's model_choices)",
                                flag=True)
    model_choices: list = setting([], "models this recipe offers (--model all runs them all)")
    model_args: dict = setting({}, "builder arguments per model name: {model: {argument: value}}")
    builder_args: dict | None = setting(None, "JSON dict of builder arguments for every model (overrides "
                                              "the recipe's model_args)", flag="--model-args")
    # --- backend and hardware
    backend: str | None = setting(None, "Keras backend ($KERAS_BACKEND, else jax), chosen before keras is imported; "
                                        "auto = the fastest measured here for the (first) model",
                                  flag=True, choices=(*BACKENDS, "auto"))
    strategy: str = setting("auto", "auto = multi_host when TF_CONFIG or KERAS_DISTRIBUTION_NUM_PROCESSES "
                            "describes several processes, else data_parallel when more than one accelerator is visible",
                            flag=True, choices=STRATEGIES, identity=False)
    precision: str = setting("float32", "keras dtype policy (model heads stay float32)", flag=True,
                             choices=PRECISIONS)
    # --- training
    epochs: int = setting(5, "training epochs", flag=True, identity=False)
    batch_size: int = setting(256, "training batch size", flag=True)
    learning_rate: float = setting(1e-3, "learning rate (Adam)", flag="--lr")
    lr_schedule: str = setting("constant", "learning rate over the run: constant, or cosine decay to a hundredth of it "
                                           "by the last epoch", flag=True, choices=("constant", "cosine"))
    patience: int = setting(3, "early stopping patience in epochs (0: never stop early)", flag=True,
                            identity=False)
    monitor: str = setting("val_loss", "validation quantity for early stopping and the best checkpoint",
                           flag=True, choices=MONITORS)
    seed: int = setting(0, "seed of the data split, shuffling and initial weights", flag=True)
    balance: bool = setting(False, "balanced sampling instead of class weights", flag=True)
    members: int = setting(1, "train N copies of the model, each with its own seed, early stopping and checkpoint, "
                              "and average their outputs (an ensemble; one exported model)", flag=True)
    class_weight: str = setting("balanced", "class weights: inverse frequency, its square root, or none",
                                flag=True, choices=CLASS_WEIGHTS)
    class_weight_cap: float = setting(50.0, "upper bound of any class weight", flag=True)
    augment: bool = setting(False, "augment the training side (noise, wander, scaling, shift / image jitter)",
                            flag=True)
    bn_momentum: float | None = setting(None, "BatchNormalization momentum (default: the model's, 0.99; "
                                              "small datasets want ~0.9)", flag=True)
    # --- data
    data: str = setting("auto", "a data folder, 'synthetic', or 'auto' (--data, $KERAS_ECG_DATA, "
                                "~/.keras/datasets, download where open, else synthetic with a warning)", flag=True)
    synthetic_n: int = setting(200, "items per class of synthetic data", flag=True)
    test_size: float = setting(0.2, "test fraction where the split is random or by group")
    val_size: float = setting(0.15, "validation fraction carved from the training side by group")
    classes: list | None = setting(None, "class names to keep (default: all)")
    binary: bool = setting(False, "normal vs risky, one sigmoid risk output")
    # --- MIT-BIH beats
    split: str = setting("inter", "inter: DS1 -> DS2 by record (de Chazal); intra: random beats (Kaggle-style); "
                                  "ds1cv: a development split inside DS1 (fold --fold held out; DS2 unused)",
                         flag=True, choices=("inter", "intra", "ds1cv"), group="mitbih")
    fold: int = setting(0, "ds1cv: the DS1 fold held out (0 or 1; keras_ecg.data.splits.DS1_FOLDS); the other "
                           "fold trains, validated on its records in DS1_FOLD_VAL", flag=True, group="mitbih")
    source: str = setting("wfdb", "wfdb records, or the Kaggle mitbih_train.csv/mitbih_test.csv", flag=True,
                          choices=("wfdb", "csv"), group="mitbih")
    mi_top: int | None = setting(None, "keep the top-K samples by mutual information (fit on the training side)",
                                 flag=True, group="mitbih")
    fs: float = setting(360.0, "sampling rate the beats are cut at (Hz); records are resampled to it",
                        flag=True, group="mitbih")
    before_s: float = setting(0.25, "seconds of signal before the R peak (0.25 s holds the P wave)", flag=True,
                              group="mitbih")
    after_s: float = setting(0.45, "seconds of signal from the R peak to the window's end", flag=True,
                             group="mitbih")
    leads: list = setting(["MLII"], "leads, in channel order (e.g. MLII,V1); see keras_ecg.data.beats for "
                                    "the lead policy", flag=True, group="mitbih")
    filter: str | None = setting("bandpass", "filter applied to each record before cutting (bandpass 0.5-40 Hz) "
                                             "or none", choices=("bandpass", None), group="mitbih")
    normalize: str | None = setting("zscore", "per-beat normalisation (zscore) or none", choices=("zscore", None),
                                    group="mitbih")
    rr_features: bool = setting(True, "add the RR features (pre/post/local RR and their ratios to the patient's "
                                      "causal 5-minute baseline) as a second input 'rr' (--no-rr-features: none)",
                                flag="--no-rr-features", group="mitbih")
    rr_context: bool = setting(False, "add three rhythm-context RR features (pre-RR over the previous one and over "
                                      "the median of the last 8, the local RR irregularity) to the 'rr' input",
                               flag=True, group="mitbih")
    template_beats: int = setting(20, "add each lead's mean of the previous N beats as a channel (0: none)",
                                  flag=True, group="mitbih")
    shape_features: bool = setting(False, "add how each beat's P, QRS and T regions differ from the patient's "
                                          "causal template (correlation, amplitude ratio) to the 'rr' input",
                                   flag=True, group="mitbih")
    align_peaks: bool = setting(False, "move each R peak to the detector's fiducial (largest 5-15 Hz deflection "
                                       "within 75 ms) before cutting, in training and predict alike", flag=True,
                                group="mitbih")
    train_peaks: str = setting("reference", "R peaks the training beats are cut at: the reference annotations, or "
                                            "the toolkit's detector (as deployed), each labelled by the reference "
                                            "beat it matches within 150 ms", flag=True,
                               choices=("reference", "detected"), group="mitbih")
    val_records: list = setting(["205", "220", "223"],
                                "DS1 records held out for validation in the inter split (S-, V- and F-rich; "
                                "not the RBBB records 118/124, which training needs)",
                                flag=True, group="mitbih")
    # --- ECG images
    image_size: int = setting(224, "page images are resized to this many pixels square", flag=True,
                              group="images")
    page_preprocess: str = setting("page", "preprocessing of page-input models: the page, grid_removed, or the format "
                                           "taken away: crop (grid area), degrid (and no grid), binary (trace "
                                           "at a fixed mm scale)", flag=True,
                                   choices=("page", "grid_removed", "crop", "degrid", "binary"), group="images")
    panel_preprocess: str = setting("panels", "preprocessing of panel-input models", group="images")
    cv: int = setting(0, "K-fold cross-validation grouped by content hash (duplicates in one fold), the "
                         "validation side carved from the training folds; mean and spread in the report (0: one "
                         "train/test split)", flag=True, group="images")
    bundle: bool = setting(False, "train the --model list on all the data but a validation side (by content hash: "
                                  "it chooses each deep member's epoch and fits the combination's calibration) "
                                  "and write them as one model bundle (keras_ecg.deploy.bundle)", flag=True,
                           group="images")
    class_map: dict | None = setting(None, "folder name -> class name as JSON (default: the known long names; "
                                           "a folder matching none of them is an error)", flag=True,
                                     group="images")
    # --- whole-record rhythm (beat models on WFDB records): written into the model card's `rhythm`
    af_rule: str = setting("no_s_in_af", "beats inside a detected AF episode: no_s_in_af (not called S for "
                                         "their timing; AAMI counts them as N) or none (the model's classes)",
                           flag=True, choices=AF_RULES, identity=False)
    # --- calibration and the uncertainty flag (fitted on the validation side after training)
    calibration: str = setting("temperature", "calibrate the outputs on the validation side: temperature, platt "
                                              "(binary models) or none", flag=True,
                               choices=("temperature", "platt", "none"), identity=False)
    target_accuracy: float = setting(0.95, "outputs are flagged uncertain below the calibrated confidence that "
                                           "keeps this accuracy on the validation side", flag=True, identity=False)
    # --- the run folder and outputs
    out: str | None = setting(None, "run folder (default runs/<recipe>-<backend>)", flag=True, identity=False)
    resume: bool = setting(False, "continue an interrupted run from its last checkpoint (reloads its "
                                  "run_config.json)", flag=True, identity=False)
    overwrite: bool = setting(False, "replace a different run in --out", flag=True, identity=False)
    export: list = setting(list(EXPORT_FORMATS), "comma-separated formats among keras,saved_model,onnx, "
                                                 "or 'none'", flag=True, choices=EXPORT_FORMATS, identity=False)
    plots: bool = setting(True, "PNG plots beside the reports (--no-plots: reports only)", flag="--no-plots",
                         identity=False)
    tensorboard: bool = setting(False, "also write TensorBoard logs", flag=True, identity=False)
    verbose: int | str = setting("auto", "keras fit verbosity: auto, 0, 1 or 2", flag=True, identity=False)

    # ------------------------------------------------------------------ dict I/O

    def to_dict(self) -> dict:
        """Every field, JSON-able (what ``run_config.json`` holds)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, what: str = "config") -> "RunConfig":
        """A checked :class:`RunConfig` from a dict (a recipe's ``CONFIG``, a ``run_config.json``).

        Unknown keys, wrong types and values outside a field's choices raise
        :class:`~keras_ecg.errors.RunError` naming ``what`` and the key.
        """
        if not isinstance(d, dict):
            raise RunError(f"{what}: expected a dict of settings, got {type(d).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        for key in d:
            if key not in known:
                by_flag = [f for f in known if flag_name(known[f]).lstrip("-").replace("-", "_") == key]
                close = by_flag or difflib.get_close_matches(str(key), known, n=3, cutoff=0.6)
                hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else \
                    f"; known settings: {', '.join(known)}"
                raise RunError(f"{what}: unknown setting {key!r}{hint}")
        try:
            return cls(**{k: _check(k, v, hints[k], known[k].metadata, what) for k, v in d.items()}).check()
        except RunError as e:
            raise RunError(str(e) if str(e).startswith(what) else f"{what}: {e}") from None

    @classmethod
    def for_recipe(cls, recipe) -> "RunConfig":
        """A recipe's ``CONFIG`` dict on top of its task's defaults (:data:`TASK_DEFAULTS`)."""
        if isinstance(recipe, RunConfig):
            return recipe
        if not isinstance(recipe, dict):
            raise RunError(f"recipe CONFIG: expected a dict of settings, got {type(recipe).__name__}")
        what = f"recipe {recipe['name']} CONFIG" if isinstance(recipe.get("name"), str) else "recipe CONFIG"
        return cls.from_dict({**TASK_DEFAULTS.get(recipe.get("task", "mitbih"), {}), **recipe}, what=what)

    def check(self) -> "RunConfig":
        """Checks across values that no type can express; returns ``self``."""
        for key in ("epochs", "batch_size", "synthetic_n"):
            if getattr(self, key) < 1:
                raise RunError(f"{self.flag(key)} must be >= 1")
        if not math.isfinite(self.learning_rate) or self.learning_rate < 0:
            raise RunError(f"{self.flag('learning_rate')} {self.learning_rate}: must be a finite number >= 0")
        for key in ("test_size", "val_size"):
            if not 0.0 < getattr(self, key) < 1.0:
                raise RunError(f"{key} must lie between 0 and 1 (got {getattr(self, key)})")
        return self

    def identity(self) -> dict:
        """The settings that make a run what it is (a run folder may be reused when these agree)."""
        return identity(self.to_dict())

    def flag(self, name: str) -> str:
        """The command-line flag of field ``name`` (``--batch-size``), or the name itself for recipe-only ones."""
        return flag_name(FIELDS[name])


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

FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}


def default(name: str):
    """The one default of setting ``name`` (``TrainConfig`` and the CLI take theirs from here)."""
    f = FIELDS[name]
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def flag_name(f: dataclasses.Field) -> str:
    flag = f.metadata["flag"]
    if isinstance(flag, str):
        return flag
    return "--" + f.name.replace("_", "-") if flag else f.name


def identity(d: dict) -> dict:
    """The identity part of a config dict (see :meth:`RunConfig.identity`)."""
    return {k: v for k, v in d.items() if not (k in FIELDS and not FIELDS[k].metadata["identity"])}


# ----------------------------------------------------------------------------- type checks


def _allowed(hint) -> tuple:
    """Python types a field's type hint allows (``int | None`` -> (int, NoneType))."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return tuple(t for a in typing.get_args(hint) for t in _allowed(a))
    return (typing.get_origin(hint) or hint,)


def _check(key, value, hint, meta, what):
    allowed = _allowed(hint)
    if isinstance(value, tuple) and list in allowed:
        value = list(value)
    if isinstance(value, list) and str in allowed and list not in allowed and key == "model":
        value = ",".join(map(str, value))  # a recipe may list its models
    if isinstance(value, int) and not isinstance(value, bool) and float in allowed and int not in allowed:
        value = float(value)
    ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
    if not ok:
        names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
        raise RunError(f"{what}: setting {key!r} must be {names}, got {value!r}")
    choices = meta.get("choices")
    for v in (value if isinstance(value, list) else [value]) if choices else ():
        if v is not None and v not in choices:
            close = difflib.get_close_matches(str(v), choices, n=1)
            hint_ = f" (did you mean {close[0]!r}?)" if close else ""
            raise RunError(f"{what}: setting {key!r}: {v!r} is not one of {', '.join(choices)}{hint_}")
    return value


# ----------------------------------------------------------------------------- command line


def _comma_list(choices):
    def parse(text: str) -> list:
        items = [t.strip() for t in text.split(",") if t.strip() and t.strip() != "none"]
        bad = [t for t in items if choices and t not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown value(s) {', '.join(bad)}; choose among "
                                             f"{', '.join(choices)} or none")
        return items
    return parse


def _json_dict(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def _verbosity(text: str):
    if text == "auto":
        return text
    if text in ("0", "1", "2"):
        return int(text)
    raise argparse.ArgumentTypeError("must be auto, 0, 1 or 2")


def add_flags(parser: argparse.ArgumentParser, cfg: RunConfig, suppress: bool = False) -> None:
    """Add a flag for every ``flag`` setting of ``cfg``'s task, its default the value in ``cfg``.

    ``suppress=True`` leaves flags that are not given out of the parsed namespace
    (to tell which flags a user gave).
    """
    from keras_ecg import backend as kb

    hints = typing.get_type_hints(RunConfig)
    groups = {"common": parser.add_argument_group("common"), cfg.task: parser.add_argument_group(cfg.task)}
    for f in dataclasses.fields(RunConfig):
        meta = f.metadata
        if not meta["flag"] or meta["group"] not in groups:
            continue
        value = getattr(cfg, f.name)
        kw = {"dest": f.name, "help": meta["help"], "metavar": flag_name(f)[2:].upper().replace("-", "_")}
        allowed = _allowed(hints[f.name])
        if bool in allowed:
            del kw["metavar"]
            kw["action"] = "store_false" if flag_name(f).startswith("--no-") else "store_true"
        elif list in allowed:
            kw["type"] = _comma_list(meta["choices"])
            if value is not None:
                value = ",".join(map(str, value))
                kw["help"] += f" (default: {value or 'none'})"
        elif dict in allowed:
            kw["type"] = _json_dict
        elif f.name == "verbose":
            kw["type"] = _verbosity
        else:
            kw["type"] = next(t for t in allowed if t is not type(None))
            if meta["choices"]:
                kw["choices"] = meta["choices"]
                del kw["metavar"]
        if f.name == "backend" and value is None:
            value = kb.default()
        if value not in (None, "") and not isinstance(value, bool) and list not in allowed:
            kw["help"] += f" (default: {value})"
        kw["default"] = argparse.SUPPRESS if suppress else value
        groups[meta["group"]].add_argument(flag_name(f), **kw)


def apply_flags(cfg: RunConfig, values: dict) -> RunConfig:
    """``cfg`` with the parsed flag ``values`` (a namespace's ``vars``), checked."""
    return dataclasses.replace(cfg, **{k: v for k, v in values.items() if k in FIELDS}).check()
