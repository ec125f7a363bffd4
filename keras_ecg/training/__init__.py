"""Training: from a recipe's run configuration to a fitted, evaluated and exported model.

- :mod:`~keras_ecg.training.runner`: a recipe (``CONFIG`` + flags) to a run: backend, data, fit, evaluate,
  export (``runner.main(CONFIG)``).
- :mod:`~keras_ecg.training.sources`: where a run's data comes from (``--data`` path, synthetic, ``auto``).
- :mod:`~keras_ecg.training.fit`: :class:`TrainConfig`, :func:`fit` (build or resume, compile, fit, best
  weights back), precision and batch-norm settings.
- :mod:`~keras_ecg.training.distribute`: data-parallel strategies per backend.
- :mod:`~keras_ecg.training.multi_host`: ``--strategy multi_host``, one process per host, set up from
  ``KERAS_DISTRIBUTION_*`` (JAX), ``TF_CONFIG`` (TensorFlow) or ``torchrun --nnodes`` (torch).
- :mod:`~keras_ecg.training.callbacks`: per-epoch checkpoints, early stopping, the CSV history.
- :mod:`~keras_ecg.training.inputs`: class weights, arrays or a ``PyDataset``, :func:`predict_proba`.

Importing this package never imports keras.
"""

from keras_ecg.training.callbacks import CHECKPOINTS, history_from_csv, load_state, macro_f1
from keras_ecg.training.distribute import Strategy, make_strategy, resolve_strategy
from keras_ecg.training.fit import (FitResult, TrainConfig, compile_model, ensure_float32_head, fit,
                                    load_checkpoint, set_bn_momentum, set_precision)
from keras_ecg.training.inputs import class_weights, model_inputs, predict_proba, trim

__all__ = ["CHECKPOINTS", "FitResult", "Strategy", "TrainConfig", "class_weights", "compile_model",
           "ensure_float32_head", "fit", "history_from_csv", "load_checkpoint", "load_state", "macro_f1",
           "make_strategy", "model_inputs", "predict_proba", "resolve_strategy", "set_bn_momentum",
           "set_precision", "trim"]
