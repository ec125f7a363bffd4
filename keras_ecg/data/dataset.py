"""The one dataset contract every loader returns.

A :class:`Dataset` holds model inputs ``x``, integer labels ``y``, a group id per
item (patient, record or content hash) that every split respects, the class
names and a ``meta`` dict (sampling rate or image geometry, source, whether the
data is synthetic). It is plain NumPy: importing it never imports keras.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass
class Dataset:
    """Inputs, labels and groups of one dataset.

    Args:
        x: model inputs, an array of shape ``(n, ...)`` or a tuple of such
            arrays for models with several inputs (e.g. beats and RR features).
            Image datasets may hold file paths as an object array.
        y: integer labels, shape ``(n,)``.
        groups: group id per item (record, patient or content hash), ``(n,)``.
        class_names: name of each label value, ``class_names[y[i]]``.
        meta: free-form facts: ``sampling_rate``, ``lead``, ``source``,
            ``synthetic`` (bool), ``image_size``, ``split``... The keys
            named in ``meta["item_keys"]`` hold one value per item (e.g. the
            file and page layout of each image) and are indexed by :meth:`subset`.
    """

    x: Any
    y: np.ndarray
    groups: np.ndarray
    class_names: list
    meta: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.y = np.asarray(self.y)
        self.groups = np.asarray(self.groups)
        self.class_names = list(self.class_names)
        n = len(self.y)
        for i, arr in enumerate(self.inputs):
            if len(arr) != n:
                raise ValueError(
                    f"Dataset input {i} has {len(arr)} items but y has {n}."
                )
        if len(self.groups) != n:
            raise ValueError(f"Dataset groups has {len(self.groups)} items but y has {n}.")
        if n and (self.y.min() < 0 or self.y.max() >= len(self.class_names)):
            raise ValueError(
                f"Labels must lie in [0, {len(self.class_names)}); got "
                f"[{self.y.min()}, {self.y.max()}]."
            )
        self.meta.setdefault("synthetic", False)

    @property
    def inputs(self) -> tuple:
        """The inputs as a tuple, whether the model has one input or several."""
        return self.x if isinstance(self.x, tuple) else (self.x,)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index, **meta) -> "Dataset":
        """A new Dataset with the items at ``index`` (an int array or mask)."""
        index = np.asarray(index)
        xs = tuple(np.asarray(a)[index] for a in self.inputs)
        x = xs if isinstance(self.x, tuple) else xs[0]
        per_item = {k: np.asarray(self.meta[k], dtype=object)[index].tolist()
                    for k in self.meta.get("item_keys", ()) if k in self.meta}
        return Dataset(x, self.y[index], self.groups[index], self.class_names, {**self.meta, **per_item, **meta})

    def class_counts(self) -> dict:
        counts = np.bincount(self.y, minlength=self.num_classes)
        return {name: int(c) for name, c in zip(self.class_names, counts)}

    def summary(self) -> str:
        src = self.meta.get("source", "unknown source")
        tag = " (SYNTHETIC)" if self.meta.get("synthetic") else ""
        counts = ", ".join(f"{k} {v}" for k, v in self.class_counts().items())
        return (
            f"{len(self)} items from {src}{tag}; {len(np.unique(self.groups))} groups; "
            f"classes: {counts}"
        )
