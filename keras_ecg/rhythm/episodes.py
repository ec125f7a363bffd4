"""Rhythm episodes of a whole record from its beat times and beat classes (NumPy only).

An :class:`Episode` is one stretch of a rhythm or event: its ``kind`` (:data:`KINDS`), onset and
offset (seconds from the record's start), the beats inside and the ventricular rate over them.
The rules here need only the beats: pauses, sustained bradycardia and tachycardia, ventricular
runs and ventricular tachycardia, supraventricular runs, bigeminy and trigeminy. Atrial
fibrillation and flutter come from :mod:`keras_ecg.rhythm.af`.

Definitions (their limits are the fields of :class:`keras_ecg.rhythm.analysis.RhythmConfig`):

* ``PAUSE``: one RR interval longer than ``pause_s`` (2.0 s); onset and offset are its two beats;
* ``BRADY`` / ``TACHY``: the heart rate over every window of ``rate_beats`` RR intervals below
  ``brady_bpm`` / above ``tachy_bpm``, for at least ``sustained_s`` seconds;
* ``VRUN``: 3 or more V beats in a row at a rate under ``vt_bpm``; ``VT``: the same at ``vt_bpm``
  (100 bpm) or more; ``SVRUN``: 3 or more S beats in a row (supraventricular run or tachycardia);
* ``BIGEMINY`` / ``TRIGEMINY``: ``min_cycles`` or more cycles in a row of one normal beat then one
  ectopic (S or V) beat / two normal beats then one ectopic beat.
"""

from __future__ import annotations

import dataclasses

import numpy as np

KINDS = ("AFIB", "AFL", "PAUSE", "BRADY", "TACHY", "VRUN", "VT", "SVRUN", "BIGEMINY", "TRIGEMINY")
ECTOPIC = ("S", "V")
AF_KINDS = ("AFIB", "AFL")


@dataclasses.dataclass(frozen=True)
class Episode:
    kind: str  # one of KINDS
    start_s: float  # onset: the first beat's time (a pause: the beat before it)
    end_s: float  # offset: the last beat's time (a pause: the beat after it)
    beats: int  # beats from onset to offset, both included
    mean_bpm: float | None = None  # mean ventricular rate over the episode's RR intervals
    max_bpm: float | None = None  # the fastest rate over RATE_BEATS consecutive RR intervals inside it

    @property
    def duration_s(self) -> float:
        return float(self.end_s - self.start_s)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["duration_s"] = round(self.duration_s, 3)
        for k in ("start_s", "end_s"):
            d[k] = round(float(d[k]), 3)
        for k in ("mean_bpm", "max_bpm"):
            d[k] = None if d[k] is None else round(float(d[k]), 1)
        return d


def _rates(times, i0, i1, window=8):
    """(mean, max) bpm of the beats ``times[i0..i1]``; max over ``window`` consecutive RRs."""
    t = np.asarray(times[i0:i1 + 1], dtype=np.float64)
    if len(t) < 2:
        return None, None
    rr = np.diff(t)
    mean = 60.0 / float(rr.mean())
    w = min(window, len(rr))
    c = np.concatenate([[0.0], np.cumsum(rr)])
    return mean, float((60.0 * w / (c[w:] - c[:-w])).max())


def make(kind, times, i0, i1) -> Episode:
    """The episode ``kind`` from beat ``i0`` to beat ``i1`` (indices into ``times``, both included)."""
    mean, peak = _rates(times, i0, i1)
    return Episode(kind, float(times[i0]), float(times[i1]), int(i1 - i0 + 1), mean, peak)


