"""Checkpoints and early stopping: the per-epoch run state, and the CSV history.

Every epoch the chief writes, each under a temporary name then renamed::

    checkpoints/best.weights.h5  weights of the best validation epoch (when it improved)
    checkpoints/last.keras     model + optimizer after the epoch
    checkpoints/state.json     epoch, best value, patience counter (written last)

so an interrupted run leaves the previous epoch's files intact.
"""

from __future__ import annotations

import csv
import json
import math
import os
import pathlib

import numpy as np

from keras_ecg import _atomic
from keras_ecg.training.inputs import predict_proba

CHECKPOINTS = "checkpoints"


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


def make_run_state(out_dir, cfg, strategy, state: dict | None, val=None, loader=None):
    """The callback that checkpoints every epoch and does early stopping.

    ``cfg``: the :class:`~keras_ecg.training.fit.TrainConfig` (monitor, patience, epochs, batch size);
    ``strategy``: the :class:`~keras_ecg.training.distribute.Strategy` (only the chief writes).
    """
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
                with strategy.local_model(self.model) as model:  # every process predicts on its own
                    probs = predict_proba(model, val, batch_size=max(cfg.batch_size, 256), loader=loader,
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
                with strategy.local():
                    self._save(epoch, improved, stop)
            if strategy.agree(stop):
                self.stopped = True
                self.model.stop_training = True

        def _save(self, epoch, improved, stop):
            self.dir.mkdir(parents=True, exist_ok=True)
            if improved:
                _save_weights_atomic(self.model, self.dir / "best.weights.h5")
            _save_model_atomic(self.model, self.dir / "last.keras")
            _atomic.write_json(self.dir / "state.json", {
                "epoch": epoch, "monitor": cfg.monitor, "best": sign * self.best if self.best is not None else None,
                "best_epoch": self.best_epoch, "wait": self.wait, "stopped": bool(stop),
                "epochs": cfg.epochs,
            })

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
