"""Stratified grouped K-fold assignment: every group (content hash, patient) in one fold, classes spread evenly.

:func:`assign_folds` deals whole groups to ``k`` folds so that each fold holds about ``1/k`` of every
class (groups holding the rarest classes are dealt first, each to the fold where it helps the class
balance most). :class:`FoldTable` keeps that assignment under a key per item (a page's file name, or
its group id), so datasets built from the same pages by other preprocessing (lead panels that skip
some pages, digitised signals, format features) get the same folds. NumPy only; no keras.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_ecg.errors import DataError


def assign_folds(y, groups, k: int, seed: int = 0) -> np.ndarray:
    """The fold (``0..k-1``) of each item; items of one group always share a fold.

    Raises :class:`DataError` when there are fewer groups than folds.
    """
    y = np.asarray(y, dtype=np.int64)
    names, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    if not 2 <= k <= len(names):
        raise DataError(f"--cv {k}: needs 2 <= K <= the number of groups ({len(names)})")
    n_classes = int(y.max()) + 1 if len(y) else 0
    counts = np.zeros((len(names), n_classes), dtype=np.int64)
    np.add.at(counts, (inv, y), 1)
    total = counts.sum(0).astype(np.float64)
    target = total / k
    weight = 1.0 / np.maximum(target, 1.0)  # a rare class's imbalance weighs more
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    rarity = (counts[order] > 0) @ (1.0 / np.maximum(total, 1.0))  # groups with rare classes first
    order = order[np.lexsort((-counts[order].sum(1), -rarity))]
    load = np.zeros((k, n_classes), dtype=np.float64)
    fold_of = np.empty(len(names), dtype=np.int64)
    for g in order:
        before = ((load - target) ** 2 * weight).sum(1)
        after = ((load + counts[g] - target) ** 2 * weight).sum(1)
        cost = after - before + 1e-9 * load.sum(1)  # ties: the emptier fold
        f = int(np.argmin(cost))
        fold_of[g] = f
        load[f] += counts[g]
    return fold_of[inv]


@dataclasses.dataclass
class FoldTable:
    """``{item key: fold}`` for ``k`` folds, and how the keys were made (``files`` or ``groups``)."""

    k: int
    seed: int
    by: str
    folds: dict

    @classmethod
    def from_dataset(cls, ds, k: int, seed: int = 0, keys=None) -> "FoldTable":
        """Folds of ``ds`` (stratified by ``ds.y``, grouped by ``ds.groups``), keyed by ``keys`` or the groups."""
        fold = assign_folds(ds.y, ds.groups, k, seed)
        by = "groups" if keys is None else "files"
        keys = ds.groups if keys is None else keys
        return cls(int(k), int(seed), by, {str(key): int(f) for key, f in zip(keys, fold)})

    def of(self, keys, where: str = "dataset") -> np.ndarray:
        """The fold of each key; a key the table does not hold is an error naming it."""
        missing = [str(key) for key in keys if str(key) not in self.folds]
        if missing:
            raise DataError(f"{where}: {len(missing)} item(s) not in the fold table ({self.by}), "
                            f"e.g. {missing[0]!r}")
        return np.array([self.folds[str(key)] for key in keys], dtype=np.int64)

    def split(self, ds, keys=None, where: str = "dataset", name: str = "") -> list:
        """``[(train, test), ...]``: fold ``f``'s test side holds the items whose key is in fold ``f``;
        each side's ``meta["fold_keys"]`` names its items by their keys in the table."""
        keys = [str(k) for k in (ds.groups if keys is None else keys)]
        fold = self.of(keys, where)
        out = []
        for f in range(self.k):
            is_test = fold == f
            meta = {"split": f"{name or self.describe()} (fold {f + 1} of {self.k})", "fold": f,
                    "item_keys": [*[k for k in ds.meta.get("item_keys", ()) if k != "fold_keys"], "fold_keys"]}
            tr, te = np.flatnonzero(~is_test), np.flatnonzero(is_test)
            train = ds.subset(tr, split_side="train", fold_keys=[keys[i] for i in tr], **meta)
            test = ds.subset(te, split_side="test", fold_keys=[keys[i] for i in te], **meta)
            shared = set(train.groups.astype(str)) & set(test.groups.astype(str))
            if shared:  # a group split across sides would leak copies; the table keys must follow groups
                raise DataError(f"{where}: group {sorted(shared)[0]} on both sides of fold {f + 1}")
            out.append((train, test))
        return out

    def describe(self) -> str:
        return (f"stratified grouped {self.k}-fold CV by content hash (duplicates and near duplicates in one "
                f"fold; seed {self.seed})")
