"""Out-of-fold predictions of a CV run, and the models combined (the mean of their probabilities).

Every fold of :func:`keras_ecg.training.cv.cv_model` leaves the held-out fold's probabilities in
``<model>/fold<f>/test_predictions.npz`` (:func:`keras_ecg.training.predictions.write`), keyed by
the page's key in the fold table. :func:`pool` gathers them into one out-of-fold table per model
(``<model>/oof_predictions.npz``): every page was scored by a model that never saw it.

:func:`combine` scores the mean of several models' probabilities under the same folds: equal weights,
no stacking, so nothing is fitted on a held-out fold; a page is scored where every combined model read it. The Keras models' combination (``deployable``) is what
``keras-ecg predict A.keras --with B.keras PAGE`` computes (:mod:`keras_ecg.deploy.combine`); a row with
``template_baseline`` (scikit-learn, not exported) is an evaluation row only.
"""

from __future__ import annotations

import pathlib

import numpy as np

from keras_ecg.errors import RunError



def pool(model_out, k: int) -> dict:
    """``{key: (probs, y, fold)}`` from the K fold folders under ``model_out``; also written to ``oof_predictions.npz``.
    A fold without predictions (kept by ``--resume`` from a run of an older version) is an error naming it."""
    from keras_ecg.training import predictions as PR

    model_out = pathlib.Path(model_out)
    table = {}
    for f in range(k):
        path = model_out / f"fold{f + 1}" / PR.PREDICTIONS
        if not path.is_file():
            raise RunError(f"{path}: missing (fold {f + 1} of {model_out.name} wrote no predictions)")
        p = PR.read(path)
        for key, probs, y in zip(p["keys"], p["probs"], p["y"]):
            table[str(key)] = (probs, int(y), f)
    PR.write_table(model_out / PR.OOF, table)
    return table


def combine(tables: dict, class_names, binary: bool, k: int, split: str, out, evaluate_kw=None) -> dict:
    """The fold reports of the mean of ``tables`` (``{model: pool(...)}``) over the keys all of them hold."""
    from keras_ecg.data.dataset import Dataset
    from keras_ecg.evaluation import evaluate
    from keras_ecg.evaluation.calibration import as_one_form

    names = list(tables)
    keys = sorted(set.intersection(*(set(t) for t in tables.values())))
    if not keys:
        raise RunError(f"combining {' + '.join(names)}: no page was scored by all of them")
    for key in keys:  # the same page must carry the same label and fold in every model
        if len({(tables[m][key][1], tables[m][key][2]) for m in names}) != 1:
            raise RunError(f"combining {' + '.join(names)}: {key} has different labels or folds across models")
    first = tables[names[0]]
    y = np.array([first[key][1] for key in keys], np.int64)
    fold = np.array([first[key][2] for key in keys], np.int64)
    probs = np.mean([as_one_form(np.stack([tables[m][key][0] for key in keys]), binary) for m in names], axis=0)
    reports = []
    for f in range(k):
        idx = np.flatnonzero(fold == f)
        if not len(idx):
            continue
        te = Dataset(np.zeros((len(idx), 1), np.float32), y[idx], np.array([keys[i] for i in idx]),
                     list(class_names), {"split": f"{split} (fold {f + 1} of {k})"})
        reports.append(evaluate(probs[idx], te, pathlib.Path(out) / f"fold{f + 1}", split_name=te.meta["split"],
                                plots=False, **(evaluate_kw or {}),
                                extra={"model": "mean of " + " + ".join(names), "fold": f + 1}))
    return {"reports": reports, "items": len(keys)}
