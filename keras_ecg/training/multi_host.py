"""Data parallelism across hosts (``--strategy multi_host``): one process per host, set up from the environment.

- JAX: ``keras.distribution.initialize()`` reads ``KERAS_DISTRIBUTION_JOB_ADDRESSES``
  (``host:port`` of the coordinator, process 0), ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and
  ``KERAS_DISTRIBUTION_PROCESS_ID`` and calls ``jax.distributed.initialize``; then
  ``keras.distribution.DataParallel`` runs over the devices of every process, each process
  feeding its own shard of every global batch (cross-process collectives on CPU: gloo).
- TensorFlow: ``tf.distribute.MultiWorkerMirroredStrategy`` reads ``TF_CONFIG``; every worker
  reads the whole training side and TensorFlow shards each global batch between the workers.
- torch: ``torchrun --nnodes N`` sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``; the strategy is
  :class:`~keras_ecg.training.distribute.TorchDDP`, as on one host.

Process 0 (TF: the ``chief`` task, else worker 0) is the chief: only it writes the run folder.
Prediction after training (and the per-epoch validation macro-F1) runs on a process-local copy
of the model (:meth:`local_model`), so the chief can evaluate and export alone.
Nothing here imports keras or a framework at module level.
"""

from __future__ import annotations

import contextlib
import json
import os

from keras_ecg.errors import RunError
from keras_ecg.training.distribute import Strategy, shard_by_rank

JAX_ENV = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID")


def tf_config() -> dict:
    """``$TF_CONFIG`` parsed (``{}`` when unset); a one-line :class:`RunError` when it is not JSON."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return {}
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        raise RunError(f"TF_CONFIG: not valid JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("cluster"), dict):
        raise RunError("TF_CONFIG: needs a 'cluster' object, e.g. {\"cluster\": {\"worker\": [\"host0:port\", "
                       "\"host1:port\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}")
    return cfg


def _tf_rank(cfg: dict) -> int:
    task = cfg.get("task") or {}
    has_chief = bool(cfg["cluster"].get("chief"))
    if task.get("type") == "chief":
        return 0
    return int(task.get("index", 0)) + (1 if has_chief else 0)


def _tf_workers(cfg: dict) -> int:
    return len(cfg["cluster"].get("chief") or []) + len(cfg["cluster"].get("worker") or [])


def process_rank() -> int:
    """This process's rank from the environment (torchrun, Keras/JAX or TF_CONFIG); 0 when single."""
    for key in ("RANK", "KERAS_DISTRIBUTION_PROCESS_ID"):
        if os.environ.get(key, "").strip():
            return int(os.environ[key])
    cfg = tf_config()
    return _tf_rank(cfg) if cfg else 0


def multi_host_env(backend: str) -> bool:
    """Whether the environment describes a multi-process job for ``backend`` (``--strategy auto``)."""
    if backend == "jax":
        return int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1") or 1) > 1
    if backend == "tensorflow":
        cfg = tf_config()
        return bool(cfg) and _tf_workers(cfg) > 1
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


class _LocalCopy:
    """A process-local copy of a distributed model (built without the strategy), weights refreshed per use."""

    def __init__(self):
        self._copies = {}

    def copy_of(self, model):
        import keras

        copy = self._copies.get(id(model))
        if copy is None:
            copy = self._copies[id(model)] = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())  # replicated weights: each process reads its own
        return copy


class JaxMultiProcess(Strategy):
    name = "multi_host (jax.distributed + keras.distribution.DataParallel)"

    def __init__(self):
        import jax
        import keras

        missing = [k for k in JAX_ENV if not os.environ.get(k, "").strip()]
        if missing:
            raise RunError(f"--strategy multi_host on jax: set {', '.join(missing)} (the coordinator host:port, "
                           "the number of processes and this process's id)")
        keras.distribution.initialize()  # jax.distributed.initialize from the KERAS_DISTRIBUTION_* variables
        self.rank, self.world_size = jax.process_index(), jax.process_count()
        self.batch_multiple = jax.local_device_count()  # each process's batch is split over its devices
        self.num_replicas = jax.device_count()
        # each process feeds its own shard (shard()); keras must not shard the arrays again
        self.distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices(),
                                                            auto_shard_dataset=False)
        keras.distribution.set_distribution(self.distribution)
        self._local = _LocalCopy()

    def _distribute(self):
        import keras

        keras.distribution.set_distribution(self.distribution)

    @contextlib.contextmanager
    def scope(self):
        self._distribute()  # on again after chief_model() (the next model of a run)
        yield

    def prepare_model(self, model):
        self._distribute()
        return model

    def shard(self, ds, seed=0):
        return shard_by_rank(ds, self.rank, self.world_size, seed)

    def barrier(self):
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("keras_ecg")

    def agree(self, flag):
        import numpy as np
        from jax.experimental import multihost_utils

        return bool(multihost_utils.broadcast_one_to_all(np.int32(1 if flag else 0)))

    def load_weights(self, model, path):
        """The chief reads ``path`` and broadcasts the weights (assigning them is collective on every process)."""
        import numpy as np
        from jax.experimental import multihost_utils

        values = model.get_weights()  # the shapes, on the processes that do not read the file
        if self.is_chief:
            with self.local_model(model) as local:
                local.load_weights(path)
                values = local.get_weights()
        model.set_weights([np.asarray(v) for v in multihost_utils.broadcast_one_to_all(values)])

    @contextlib.contextmanager
    def local(self):
        """No distribution: new variables (saving builds an optimizer) and jit stay on this process."""
        import keras

        keras.distribution.set_distribution(None)
        try:
            yield
        finally:
            keras.distribution.set_distribution(self.distribution)

    @contextlib.contextmanager
    def local_model(self, model):
        with self.local():
            yield self._local.copy_of(model)

    def chief_model(self, model):
        """A local copy; the distribution stays off (the chief works alone) until the next scope()/fit."""
        import keras

        keras.distribution.set_distribution(None)
        return self._local.copy_of(model)

    def describe(self):
        return f"{self.name} over {self.world_size} processes, {self.num_replicas} devices"


class TfMultiWorker(Strategy):
    name = "multi_host (tf.distribute.MultiWorkerMirroredStrategy)"

    def __init__(self):
        import tensorflow as tf

        from keras_ecg.training import tf_multi_worker_fix

        cfg = tf_config()
        if not cfg:
            raise RunError("--strategy multi_host on tensorflow: set TF_CONFIG (the cluster's workers and this "
                           "process's task)")
        tf_multi_worker_fix.apply()
        self.tf_strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
        self.rank, self.workers = _tf_rank(cfg), _tf_workers(cfg)
        # world_size stays 1: every worker passes the whole side and TensorFlow shards each global batch
        self.num_replicas = self.batch_multiple = self.tf_strategy.num_replicas_in_sync
        self._local = _LocalCopy()

    def scope(self):
        return self.tf_strategy.scope()

    def _sum(self, value: float) -> float:
        import tensorflow as tf

        s = self.tf_strategy
        return float(s.reduce("SUM", s.run(lambda: tf.constant(value, tf.float32)), axis=None))

    def barrier(self):
        self._sum(1.0)

    def agree(self, flag):
        return self._sum(1.0 if (flag and self.is_chief) else 0.0) > 0

    @contextlib.contextmanager
    def local_model(self, model):
        yield self._local.copy_of(model)  # built outside the strategy's scope: no collectives

    def chief_model(self, model):
        return self._local.copy_of(model)

    def describe(self):
        return f"{self.name} over {self.workers} workers, {self.num_replicas} replicas"
