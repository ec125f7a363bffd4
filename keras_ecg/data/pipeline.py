"""Input pipelines: one :class:`~keras_ecg.data.Dataset` feeds ``model.fit`` as a
``tf.data.Dataset`` (:func:`to_tf_dataset`) or a ``keras.utils.PyDataset``
(:func:`to_pydataset`), on any Keras backend.

Both share one batch plan, so with shuffling and augmentation off they yield
the same batches. Shuffling is seeded per epoch (same seed, same orders; each
epoch a different order). Batches are ``(x, y)`` with integer labels; ``x`` is
a tuple of arrays for multi-input datasets.

Augmentation is any callable ``fn(x_batch, rng) -> x_batch`` applied to the
first input (the waveform or image); :func:`waveform_augment` builds one.
Importing this module does not import keras or tensorflow.
"""

from __future__ import annotations

import numpy as np

from keras_ecg.data.dataset import Dataset

BALANCE = (None, "oversample")


def class_weights(y, num_classes: int) -> dict:
    """``{class: n / (num_classes * count)}`` for ``model.fit(class_weight=...)``.

    Classes absent from ``y`` get weight 1.0.
    """
    y = np.asarray(y, dtype=np.int64)
    counts = np.bincount(y, minlength=num_classes)[:num_classes]
    n = counts.sum()
    return {c: (float(n) / (num_classes * k) if k else 1.0) for c, k in enumerate(counts)}


def waveform_augment(noise: float = 0.01, wander: float = 0.05, scale: float = 0.1, shift: int = 5):
    """An augmentation ``fn(x_batch, rng)`` for waveforms of shape (batch, time[, leads]).

    Per item: time shift by up to ``shift`` samples (edges repeated), amplitude
    scaling by a factor in ``1 +- scale``, a baseline-wander sinusoid of up to
    ``wander`` amplitude, and Gaussian noise of standard deviation ``noise``
    (amplitudes in the signal's units).
    """

    def augment(x, rng):
        x = np.asarray(x, dtype=np.float32)
        b, n = x.shape[:2]
        extra = (1,) * (x.ndim - 2)
        out = x
        if shift:
            s = rng.integers(-shift, shift + 1, b)
            idx = np.clip(np.arange(n)[None, :] - s[:, None], 0, n - 1).reshape((b, n) + extra)
            out = np.take_along_axis(out, idx, axis=1)
        if scale:
            out = out * rng.uniform(1 - scale, 1 + scale, (b, 1) + extra)
        if wander:
            t = np.arange(n) / n
            f = rng.uniform(0.2, 1.0, (b, 1))
            phase = rng.uniform(0, 2 * np.pi, (b, 1))
            amp = rng.uniform(0, wander, (b, 1))
            out = out + (amp * np.sin(2 * np.pi * f * t + phase)).reshape((b, n) + extra)
        if noise:
            out = out + rng.normal(0.0, noise, out.shape)
        return out.astype(np.float32)

    return augment


