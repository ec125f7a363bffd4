"""The shortcut audit's format-only baseline: a page's format (:mod:`keras_ecg.data.images.format_features`),
never its trace, classified by scikit-learn gradient boosting, scored under the same folds as the models.

``source="file"`` reads each page file (size, aspect, JPEG tables, colours, grid, noise, layout);
``source="input"`` measures what a page model is shown after its preprocessing (colours, grid, noise of
the model's input array), to show how much format a preprocessing option leaves. It is fitted on all of
a fold's training folds (it has no epochs, so no validation side chooses anything for it).
"""

from __future__ import annotations

import numpy as np

NAME = "format_baseline"


def classifier(seed: int = 0, n: int = 1000):
    """Balanced gradient boosting on the format features (scikit-learn, imported here); ``n`` training
    items: under 200 (a test's handful of pages) 30 boosting rounds, else 150."""
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
    except ImportError as e:
        raise ImportError("the format baseline needs scikit-learn: pip install keras-ecg[all]") from e
    return HistGradientBoostingClassifier(max_iter=150 if n >= 200 else 30, learning_rate=0.1, max_leaf_nodes=15,
                                          min_samples_leaf=5, l2_regularization=1.0, class_weight="balanced",
                                          random_state=seed)


def input_features(x, root=None, keys=None, tag: str = "input", log=None) -> np.ndarray:
    """Format features of model inputs ``(n, H, W, C)`` normalised as in :mod:`.preprocess` (image kinds);
    cached per page file when ``root`` and ``keys`` (file names) are given, under ``tag``."""
    from keras_ecg.data.images import format_features as ff

    names = ff.IMAGE_FEATURES

    def one(i, path=None):
        a = np.clip((np.asarray(x[i], np.float32) + 1.0) * 127.5, 0, 255).astype(np.uint8)
        return ff.vector(ff.image_features(a[..., 0] if a.shape[-1] == 1 else a), names)

    if root is None or keys is None:
        return np.stack([one(i) for i in range(len(x))])
    return ff.cached_rows(root, keys, tag, one, len(names), log=log)


def fit_predict(x_train, y_train, x_test, num_classes: int, seed: int = 0) -> np.ndarray:
    """Probabilities ``(n_test, num_classes)``; a class absent from training gets probability 0."""
    model = classifier(seed, len(x_train)).fit(x_train, y_train)
    p = model.predict_proba(x_test)
    full = np.zeros((len(x_test), num_classes), np.float32)
    full[:, model.classes_] = p
    return full


def importances(x, y, names, seed: int = 0, top: int = 8) -> list:
    """The features that carry the most (permutation importance on the data it was fitted on), largest first."""
    from sklearn.inspection import permutation_importance

    model = classifier(seed, len(x)).fit(x, y)
    imp = permutation_importance(model, x, y, n_repeats=3, random_state=seed, scoring="balanced_accuracy")
    order = np.argsort(-imp.importances_mean)[:top]
    return [[str(names[i]), round(float(imp.importances_mean[i]), 4)] for i in order]
