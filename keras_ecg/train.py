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

Data parallelism is the caller's choice of :class:`Strategy` (see
:func:`make_strategy`): JAX ``keras.distribution.DataParallel``, TensorFlow
``tf.distribute.MirroredStrategy``, or torch DistributedDataParallel-style
gradient averaging over ``torch.distributed`` (one process per device, started
by ``torchrun``).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import pathlib
import sys

import numpy as np

from keras_ecg import _atomic
from keras_ecg.config import PRECISIONS, STRATEGIES, default

CHECKPOINTS = "checkpoints"


@dataclasses.dataclass
class TrainConfig:
    """What :func:`fit` needs; the defaults are :class:`~keras_ecg.config.RunConfig`'s."""

    epochs: int = default("epochs")
    batch_size: int = default("batch_size")
    learning_rate: float = default("learning_rate")
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


# ----------------------------------------------------------------------------- strategy


class Strategy:
    """How a model is built and fit: ``scope()`` around build/compile/load, rank info."""

    name = "none"
    rank = 0
    world_size = 1
    num_replicas = 1
    batch_multiple = 1  # every batch (the last one too) must hold a multiple of this many items

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def scope(self):
        return contextlib.nullcontext()

    def shard(self, ds, seed=0):
        return ds

    def prepare_model(self, model):
        return model

    def barrier(self):
        pass

    def agree(self, flag: bool) -> bool:
        """The chief's value of ``flag`` on every process (so all stop together)."""
        return flag

    def describe(self) -> str:
        return self.name


class JaxDataParallel(Strategy):
    name = "data_parallel (jax keras.distribution.DataParallel)"

    def __init__(self, devices):
        import keras

        self.devices = devices
        self.num_replicas = self.batch_multiple = len(devices)
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))

    def describe(self):
        return f"{self.name} over {self.num_replicas} devices"


class TfMirrored(Strategy):
    name = "data_parallel (tf.distribute.MirroredStrategy)"

    def __init__(self):
        import tensorflow as tf

        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        # MirroredStrategy() alone uses the GPUs, or one CPU: use all logical CPUs when there is no GPU
        # (several exist only if configured with tf.config.set_logical_device_configuration).
        self.tf_strategy = tf.distribute.MirroredStrategy(devices=gpus or cpus)
        self.num_replicas = self.batch_multiple = self.tf_strategy.num_replicas_in_sync

    def scope(self):
        return self.tf_strategy.scope()

    def describe(self):
        return f"{self.name} over {self.num_replicas} replicas"


class TorchDDP(Strategy):
    """Gradient averaging over ``torch.distributed`` (gloo on CPU, nccl on GPU).

    Keras's torch trainer does not wrap ``DistributedDataParallel``, so this does
    what DDP does, minimally: parameters are broadcast from rank 0 once, every
    gradient is all-reduced and averaged by a hook on its parameter during
    ``backward()``, and each rank trains on its own shard of the data (equal
    sizes so that every rank runs the same number of steps).
    """

    name = "data_parallel (torch.distributed gradient all-reduce)"

    def __init__(self):
        import torch
        import torch.distributed as dist

        self.dist = dist
        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend)
        self.rank = dist.get_rank()
        self.world_size = self.num_replicas = dist.get_world_size()
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", self.rank)))

    def shard(self, ds, seed=0):
        n = len(ds) // self.world_size
        perm = np.random.default_rng(seed).permutation(len(ds))
        return ds.subset(np.sort(perm[self.rank * n:(self.rank + 1) * n]))

    def prepare_model(self, model):
        world = float(self.world_size)
        dist = self.dist

        def average(grad):
            grad = grad.contiguous()
            dist.all_reduce(grad, op=dist.ReduceOp.SUM)
            return grad / world

        for v in model.trainable_variables:
            p = v.value
            dist.broadcast(p.data, src=0)
            p.register_hook(average)
        for v in model.non_trainable_variables:  # e.g. batch-norm statistics
            dist.broadcast(v.value.data, src=0)
        return model

    def barrier(self):
        self.dist.barrier()

    def agree(self, flag):
        import torch

        device = "cuda" if self.dist.get_backend() == "nccl" else "cpu"  # nccl only moves GPU tensors
        t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
        self.dist.broadcast(t, src=0)
        return bool(t.item())

    def describe(self):
        return f"{self.name} over {self.world_size} processes ({self.dist.get_backend()})"


