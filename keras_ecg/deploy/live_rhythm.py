"""The rhythm of a live stream's beats: rhythm changes as they are detected, and the whole stream's at its end.

The rules are annotate's (:func:`keras_ecg.deploy.record_rhythm.analyze` with the card's settings, one rhythm
label per beat by :func:`keras_ecg.deploy.rhythm_files.beat_rhythms`, a change placed midway between two
beats by :func:`keras_ecg.deploy.rhythm_files.changes`). While the stream runs, every :data:`EVERY_S` seconds
of signal the beats of the last :data:`WINDOW_S` seconds (and :data:`CONTEXT_S` before the first beat not
final yet) are analysed, and the labels of the beats older than
:data:`SETTLE_S` seconds become final: an AF episode or a sustained rate is only reported once it has lasted
30 s (the card's ``af_min_s``, ``sustained_s``), and two AF stretches 10 s apart are one episode
(``af_merge_s``), so a rhythm change is announced about 40 s after its first beat. At the end the whole
stream is analysed once, as annotate analyses a record, which gives the summary and the last changes.
"""

from __future__ import annotations

import numpy as np

from keras_ecg.deploy import record_rhythm, rhythm_files

SETTLE_S = 40.0
WINDOW_S = 300.0
EVERY_S = 5.0
CONTEXT_S = 60.0  # analysed before the first beat whose label is not final (when beats come in a burst)


class LiveRhythm:
    """Rhythm changes of the beats given to :meth:`add` (see the module doc)."""

    def __init__(self, card, fs: float):
        self.card, self.fs = card, float(fs)
        self.samples = np.zeros(0, dtype=np.int64)
        self.probs = None  # (beats, K) calibrated
        self.unsure = None
        self.final = 0  # beats whose rhythm label is final
        self.label, self.at = None, 0  # the last final beat's label and sample
        self.analysed_s = -np.inf

    def add(self, samples, probs, unsure=None) -> list:
        """Take classified beats (R-peak samples, calibrated probabilities, flags): ``[(sample, label)]`` of the
        rhythm changes that became final."""
        self.samples = np.concatenate([self.samples, np.asarray(samples, dtype=np.int64)])
        p = np.asarray(probs, dtype=np.float64)
        self.probs = p if self.probs is None else np.concatenate([self.probs, p])
        u = np.zeros(len(p), dtype=bool) if unsure is None else np.asarray(unsure, dtype=bool)
        self.unsure = u if self.unsure is None else np.concatenate([self.unsure, u])
        t = self.samples / self.fs
        if not len(t) or t[-1] - self.analysed_s < EVERY_S:
            return []
        self.analysed_s = t[-1]
        first = t[min(self.final, len(t) - 1)]  # the first beat not final yet, with CONTEXT_S before it
        i0 = int(np.searchsorted(t, min(t[-1] - WINDOW_S, first - CONTEXT_S)))
        labels = self._labels(t[i0:], self.probs[i0:])
        upto = int(np.searchsorted(t, t[-1] - SETTLE_S, side="right"))
        return self._commit(labels[max(self.final - i0, 0):upto - i0], upto)

    def _labels(self, t, probs) -> list:
        r, _ = record_rhythm.analyze(t, probs, self.card)
        return rhythm_files.beat_rhythms(t, r.classes, r.episodes)

    def _commit(self, labels, upto) -> list:
        if upto <= self.final:
            return []
        s = self.samples[self.final:upto]
        out = rhythm_files.changes(s, labels, self.at, self.label)
        self.final, self.label, self.at = upto, labels[-1], int(s[-1])
        return out

    def end(self, keep=None) -> tuple:
        """The stream is over: ``(changes, rhythm, unsure)``: the last rhythm changes, the whole stream's
        :class:`keras_ecg.rhythm.Rhythm` of the beats ``keep`` (a mask; default all) and their flags."""
        keep = np.ones(len(self.samples), dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
        if not keep.any():
            return [], None, None
        t = self.samples[keep] / self.fs
        probs = self.probs[keep] if self.probs is not None else np.zeros((0, 1))
        r, unsure = record_rhythm.analyze(t, probs, self.card, self.unsure[keep] if self.unsure is not None else None)
        labels = rhythm_files.beat_rhythms(t, r.classes, r.episodes)
        idx = np.flatnonzero(keep)
        tail = idx >= self.final  # the beats whose label was not final yet
        changes = []
        if tail.any():
            s = self.samples[idx[tail]]
            changes = rhythm_files.changes(s, [lab for lab, k in zip(labels, tail) if k], self.at, self.label)
            self.final = len(self.samples)
        return changes, r, unsure
