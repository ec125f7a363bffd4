"""Fit a model: class weights or balanced sampling, early stopping with the best
weights restored, CSV (and optional TensorBoard) logs, seeded runs, resume.

Everything a run leaves behind lives in ``out_dir``::

    checkpoints/last.keras     model + optimizer after the last finished epoch
    checkpoints/best.weights.h5  weights of the best validation epoch
    checkpoints/state.json     epoch, best value, patience counter (written last)
    training_log.csv           one row per epoch (keras.callbacks.CSVLogger)
    tensorboard/               only with ``tensorboard=True``

All three checkpoint files are written under a temporary name and renamed, so
an interrupted run leaves the previous epoch's files intact. ``resume=True``
loads ``last.keras`` and continues at the next epoch (``initial_epoch``).

Data parallelism is the caller's choice of
:class:`~keras_ecg.training.distribute.Strategy`; checkpoints and early
stopping live in :mod:`keras_ecg.training.callbacks`.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys

from keras_ecg import _atomic
from keras_ecg.config import PRECISIONS, default
from keras_ecg.training.callbacks import CHECKPOINTS, history_from_csv, load_state, make_run_state
from keras_ecg.training.distribute import Strategy
from keras_ecg.training.inputs import class_weights, model_inputs, needs_pipeline, pipeline, trim


@dataclasses.dataclass
class TrainConfig:
    """What :func:`fit` needs; the defaults are :class:`~keras_ecg.config.RunConfig`'s."""

    epochs: int = default("epochs")
    batch_size: int = default("batch_size")
    learning_rate: float = default("learning_rate")
    lr_schedule: str = default("lr_schedule")  # constant, or cosine decay over the run's steps
    class_weight: str | None = default("class_weight")  # balanced (n / (k * count)), sqrt (its root), none
    class_weight_cap: float = default("class_weight_cap")  # a class with 6 beats would otherwise get ~1400
    balance: bool = default("balance")  # balanced sampling instead of class weights
    augment: object = None  # callable fn(x_batch, rng) -> x_batch (training side only), or None
    patience: int = default("patience")  # epochs without val improvement before stopping (0: never stop)
    monitor: str = default("monitor")  # val_macro_f1 is computed on the validation side each epoch
    seed: int = default("seed")
    resume: bool = default("resume")
    tensorboard: bool = default("tensorboard")
    verbose: int | str = default("verbose")
    bn_momentum: float | None = default("bn_momentum")  # small data: few steps per epoch

    @classmethod
    def from_run(cls, cfg, augment=None) -> "TrainConfig":
        """The training part of a :class:`~keras_ecg.config.RunConfig`."""
        names = [f.name for f in dataclasses.fields(cls) if f.name != "augment"]
        return cls(augment=augment, **{n: getattr(cfg, n) for n in names})


def set_precision(precision: str):
    """Set the keras global dtype policy (model heads are built float32)."""
    import keras

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    keras.mixed_precision.set_global_policy(precision)


def set_bn_momentum(model, momentum: float) -> int:
    """Set the momentum of every BatchNormalization layer (inside wrappers too); returns how many.

    Keras's default 0.99 needs hundreds of steps before the moving statistics
    used at inference match the data; on a few hundred images (~30 steps per
    epoch) predictions then collapse to one class. The value is saved with the model.
    """
    import keras

    n = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        inner = getattr(layer, "layer", None)  # TimeDistributed / Bidirectional wrappers
        for lyr in (layer, inner):
            if isinstance(lyr, keras.layers.BatchNormalization):
                lyr.momentum = float(momentum)
                n += 1
    return n


def ensure_float32_head(model):
    """Return ``model`` with a float32 output (adds a float32 cast layer if the head is not)."""
    import keras

    out = model.outputs[0]
    if str(out.dtype) == "float32":
        return model
    cast = keras.layers.Activation("linear", dtype="float32", name="float32_output")(out)
    return keras.Model(model.inputs, cast, name=model.name)


def learning_rate(cfg: TrainConfig, n_train: int):
    """The optimizer's learning rate: ``cfg.learning_rate``, or its cosine decay over the run's steps."""
    if cfg.lr_schedule in (None, "constant"):
        return cfg.learning_rate
    if cfg.lr_schedule != "cosine":
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine'; got {cfg.lr_schedule!r}.")
    import keras

    steps = max(1, -(-int(n_train) // max(1, int(cfg.batch_size)))) * max(1, int(cfg.epochs))
    return keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps=steps, alpha=0.01)


def compile_model(model, binary: bool, learning_rate=1e-3):
    import keras

    loss = "binary_crossentropy" if binary else "sparse_categorical_crossentropy"
    metrics = [keras.metrics.BinaryAccuracy(name="accuracy")] if binary else ["accuracy"]
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)
    return model


def load_checkpoint(out_dir, strategy: Strategy | None = None):
    """The model saved after the last finished epoch (with its optimizer state)."""
    from keras_ecg.models import load_model

    strategy = strategy or Strategy()
    with strategy.scope():
        return load_model(pathlib.Path(out_dir) / CHECKPOINTS / "last.keras")


