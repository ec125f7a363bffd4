"""``--members N``: train N copies of a model, each on its own, and average them into one model.

Member ``k`` is fitted by :func:`keras_ecg.training.fit.fit` in ``members/<k>/`` of the run folder
with seed ``seed + 1000 * (k - 1)`` (its own initialisation, shuffling and dropout), its own early
stopping and best checkpoint on the validation side; ``--resume`` resumes each member where it
stopped. The trained members are loaded into the ensemble of :mod:`keras_ecg.models.ensemble`
(``keras_ecg.build(name, ..., members=N)``), which the runner then evaluates and exports like any
model. With ``N == 1`` this is plain :func:`fit` in the run folder itself.
"""

from __future__ import annotations

import dataclasses
import pathlib

from keras_ecg.training.fit import FitResult, fit

SEED_STEP = 1000


def member_dir(out_dir, k: int) -> pathlib.Path:
    """Run folder of member ``k`` (1-based)."""
    return pathlib.Path(out_dir) / "members" / str(k)


def fit_members(members: int, build_member, build_ensemble, train, val, out_dir, cfg, log=print,
                **fit_kw) -> FitResult:
    """Fit ``members`` copies (``build_member()`` each) and return the averaged model.

    ``build_ensemble()`` builds the (untrained) ensemble of ``members`` copies; ``cfg`` is the
    :class:`~keras_ecg.training.fit.TrainConfig`, ``fit_kw`` go to :func:`fit`. The result's
    history, epochs and best epoch are member 1's; ``members`` lists every member's.
    """
    members = int(members)
    if members <= 1:
        return fit(build_member, train, val, out_dir, cfg, log=log, **fit_kw)
    import keras

    from keras_ecg.models.ensemble import load_members

    results = []
    for k in range(1, members + 1):
        mcfg = dataclasses.replace(cfg, seed=int(cfg.seed) + SEED_STEP * (k - 1))
        keras.utils.set_random_seed(mcfg.seed)
        sub = member_dir(out_dir, k)
        sub.mkdir(parents=True, exist_ok=True)
        log(f"member {k} of {members} (seed {mcfg.seed}) -> {sub}")
        results.append(fit(build_member, train, val, sub, mcfg, log=log, **fit_kw))
    ensemble = build_ensemble()
    load_members(ensemble, [r.model for r in results])
    first = results[0]
    return dataclasses.replace(
        first, model=ensemble, stopped_early=all(r.stopped_early for r in results),
        resumed=any(r.resumed for r in results),
        members=[{"seed": int(cfg.seed) + SEED_STEP * k, "epochs_run": r.epochs_run, "best_epoch": r.best_epoch,
                  "stopped_early": r.stopped_early} for k, r in enumerate(results)])
