"""Data parallelism: a :class:`Strategy` per backend, chosen by :func:`make_strategy`.

JAX ``keras.distribution.DataParallel``, TensorFlow ``tf.distribute.MirroredStrategy``,
or torch DistributedDataParallel-style gradient averaging over ``torch.distributed``
(one process per device, started by ``torchrun``). keras and the frameworks are
imported only when a strategy is made.
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