class BatchPlan:
    """Which items form batch ``i`` of epoch ``e``, and how to fetch them."""

    def __init__(self, ds: Dataset, batch_size=32, shuffle=False, seed=0, augment=None,
                 balance=None, loader=None, cache=True, drop_remainder=False):
        if not isinstance(ds, Dataset):
            raise TypeError(f"expected a keras_ecg.data.Dataset, got {type(ds).__name__}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
        if balance not in BALANCE:
            raise ValueError(f"balance must be one of {BALANCE}; got {balance!r}.")
        if len(ds) == 0:
            raise ValueError("cannot build a pipeline from an empty Dataset.")
        self.ds, self.batch_size, self.shuffle, self.seed = ds, int(batch_size), shuffle, seed
        self.augment, self.balance, self.loader = augment, balance, loader
        self.cache, self.drop_remainder = cache, drop_remainder
        self.multi = isinstance(ds.x, tuple)
        self._memo = {}
        self._order = (None, None)
        self.epoch_size = len(self.order(0))
        if drop_remainder and self.epoch_size < self.batch_size:
            raise ValueError(f"drop_remainder with {self.epoch_size} items < batch_size {batch_size} gives no batch.")

    def __len__(self):
        full, rest = divmod(self.epoch_size, self.batch_size)
        return full + (0 if self.drop_remainder or not rest else 1)

    def order(self, epoch: int) -> np.ndarray:
        """Item indices of one epoch (oversampled and/or shuffled, seeded by epoch)."""
        if self._order[0] == epoch:
            return self._order[1]
        idx = np.arange(len(self.ds))
        if self.balance == "oversample":
            rng = np.random.default_rng([self.seed, epoch, 1])
            counts = np.bincount(self.ds.y)
            top = counts.max()
            parts = []
            for c in np.flatnonzero(counts):
                members = np.flatnonzero(self.ds.y == c)
                parts += [members, rng.choice(members, top - len(members), replace=True)]
            idx = rng.permutation(np.concatenate(parts))  # a class-sorted epoch would be useless
        if self.shuffle:
            idx = np.random.default_rng([self.seed, epoch]).permutation(idx)
        self._order = (epoch, idx)
        return idx

    def _first_input(self, idx):
        items = np.asarray(self.ds.inputs[0])[idx] if self.loader else None
        if self.loader is None:
            return np.asarray(self.ds.inputs[0][idx])
        if not self.cache:
            return np.asarray(self.loader(items))
        todo = [k for k, j in enumerate(idx) if int(j) not in self._memo]
        if todo:
            decoded = np.asarray(self.loader(items[todo]))
            for k, arr in zip(todo, decoded):
                self._memo[int(idx[k])] = arr
        return np.stack([self._memo[int(j)] for j in idx])

    def batch(self, i: int, epoch: int = 0):
        """``(x, y)`` of batch ``i`` in ``epoch``."""
        if not 0 <= i < len(self):
            raise IndexError(f"batch {i} out of range (0..{len(self) - 1}).")
        idx = self.order(epoch)[i * self.batch_size:(i + 1) * self.batch_size]
        first = self._first_input(idx)
        if first.dtype == np.float64:
            first = first.astype(np.float32)
        if self.augment is not None:
            first = np.asarray(self.augment(first, np.random.default_rng([self.seed, epoch, i, 2])))
        xs = (first,) + tuple(np.asarray(a[idx]) for a in self.ds.inputs[1:])
        y = self.ds.y[idx].astype(np.int32)
        return (xs if self.multi else xs[0]), y


def to_tf_dataset(ds: Dataset, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
                  augment=None, balance=None, loader=None, cache: bool = True,
                  drop_remainder: bool = False):
    """A batched, prefetched ``tf.data.Dataset`` of ``(x, y)`` (needs tensorflow).

    Each new iteration (each ``fit`` epoch) is the next epoch of the plan, so a
    shuffled pipeline changes order between epochs.
    """
    try:
        import tensorflow as tf
    except ImportError:
        raise ImportError("to_tf_dataset needs TensorFlow: pip install keras-ecg[tensorflow]") from None
    plan = BatchPlan(ds, batch_size, shuffle, seed, augment, balance, loader, cache, drop_remainder)
    x0, _ = plan.batch(0, 0)

    def spec(a):
        return tf.TensorSpec((None,) + a.shape[1:], tf.as_dtype(a.dtype))

    x_spec = tuple(spec(a) for a in x0) if plan.multi else spec(x0)
    epochs = [0]

    def generate():
        epoch = epochs[0]
        epochs[0] += 1
        for i in range(len(plan)):
            yield plan.batch(i, epoch)

    out = tf.data.Dataset.from_generator(
        generate, output_signature=(x_spec, tf.TensorSpec((None,), tf.int32)))
    out = out.apply(tf.data.experimental.assert_cardinality(len(plan)))
    return out.prefetch(tf.data.AUTOTUNE)


_PYDATASET_CLASS = None


def _pydataset_class():
    global _PYDATASET_CLASS
    if _PYDATASET_CLASS is None:
        import keras

        class ECGPyDataset(keras.utils.PyDataset):
            """Batches of a :class:`BatchPlan`; the epoch advances in ``on_epoch_end``."""

            def __init__(self, plan, workers=1, use_multiprocessing=False, max_queue_size=10):
                super().__init__(workers=workers, use_multiprocessing=use_multiprocessing,
                                 max_queue_size=max_queue_size)
                self.plan = plan
                self.epoch = 0

            def __len__(self):
                return len(self.plan)

            def __getitem__(self, i):
                return self.plan.batch(int(i), self.epoch)

            def on_epoch_end(self):
                self.epoch += 1

        ECGPyDataset.__module__ = __name__
        _PYDATASET_CLASS = ECGPyDataset
    return _PYDATASET_CLASS


def __getattr__(name):  # lets pickle find the lazily built class
    if name == "ECGPyDataset":
        return _pydataset_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_pydataset(ds: Dataset, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
                 augment=None, balance=None, loader=None, cache: bool = True,
                 drop_remainder: bool = False, workers: int = 1,
                 use_multiprocessing: bool = False, max_queue_size: int = 10):
    """A ``keras.utils.PyDataset`` of ``(x, y)`` batches (works on every backend)."""
    plan = BatchPlan(ds, batch_size, shuffle, seed, augment, balance, loader, cache, drop_remainder)
    return _pydataset_class()(plan, workers, use_multiprocessing, max_queue_size)
