"""Data parallelism: a :class:`Strategy` per backend, chosen by :func:`make_strategy`.

JAX ``keras.distribution.DataParallel``, TensorFlow ``tf.distribute.MirroredStrategy``,
or torch DistributedDataParallel-style gradient averaging over ``torch.distributed``
(one process per device, started by ``torchrun``). Across hosts (``multi_host``):
:mod:`keras_ecg.training.multi_host`. keras and the frameworks are imported only
when a strategy is made.
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

from keras_ecg.config import STRATEGIES


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

    def load_weights(self, model, path):
        """Load a weights file the chief wrote (on the processes that can see it)."""
        if os.path.exists(path):
            model.load_weights(path)

    def local(self):
        """A context in which this process works alone (the chief's saving and evaluation)."""
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def local_model(self, model):
        """``with strategy.local_model(model) as m:`` a model this process can predict with on its own."""
        yield model

    def chief_model(self, model):
        """The model the chief evaluates and exports alone after training (multi_host: a local copy)."""
        return model

    def describe(self) -> str:
        return self.name


def shard_by_rank(ds, rank: int, world_size: int, seed=0):
    """Process ``rank``'s shard of ``ds``: a seeded split into ``world_size`` equal parts (same steps everywhere)."""
    n = len(ds) // world_size
    perm = np.random.default_rng(seed).permutation(len(ds))
    return ds.subset(np.sort(perm[rank * n:(rank + 1) * n]))


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
        return shard_by_rank(ds, self.rank, self.world_size, seed)

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


def resolve_strategy(strategy: str, backend: str, num_accelerators) -> str:
    """``auto`` -> ``multi_host`` when the environment describes several processes (TF_CONFIG,
    KERAS_DISTRIBUTION_NUM_PROCESSES), ``data_parallel`` when more than one accelerator (or torch
    process) is visible, else ``none``. ``num_accelerators``: a count, or a callable giving it (called
    only when needed: counting devices starts the framework, after which jax.distributed and
    MultiWorkerMirroredStrategy can no longer be set up)."""
    from keras_ecg.training.multi_host import multi_host_env

    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if strategy != "auto":
        return strategy
    if backend == "torch" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return "data_parallel"
    if multi_host_env(backend):
        return "multi_host"
    count = num_accelerators() if callable(num_accelerators) else num_accelerators
    return "data_parallel" if count > 1 else "none"


def make_strategy(strategy: str, backend: str) -> Strategy:
    """A :class:`Strategy` for a resolved strategy name on ``backend`` (keras imported here)."""
    if strategy == "none":
        return Strategy()
    if strategy == "multi_host":
        from keras_ecg.training import multi_host

        if backend == "jax":
            return multi_host.JaxMultiProcess()
        if backend == "tensorflow":
            return multi_host.TfMultiWorker()
        if backend == "torch" and int(os.environ.get("WORLD_SIZE", "1")) < 2:
            from keras_ecg.errors import RunError

            raise RunError("--strategy multi_host on torch: launch with torchrun --nnodes N --nproc-per-node 1 "
                           "--node-rank R --master-addr HOST --master-port PORT (WORLD_SIZE is not set)")
        ddp = TorchDDP()
        ddp.name = ddp.name.replace("data_parallel", "multi_host")
        return ddp
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
