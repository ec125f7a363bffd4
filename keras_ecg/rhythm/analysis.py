"""Whole-record rhythm analysis: episodes from beat times and classes, and the beat rule for AF.

    from keras_ecg import rhythm
    result = rhythm.analyze(times_s, probs, class_names)           # RhythmConfig() defaults
    result.episodes, result.classes, result.probs, result.in_af

:func:`analyze` runs, in this order:

1. the AF detector (:mod:`keras_ecg.rhythm.af`) on the RR intervals, which gives ``AFIB`` episodes
   (atrial fibrillation and flutter with an irregular ventricular response: RR intervals alone do
   not tell the two apart, so both are reported as ``AFIB``);
2. the beat rule (``af_rule="no_s_in_af"``): a beat inside an AF episode is not called S for its
   timing; its S probability goes to N (AAMI counts beats in AF as N unless ventricular or
   aberrant), and its class is the argmax of what is left. ``af_rule="none"`` keeps the model's classes;
3. the beat-pattern episodes on the (ruled) classes: ventricular runs and VT, supraventricular runs,
   bigeminy, trigeminy (:mod:`keras_ecg.rhythm.episodes`);
4. sustained bradycardia and tachycardia outside AF, VT and supraventricular runs, and pauses.

The configuration is stored in the model card (``rhythm``) so predict, evaluate and annotate apply it alike.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_ecg.card_rhythm import AF_RULES, RhythmConfig
from keras_ecg.rhythm import af as AF
from keras_ecg.rhythm import episodes as E

@dataclasses.dataclass
class Rhythm:
    episodes: list  # [Episode], sorted by onset
    classes: list  # class name per beat, after the beat rule
    probs: np.ndarray  # class probabilities per beat, after the beat rule
    in_af: np.ndarray  # per beat: inside an AF episode
    af_score: np.ndarray  # per beat: the AF detector's value
    relabelled: int  # beats whose class the beat rule changed
    config: RhythmConfig


def _class_names(probs, class_names):
    names = list(class_names)
    if probs.shape[1] == 1:
        return [names[int(p >= 0.5)] for p in probs[:, 0]]
    return [names[k] for k in probs.argmax(axis=1)]


def no_s_in_af(probs, class_names, in_af) -> np.ndarray:
    """``probs`` with the S probability of the beats ``in_af`` moved to N."""
    names = list(class_names)
    if "S" not in names or "N" not in names or probs.shape[1] != len(names):
        return probs
    s, n = names.index("S"), names.index("N")
    out = np.array(probs, dtype=np.float64, copy=True)
    out[in_af, n] += out[in_af, s]
    out[in_af, s] = 0.0
    return out


def analyze(times_s, probs, class_names, config: RhythmConfig | None = None) -> Rhythm:
    """Episodes and rhythm-aware beat classes of one record's beats (see the module doc)."""
    cfg = config or RhythmConfig()
    t = np.asarray(times_s, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    classes = _class_names(probs, class_names)
    score = AF.score(t, classes, cfg.af_detector)
    flags = np.nan_to_num(score, nan=-np.inf) > cfg.af_threshold
    episodes = [E.make("AFIB", t, i0, i1) for i0, i1 in AF.stretches(t, flags, cfg.af_merge_s, cfg.af_min_s)]
    in_af = E.beats_in(t, episodes, E.AF_KINDS)
    if cfg.af_rule == "no_s_in_af":
        new_probs = no_s_in_af(probs, class_names, in_af)
    elif cfg.af_rule == "none":
        new_probs = probs
    else:
        raise ValueError(f"unknown af_rule {cfg.af_rule!r}; use one of {AF_RULES}")
    new_classes = _class_names(new_probs, class_names)
    relabelled = sum(a != b for a, b in zip(classes, new_classes))
    episodes += E.class_runs(t, new_classes, vt_bpm=cfg.vt_bpm)
    episodes += E.patterns(t, new_classes, min_cycles=cfg.pattern_cycles)
    skip = E.beats_in(t, episodes, ("AFIB", "AFL", "VT", "SVRUN"))
    episodes += E.rate_episodes(t, cfg.brady_bpm, cfg.tachy_bpm, cfg.sustained_s, cfg.rate_beats, skip=skip)
    episodes += E.pauses(t, cfg.pause_s)
    episodes.sort(key=lambda e: (e.start_s, e.kind))
    return Rhythm(episodes, new_classes, new_probs, in_af, score, relabelled, cfg)
