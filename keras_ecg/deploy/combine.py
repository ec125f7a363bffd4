"""Several saved image models as one: the mean of their probabilities (``keras-ecg predict A --with B``).

What ``benchmarks/accuracy_images.py`` scores as ``mean of cnn2d + cnn1d`` under cross-validation: each
model reads a page through its own card's preprocessing (a page model the page, a 1-D model the leads
digitised off it), the raw outputs are averaged with equal weights (a binary model as its risk, a
two-column one as its second column), and the mean is the prediction. The members' calibrations are not
applied (the mean was not calibrated) and no uncertainty threshold was fitted for the combination, so each
result says ``uncertain: null`` and why in ``uncertain_note`` (rather than ``false``, which would claim a
check that was not made); a bundle (``train --bundle``) is a combination with a fitted threshold. The models
must share their class names and binary-ness; only page inputs (image files and folders) can be combined.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_ecg.deploy import predict as P
from keras_ecg.evaluation.calibration import as_one_form

IMAGE_KINDS = ("image", "panels", "digitized")
NO_THRESHOLD = {"uncertain": None, "uncertain_note": "no uncertainty threshold was fitted for this combination "
                "(train the members as one bundle, keras-ecg train --bundle, to get one)"}


def load_all(paths) -> list:
    """``[(path, model, card), ...]`` for every model path, checked to be combinable."""
    pairs = []
    for path in paths:
        model, card = P.load(path)
        if card.input_kind not in IMAGE_KINDS:
            raise P.PredictError(f"{path}: a {card.input_kind} model; only image models can be combined")
        pairs.append((str(P.find_model(path)), model, card))
    first = pairs[0][2]
    for path, _, card in pairs[1:]:
        if list(card.class_names) != list(first.class_names) or bool(card.binary) != bool(first.binary):
            raise P.PredictError(f"{path}: classes {card.class_names} (binary {card.binary}) differ from "
                                 f"{pairs[0][0]}'s {first.class_names} (binary {first.binary}): cannot combine")
    return pairs


def combined_card(pairs):
    """The first member's card, without its calibration (the mean was not calibrated)."""
    return dataclasses.replace(pairs[0][2], calibration=None)


def predict_paths(pairs, inputs, batch_size: int = 64) -> list:
    """One result per page, as :func:`keras_ecg.deploy.predict.predict_paths` gives, from the members' mean;
    each result also names the ``members``' own classes."""
    card = combined_card(pairs)
    results = []
    for inp in inputs:
        kind = P.input_type(inp)
        if kind not in ("image", "folder"):
            raise P.PredictError(f"{inp}: combined models read page images only")
        files = P.image_files(inp, kind)
        for i in range(0, len(files), batch_size):
            chunk = files[i:i + batch_size]
            outs = [as_one_form(P._outputs(m, P.image_batch(chunk, c), batch_size), card.binary)
                    for _, m, c in pairs]
            mean = np.mean(outs, axis=0)
            for j, f in enumerate(chunk):
                members = {path: P._item(o[j], dataclasses.replace(c, calibration=None))["class"]
                           for (path, _, c), o in zip(pairs, outs)}
                results.append({"input": str(f), "type": "image", **P._item(mean[j], card), **NO_THRESHOLD,
                                "members": members})
    return results