def resolve_strategy(strategy: str, backend: str, num_accelerators: int) -> str:
    """``auto`` -> ``data_parallel`` when more than one accelerator (or torch process) is visible."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if strategy != "auto":
        return strategy
    if backend == "torch" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return "data_parallel"
    return "data_parallel" if num_accelerators > 1 else "none"


def make_strategy(strategy: str, backend: str) -> Strategy:
    """A :class:`Strategy` for a resolved strategy name on ``backend`` (keras imported here)."""
    if strategy == "none":
        return Strategy()
    if backend == "jax":
        import jax

        devices = [f"{d.platform}:{d.id}" for d in jax.devices()]
        return JaxDataParallel(devices)
    if backend == "tensorflow":
        return TfMirrored()
    if backend == "torch":
        if int(os.environ.get("WORLD_SIZE", "1")) < 2:
            print("WARNING: --strategy data_parallel on torch needs several processes; launch with "
                  "torchrun --nproc_per_node=N. Training on one process.", file=sys.stderr)
            return Strategy()
        return TorchDDP()
    raise ValueError(f"unknown backend {backend!r}")


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


# ----------------------------------------------------------------------------- data


def class_weights(y, num_classes: int, mode: str = "balanced", cap: float | None = None) -> dict:
    """Class weights for ``model.fit``, JSON-able.

    ``balanced``: inverse frequency ``n / (k * count)`` (absent classes get 1.0);
    ``sqrt``: its square root (gentler on very rare classes). ``cap`` bounds
    every weight from above.
    """
    from keras_ecg.data.pipeline import class_weights as cw

    if mode not in ("balanced", "sqrt"):
        raise ValueError(f"unknown class weight mode {mode!r}; choose balanced or sqrt")
    w = {int(k): float(v) for k, v in cw(y, num_classes).items()}
    if mode == "sqrt":
        w = {k: math.sqrt(v) for k, v in w.items()}
    if cap:
        w = {k: min(v, float(cap)) for k, v in w.items()}
    return w


def model_inputs(ds):
    """``ds.x`` in the form ``model.fit``/``predict`` takes (a list for several inputs)."""
    return list(ds.inputs) if isinstance(ds.x, tuple) else ds.x


def _needs_pipeline(ds, cfg, loader) -> bool:
    x0 = ds.inputs[0]
    return loader is not None or cfg.balance or cfg.augment is not None or (isinstance(x0, np.ndarray) and x0.dtype == object)


def _pipeline(ds, cfg, batch_size, shuffle, loader, train):
    from keras_ecg.data import pipeline

    return pipeline.to_pydataset(ds, batch_size=batch_size, shuffle=shuffle, seed=cfg.seed,
                                 augment=cfg.augment if train else None,
                                 balance="oversample" if (cfg.balance and train) else None, loader=loader)


def trim(ds, multiple: int):
    """``ds`` cut to a multiple of ``multiple`` items (data-parallel batches must split evenly)."""
    if multiple <= 1 or ds is None or len(ds) % multiple == 0:
        return ds
    return ds.subset(np.arange(len(ds) - len(ds) % multiple))


def predict_proba(model, ds, batch_size=256, loader=None, multiple: int = 1):
    """Predicted probabilities for every item of ``ds`` (in order).

    With ``multiple`` > 1 the inputs are padded (by repeating the last item) to a
    multiple of it and the padding's outputs dropped.
    """
    n = len(ds)
    if multiple > 1 and n % multiple:
        pad = np.concatenate([np.arange(n), np.full(multiple - n % multiple, n - 1)])
        batch_size = max(multiple, batch_size - batch_size % multiple)
        return predict_proba(model, ds.subset(pad), batch_size, loader)[:n]
    x0 = ds.inputs[0]
    if loader is not None or (isinstance(x0, np.ndarray) and x0.dtype == object):
        data = _pipeline(ds, TrainConfig(), batch_size, False, loader, train=False)
        out = model.predict(data, verbose=0)
    else:
        out = model.predict(model_inputs(ds), batch_size=batch_size, verbose=0)
    return np.asarray(out, dtype=np.float32)


# ----------------------------------------------------------------------------- checkpoints


def _save_weights_atomic(model, final: pathlib.Path):
    tmp = final.with_name(f".tmp-{os.getpid()}-{final.name}")  # keeps the .weights.h5 ending
    try:
        model.save_weights(tmp)
        os.replace(tmp, final)
    finally:
        _atomic.remove(tmp)


def _save_model_atomic(model, final: pathlib.Path):
    with _atomic.atomic_path(final) as tmp:
        model.save(tmp)


def load_state(out_dir) -> dict | None:
    path = pathlib.Path(out_dir) / CHECKPOINTS / "state.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def _callback_base():
    import keras

    return keras.callbacks.Callback


def macro_f1(y_true, probs, num_classes: int) -> float:
    """Macro-F1 over the classes present in ``y_true`` (binary: one risk column)."""
    from keras_ecg.evaluation.metrics import classification_metrics, confusion_matrix

    probs = np.asarray(probs)
    if probs.ndim == 2 and probs.shape[1] == 1:
        pred = (probs[:, 0] >= 0.5).astype(np.int64)
        num_classes = max(num_classes, 2)
    else:
        pred = probs.argmax(axis=1)
    cm = confusion_matrix(y_true, pred, num_classes)
    return float(classification_metrics(cm, [str(i) for i in range(num_classes)])["macro_f1"] or 0.0)


def _higher_is_better(monitor: str) -> bool:
    return "loss" not in monitor


def make_run_state(out_dir, cfg: TrainConfig, strategy: Strategy, state: dict | None, val=None, loader=None):
    """The callback that checkpoints every epoch and does early stopping."""
    Callback = _callback_base()
    sign = -1.0 if _higher_is_better(cfg.monitor) else 1.0  # internally: lower is better

    class RunState(Callback):
        """Each epoch: best weights if improved, then last model, then state.json.

        Early stopping is decided on the chief and shared with every process.
        """

        def __init__(self):
            super().__init__()
            self.dir = pathlib.Path(out_dir) / CHECKPOINTS
            s = state or {}
            self.best = sign * s["best"] if s.get("best") is not None else None
            self.best_epoch = s.get("best_epoch")
            self.wait = int(s.get("wait", 0))
            self.stopped = False

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            if cfg.monitor == "val_macro_f1" and val is not None:
                probs = predict_proba(self.model, val, batch_size=max(cfg.batch_size, 256), loader=loader,
                                      multiple=strategy.batch_multiple)
                logs["val_macro_f1"] = macro_f1(val.y, probs, val.num_classes)
            key = cfg.monitor if logs.get(cfg.monitor) is not None else "loss"  # no validation side: loss
            value = logs.get(key)
            value = (sign if key == cfg.monitor else 1.0) * float(value) if value is not None else math.inf
            improved = math.isfinite(value) and (self.best is None or value < self.best)
            if improved:
                self.best, self.best_epoch, self.wait = value, epoch, 0
            else:
                self.wait += 1
            stop = cfg.patience > 0 and self.wait >= cfg.patience
            if strategy.is_chief:
                self.dir.mkdir(parents=True, exist_ok=True)
                if improved:
                    _save_weights_atomic(self.model, self.dir / "best.weights.h5")
                _save_model_atomic(self.model, self.dir / "last.keras")
                _atomic.write_json(self.dir / "state.json", {
                    "epoch": epoch, "monitor": cfg.monitor, "best": sign * self.best if self.best is not None else None,
                    "best_epoch": self.best_epoch, "wait": self.wait, "stopped": bool(stop),
                    "epochs": cfg.epochs,
                })
            if strategy.agree(stop):
                self.stopped = True
                self.model.stop_training = True

    return RunState()


def history_from_csv(path) -> dict:
    """``{metric: [per-epoch values]}`` from a CSVLogger file (all epochs, across resumes)."""
    path = pathlib.Path(path)
    if not path.exists():
        return {}
    hist: dict = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for k, v in row.items():
                if k == "epoch" or v in (None, ""):
                    continue
                try:
                    hist.setdefault(k, []).append(float(v))
                except ValueError:
                    pass
    return hist


# ----------------------------------------------------------------------------- compile / fit


def compile_model(model, binary: bool, learning_rate: float = 1e-3):
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
            model = compile_model(model, binary, cfg.learning_rate)
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
        if _needs_pipeline(train_local, cfg, loader):
            x = _pipeline(train_local, cfg, batch, True, loader, train=True)
            fit_kw = {}
            vdata = _pipeline(val, cfg, batch, False, loader, train=False) if val is not None else None
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
    if best.exists():
        model.load_weights(best)
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
