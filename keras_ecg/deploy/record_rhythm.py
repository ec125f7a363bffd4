"""The rhythm of one record's classified beats, with the model card's settings (annotate and predict share it).

:func:`analyze` runs :func:`keras_ecg.rhythm.analyze` once on the beat times and the calibrated
probabilities, with ``card.rhythm_config()``, and returns the rhythm-aware probabilities and classes
(beats inside AF are not called S when the card's ``af_rule`` says so) with their uncertainty flags
recomputed where the rule moved probability (a flag is the card's rule on the probabilities shown).

Binary (risk) models: there is no S class to rule on, so the beat rule is off (``af_rule="none"``)
and the beats keep the model's outputs; the episodes that need only beat times are still given
(AF, pauses, bradycardia, tachycardia).

AF burden (:func:`af_burden_pct`): the time inside AFIB/AFL episodes (their union) as a percentage of
the analysed time, the span from the first to the last classified beat.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_ecg import rhythm
from keras_ecg.rhythm import episodes as E
from keras_ecg.rhythm.episodes import AF_KINDS


def config(card) -> rhythm.RhythmConfig:
    """The card's rhythm settings; the beat rule off for a binary model."""
    cfg = card.rhythm_config()
    if card.binary or "S" not in list(card.class_names or []):
        cfg = dataclasses.replace(cfg, af_rule="none")
    return cfg


def analyze(times_s, probs, card, uncertain=None) -> tuple:
    """``(Rhythm, uncertain flags)`` of beats at ``times_s`` (s) with calibrated ``probs`` ((n, K) or (n, 1))."""
    from keras_ecg.evaluation.calibration import confidence

    r = rhythm.analyze(times_s, probs, list(card.class_names), config(card))
    if uncertain is None:
        return r, None
    unsure = np.asarray(uncertain, dtype=bool)
    below = card.calibration.uncertain_below if card.calibration is not None else None
    if below is not None and len(unsure):
        unsure = np.where(r.in_af, confidence(r.probs) < below, unsure)
    return r, unsure


def af_seconds(episodes) -> float:
    """Seconds inside AFIB/AFL episodes (overlaps counted once)."""
    return float(sum(b - a for a, b in E.spans(episodes, AF_KINDS)))


def analysed_s(times_s) -> float:
    """The analysed time: from the first to the last classified beat (s)."""
    t = np.asarray(times_s, dtype=np.float64)
    return float(t[-1] - t[0]) if len(t) > 1 else 0.0


def af_burden_pct(episodes, times_s) -> float | None:
    """AF burden: % of the analysed time inside AFIB/AFL episodes (None when nothing was analysed)."""
    span = analysed_s(times_s)
    return round(100.0 * min(af_seconds(episodes) / span, 1.0), 2) if span > 0 else None
