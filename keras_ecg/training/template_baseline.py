"""Classical models on the digitised leads, beside the deep ones: gradient boosting on each lead's median beat
(``template_baseline``, :mod:`keras_ecg.data.images.beat_template`), or on the median beats and the
measurements a cardiologist reads off them (``measures_baseline``: Q waves, ST at J+60 ms, T waves, QRS,
QT/QTc, heart rate, axis, R progression; :mod:`keras_ecg.data.images.measurements`). The classifier is the
format baseline's balanced gradient boosting (:func:`keras_ecg.training.format_baseline.classifier`).

``--model template_baseline`` (or ``measures_baseline``) in an image recipe's ``--cv`` run scores it beside
the deep models, under the same folds; it reads the ``digitized`` input (the 12 leads read off each page,
100 Hz) and is fitted on a fold's training folds (no epochs: no validation side chooses anything for it).
A shipped model bundle (:mod:`keras_ecg.deploy.bundle`) keeps a fitted one as a skops file
(:func:`save`, :func:`load`): no pickle is run on load, and only the scikit-learn types in
:data:`TRUSTED` are accepted.
"""

from __future__ import annotations

import pathlib

import numpy as np

from keras_ecg.errors import DataError

NAME = "template_baseline"
MEASURES = "measures_baseline"
NAMES = (NAME, MEASURES)
INPUT_KIND = "digitized"
DESCRIPTION = {NAME: "median beat per lead", MEASURES: "median beat per lead + measurements"}
# the one type skops does not trust by default in a fitted HistGradientBoostingClassifier
TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def is_template_baseline(name: str) -> bool:
    """Whether ``name`` is one of the classical models on the digitised leads."""
    return name in NAMES


def features(x, fs: float, name: str = NAME) -> np.ndarray:
    """``(n, features)`` from digitised pages ``x`` ``(n, T, 12)`` in mV sampled at ``fs``."""
    from keras_ecg.data.images import beat_template

    x = np.asarray(x)
    rows = np.stack([beat_template.features(page, fs) for page in x])
    if name == MEASURES:
        from keras_ecg.data.images import measurements

        rows = np.concatenate([rows, measurements.features(x, fs)], axis=1)
    return rows.astype(np.float32)


def save(model, path) -> pathlib.Path:
    """A fitted classifier as a compressed skops file (written atomically)."""
    import zipfile

    import skops.io as sio

    from keras_ecg import _atomic

    path = pathlib.Path(path)
    tmp = _atomic.temp_path(path)
    sio.dump(model, tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    _atomic.replace(tmp, path)
    return path


def load(path):
    """The classifier of a skops file; refuses (one line) a file holding any type beyond :data:`TRUSTED`."""
    try:
        import skops.io as sio
    except ImportError:
        raise DataError(f"{path}: reading a classical model needs skops (pip install keras-ecg[all])") from None
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as e:  # noqa: BLE001 - any unreadable file is one line
        raise DataError(f"{path}: not a readable skops model file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    extra = sorted(set(untrusted) - set(TRUSTED))
    if extra:
        raise DataError(f"{path}: holds types this toolkit does not trust ({', '.join(extra[:3])}); not loaded")
    return sio.load(path, trusted=list(untrusted))
