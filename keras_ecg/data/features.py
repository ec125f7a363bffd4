"""Mutual-information ("information gain") selection of the most informative
samples of a beat, fitted on the training side only.

    sel = MutualInfoSelector(k=60).fit(train.x, train.y)
    x_train, x_test = sel.transform(train.x), sel.transform(test.x)

Uses scikit-learn's ``mutual_info_classif`` (``pip install scikit-learn``).
"""

from __future__ import annotations

import numpy as np

from keras_ecg.data.dataset import Dataset


class MutualInfoSelector:
    """Keep the ``k`` input columns with the highest mutual information with y.

    Args:
        k: number of samples (columns) to keep (60 in the original project).
        max_samples: fit on at most this many rows, drawn with ``seed`` (the
            kNN estimator is slow on ~100k beats); None uses every row.
        seed: random state of the subsampling and of the estimator.
        n_neighbors: neighbours of the kNN mutual-information estimator.
    """

    def __init__(self, k: int = 60, max_samples: int | None = 20000, seed: int = 0, n_neighbors: int = 3):
        if k < 1:
            raise ValueError(f"k must be >= 1; got {k}.")
        self.k, self.max_samples, self.seed, self.n_neighbors = int(k), max_samples, seed, n_neighbors
        self.scores_ = None
        self.indices_ = None

    @staticmethod
    def _flat(x):
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError(f"expected inputs of shape (n, samples...), got {x.shape}.")
        return x.reshape(len(x), -1)

    def fit(self, x, y) -> "MutualInfoSelector":
        try:
            from sklearn.feature_selection import mutual_info_classif
        except ImportError:
            raise ImportError("MutualInfoSelector needs scikit-learn: pip install scikit-learn") from None
        x, y = self._flat(x), np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}.")
        if self.k > x.shape[1]:
            raise ValueError(f"k={self.k} is more than the {x.shape[1]} columns of x.")
        if self.max_samples and len(x) > self.max_samples:
            rows = np.random.default_rng(self.seed).choice(len(x), self.max_samples, replace=False)
            x, y = x[rows], y[rows]
        self.scores_ = mutual_info_classif(x, y, n_neighbors=self.n_neighbors, random_state=self.seed)
        top = np.argsort(-self.scores_, kind="stable")[: self.k]
        self.indices_ = np.sort(top)  # keep time order
        return self

    def transform(self, x) -> np.ndarray:
        if self.indices_ is None:
            raise RuntimeError("MutualInfoSelector: call fit() on the training data first.")
        return self._flat(x)[:, self.indices_].astype(np.float32)

    def fit_transform(self, x, y) -> np.ndarray:
        return self.fit(x, y).transform(x)

    def transform_dataset(self, ds: Dataset) -> Dataset:
        """A copy of ``ds`` whose first input keeps only the selected samples."""
        first = self.transform(ds.inputs[0])
        x = (first,) + tuple(ds.inputs[1:]) if isinstance(ds.x, tuple) else first
        meta = {**ds.meta, "selected_samples": self.indices_.tolist()}
        return Dataset(x, ds.y, ds.groups, ds.class_names, meta)