@dataclasses.dataclass
class FitResult:
    model: object
    history: dict
    epochs_run: int
    initial_epoch: int
    best_epoch: int | None
    stopped_early: bool
    resumed: bool
    class_weight: dict | None
    members: list | None = None  # per-member figures of an ensemble (keras_ecg.training.members)


def fit(build_fn, train, val, out_dir, cfg: TrainConfig, *, binary=False, strategy: Strategy | None = None,
        loader=None, callbacks=(), log=print) -> FitResult:
    """Build (or resume) and fit a model; return it with the best weights loaded.

    Args:
        build_fn: ``() -> keras.Model`` (uncompiled); called inside the strategy scope.
        train, val: :class:`~keras_ecg.data.Dataset` sides (val may be None).
        out_dir: run folder (checkpoints, logs).
        cfg: :class:`TrainConfig`.
        binary: one sigmoid output (binary cross-entropy) instead of softmax.
        strategy: from :func:`make_strategy` (default: none).
        loader: callable that loads a batch of ``x`` items (e.g. image paths).
        callbacks: extra keras callbacks (run after the checkpointing one).
    """
    import keras

    out_dir = pathlib.Path(out_dir)
    strategy = strategy or Strategy()
    ckpt = out_dir / CHECKPOINTS
    state = load_state(out_dir) if cfg.resume else None
    resumed = bool(cfg.resume and state and (ckpt / "last.keras").exists())
    if cfg.resume and not resumed:
        log(f"--resume: no checkpoint in {ckpt}; starting from epoch 1.")
    if not resumed and strategy.is_chief and ckpt.exists():
        _atomic.remove(ckpt)
    strategy.barrier()

    if resumed:
        model = load_checkpoint(out_dir, strategy)
        initial_epoch = int(state["epoch"]) + 1
        log(f"Resuming from {ckpt / 'last.keras'} at epoch {initial_epoch + 1} of {cfg.epochs}.")
    else:
        state = None
        with strategy.scope():
            model = build_fn()
            if cfg.bn_momentum is not None:
                set_bn_momentum(model, cfg.bn_momentum)
            # optimizer steps per epoch are len(train) / global batch on every strategy (each process steps
            # through its shard with its part of the batch)
            model = compile_model(model, binary, learning_rate(cfg, len(train)))
        initial_epoch = 0
    model = strategy.prepare_model(model)

    m = strategy.batch_multiple
    train_local = trim(strategy.shard(train, seed=cfg.seed), m)
    val = trim(val, m)
    batch = max(1, cfg.batch_size // strategy.world_size)  # per-process batch on torch DDP
    if m > 1:
        batch = max(m, batch - batch % m)
    cw = None
    if cfg.class_weight not in (None, "none") and not cfg.balance:
        cw = class_weights(train.y, train.num_classes, cfg.class_weight, cfg.class_weight_cap)

    run_state = make_run_state(out_dir, cfg, strategy, state, val=val, loader=loader)
    cbs = [run_state]
    if strategy.is_chief:
        cbs.append(keras.callbacks.CSVLogger(str(out_dir / "training_log.csv"), append=resumed))
        if cfg.tensorboard:
            cbs.append(keras.callbacks.TensorBoard(log_dir=str(out_dir / "tensorboard"), write_graph=False,
                                                   profile_batch=0))
    cbs += list(callbacks)
    verbose = cfg.verbose
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    if not strategy.is_chief:
        verbose = 0

    stopped_before = bool(state and state.get("stopped"))
    if initial_epoch < cfg.epochs and not stopped_before:
        if needs_pipeline(train_local, loader, cfg.balance, cfg.augment):
            x = pipeline(train_local, batch, True, loader, seed=cfg.seed, augment=cfg.augment, balance=cfg.balance)
            fit_kw = {}
            vdata = pipeline(val, batch, False, loader, seed=cfg.seed) if val is not None else None
        else:
            x = model_inputs(train_local)
            fit_kw = {"y": train_local.y, "batch_size": batch, "shuffle": True}
            vdata = (model_inputs(val), val.y) if val is not None else None
        model.fit(x, epochs=cfg.epochs, initial_epoch=initial_epoch, validation_data=vdata,
                  class_weight=cw, callbacks=cbs, verbose=verbose, **fit_kw)
    else:
        log(f"Training already finished ({'stopped early' if stopped_before else 'all epochs'}); "
            "evaluating the saved best weights.")
    strategy.barrier()

    best = ckpt / "best.weights.h5"
    if strategy.agree(best.exists()):  # the chief's file (other hosts may not see it)
        strategy.load_weights(model, best)
    hist = history_from_csv(out_dir / "training_log.csv") if strategy.is_chief else {}
    final_state = load_state(out_dir) or {}
    return FitResult(
        model=model,
        history=hist,
        epochs_run=len(next(iter(hist.values()), [])),
        initial_epoch=initial_epoch,
        best_epoch=(final_state.get("best_epoch") + 1) if final_state.get("best_epoch") is not None else None,
        stopped_early=bool(final_state.get("stopped")),
        resumed=resumed,
        class_weight=cw,
    )