def _stretches(mask):
    """``[(i0, i1)]``: the runs of True in a boolean array, both ends included."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1))


def pauses(times, limit_s: float = 2.0) -> list:
    t = np.asarray(times, dtype=np.float64)
    return [make("PAUSE", t, int(i), int(i) + 1) for i in np.flatnonzero(np.diff(t) > limit_s)]


def class_runs(times, classes, vt_bpm: float = 100.0, min_beats: int = 3) -> list:
    """Ventricular runs (``VRUN`` / ``VT``) and supraventricular runs (``SVRUN``) of ``min_beats`` or more."""
    c = np.asarray(classes, dtype=str)
    out = []
    for cls in ("V", "S"):
        for i0, i1 in _stretches(c == cls):
            if i1 - i0 + 1 < min_beats:
                continue
            if cls == "S":
                out.append(make("SVRUN", times, i0, i1))
                continue
            # the rate of a run: its own RR intervals, and the one leading into it
            mean, _ = _rates(times, max(i0 - 1, 0), i1)
            out.append(make("VT" if mean is not None and mean >= vt_bpm else "VRUN", times, i0, i1))
    return out


def patterns(times, classes, min_cycles: int = 3) -> list:
    """Bigeminy (N X N X ...) and trigeminy (N N X N N X ...) of ``min_cycles`` cycles or more; X = S or V."""
    c = np.asarray(classes, dtype=str)
    ect = np.isin(c, ECTOPIC)
    normal = c == "N"
    out = []
    for kind, period in (("BIGEMINY", 2), ("TRIGEMINY", 3)):
        # beat i closes a cycle when it is ectopic and the period-1 beats before it are normal
        closes = ect.copy()
        for k in range(1, period):
            closes[k:] &= normal[:-k]
            closes[:k] = False
        idx = np.flatnonzero(closes)
        if len(idx) == 0:
            continue
        # consecutive cycles: closing beats exactly `period` apart
        breaks = np.flatnonzero(np.diff(idx) != period)
        for seg in np.split(idx, breaks + 1):
            if len(seg) >= min_cycles:
                out.append(make(kind, times, int(seg[0]) - (period - 1), int(seg[-1])))
    return out


def rate_episodes(times, brady_bpm: float = 50.0, tachy_bpm: float = 100.0, sustained_s: float = 30.0,
                  rate_beats: int = 8, skip=None) -> list:
    """Sustained bradycardia and tachycardia: the rate over ``rate_beats`` RRs beyond a limit for ``sustained_s``.

    ``skip``: per beat, True where the beat lies in another episode that explains the rate (AF, VT,
    a supraventricular run): those beats start or continue no rate episode.
    """
    t = np.asarray(times, dtype=np.float64)
    if len(t) <= rate_beats:
        return []
    c = np.concatenate([[0.0], np.cumsum(np.diff(t))])
    hr = 60.0 * rate_beats / (c[rate_beats:] - c[:-rate_beats])  # window j: beats j .. j + rate_beats
    free = np.ones(len(hr), dtype=bool)
    if skip is not None:
        s = np.concatenate([[0], np.cumsum(np.asarray(skip, dtype=np.int64))])
        free = (s[rate_beats + 1:] - s[:-rate_beats - 1]) == 0
    out = []
    for kind, mask in (("BRADY", hr < brady_bpm), ("TACHY", hr > tachy_bpm)):
        for j0, j1 in _stretches(mask & free):
            i0, i1 = int(j0), int(j1) + rate_beats
            if t[i1] - t[i0] >= sustained_s:
                out.append(make(kind, t, i0, i1))
    return out


def beats_in(times, episodes, kinds) -> np.ndarray:
    """Per beat: True when its time lies inside an episode of one of ``kinds`` (onset and offset included)."""
    t = np.asarray(times, dtype=np.float64)
    mask = np.zeros(len(t), dtype=bool)
    for e in episodes:
        if e.kind in kinds:
            mask |= (t >= e.start_s) & (t <= e.end_s)
    return mask


def spans(episodes, kinds=AF_KINDS) -> list:
    """``[(start_s, end_s)]`` merged, of episodes (``Episode`` objects or ``(label, start, end)``) of ``kinds``."""
    iv = []
    for e in episodes:
        kind, a, b = (e.kind, e.start_s, e.end_s) if hasattr(e, "kind") else e
        if kind in kinds and b > a:
            iv.append((float(a), float(b)))
    iv.sort()
    merged = []
    for a, b in iv:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
