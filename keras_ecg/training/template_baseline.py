"""A classical baseline on the digitised leads: each lead's median beat
(:mod:`keras_ecg.data.images.beat_template`), classified by the same balanced gradient boosting as the
format baseline (:func:`keras_ecg.training.format_baseline.classifier`).

``--model template_baseline`` in an image recipe's ``--cv`` run scores it beside the deep models, under
the same folds; it reads the ``digitized`` input (the 12 leads read off each page) and is fitted on a
fold's training folds (it has no epochs: no validation side chooses anything for it). It is a CV row
only: a single train/test run refuses it.
"""

from __future__ import annotations

import numpy as np

NAME = "template_baseline"
INPUT_KIND = "digitized"


def is_template_baseline(name: str) -> bool:
    return name == NAME


def features(x, fs: float) -> np.ndarray:
    """``(n, features)`` from digitised pages ``x`` ``(n, T, 12)`` in mV sampled at ``fs``."""
    from keras_ecg.data.images import beat_template

    return np.stack([beat_template.features(page, fs) for page in np.asarray(x)])
