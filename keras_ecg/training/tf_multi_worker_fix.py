"""Two fixes that let Keras 3's TensorFlow trainer fit under ``MultiWorkerMirroredStrategy``.

Keras 3.15 / TensorFlow 2.21, one replica per worker, fails in ``model.fit``:

1. ``TensorFlowTrainer._maybe_symbolic_build`` reduces the first distributed
   batch ``(x, y)`` with ``strategy.reduce("MEAN", batch, axis=None)`` to get
   its shapes; across workers that goes to the collective all-reduce, which
   cannot take a nested batch (``ValueError: Attempt to convert a value
   (PerReplica: ...) with an unsupported type``; keras-team/keras#20585).
   The fix builds from this worker's first batch (its local value).
2. ``reduce_per_replica(..., reduction="auto")`` reduces every log value
   across workers with ``strategy.reduce("MEAN", v, axis=0)``, which fails on
   the scalar losses and metrics (``ValueError: Invalid reduction dimension 0
   for input with 0 dimensions``; tensorflow/tensorflow#72388). The fix
   reduces a scalar with ``axis=None`` (the mean over the workers).

Only a multi-worker strategy is affected; other strategies take the original
code path. :func:`apply` is idempotent.
"""

from __future__ import annotations

_APPLIED = False


def apply():
    """Patch the Keras TensorFlow trainer (once per process)."""
    global _APPLIED
    if _APPLIED:
        return
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tft

    multi_worker = tft._collective_all_reduce_multi_worker
    original_build = tft.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = tft.reduce_per_replica

    def local_value(strategy, v):
        if isinstance(v, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(v)[0]
        return v

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or not multi_worker(strategy):
            return original_build(self, iterator=iterator, data_batch=data_batch)
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(lambda v: local_value(strategy, v), next(it))
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not multi_worker(strategy):
            return original_reduce(values, strategy, reduction)

        def one(v):
            if len(local_value(strategy, v).shape) == 0:
                return strategy.reduce("MEAN", v, axis=None)
            return original_reduce(v, strategy, reduction)

        return tf.nest.map_structure(one, values)

    tft.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    tft.reduce_per_replica = reduce_per_replica
    _APPLIED = True
