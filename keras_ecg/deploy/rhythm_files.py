"""Rhythm outputs of an annotated record: WFDB rhythm annotations beside the beats, and the CSV of episodes.

The WFDB annotation file (:func:`annotations`, written by :func:`write_wfdb`) holds, in time order:

* every beat, as its MIT-BIH symbol;
* a rhythm annotation (symbol ``+``, the rhythm in its aux note, e.g. ``(AFIB``) before the first
  beat and wherever the rhythm changes, placed as the MIT-BIH database places them: midway between
  the last beat of the old rhythm and the first beat of the new one;
* a comment (symbol ``"``, aux note e.g. ``PAUSE 2.4s``) in the middle of each pause.

``wfdb.rdann`` and the WFDB viewers (WAVE, LightWAVE) read these as they read the MIT-BIH rhythm labels.

Episode kind -> aux note (:data:`AUX`); outside every episode the rhythm is ``(N``:

=============  ========  =====================================================================
AFIB           (AFIB     atrial fibrillation
AFL            (AFL      atrial flutter
VT             (VT       ventricular tachycardia
VRUN           (IVR      a slower ventricular run (idioventricular rhythm)
SVRUN          (SVTA     supraventricular tachyarrhythmia (a run of 3+ S beats)
BIGEMINY       (B        ventricular bigeminy; ``(AB`` (atrial bigeminy) when most of the
                         episode's ectopic beats are S
TRIGEMINY      (T        trigeminy (MIT-BIH has no atrial trigeminy code)
BRADY          (SBR      sustained slow rate outside the other episodes
TACHY          (ST       sustained fast rate outside the other episodes (not an MIT-BIH code)
=============  ========  =====================================================================

The toolkit sees no P waves: ``(SBR`` and ``(ST`` mean a sustained rate, not a checked sinus rhythm.

One rhythm at a time: a beat inside several episodes takes the first kind of :data:`PRIORITY`
(VT > VRUN > AFIB > AFL > SVRUN > BIGEMINY > TRIGEMINY > TACHY > BRADY): a ventricular rhythm drives
the ventricles over the atrial one beneath it, and a rate episode is the least specific.
"""

from __future__ import annotations

import io

import numpy as np

AUX = {"AFIB": "(AFIB", "AFL": "(AFL", "VT": "(VT", "VRUN": "(IVR", "SVRUN": "(SVTA", "BIGEMINY": "(B",
       "TRIGEMINY": "(T", "BRADY": "(SBR", "TACHY": "(ST"}
NONE = "(N"
PRIORITY = ("VT", "VRUN", "AFIB", "AFL", "SVRUN", "BIGEMINY", "TRIGEMINY", "TACHY", "BRADY")
RHYTHM, NOTE = "+", '"'
CSV_COLUMNS = ("kind", "onset_s", "offset_s", "onset", "offset", "duration_s", "beats", "mean_bpm", "max_bpm")


def _span(times, e):
    """``(i0, i1)``: the beats from the episode's onset to its offset (``i1`` excluded)."""
    return (int(np.searchsorted(times, e.start_s - 1e-9, "left")),
            int(np.searchsorted(times, e.end_s + 1e-9, "right")))


def aux_note(e, classes=()) -> str:
    """The rhythm label of episode ``e``; ``classes``: the classes of its beats (for bigeminy)."""
    if e.kind == "BIGEMINY":
        c = list(classes)
        return "(AB" if c.count("S") > c.count("V") else "(B"
    return AUX[e.kind]


def beat_rhythms(times_s, classes, episodes) -> list:
    """Per beat, the rhythm label (aux note) it lies in: the highest-priority episode, else ``(N``."""
    t = np.asarray(times_s, dtype=np.float64)
    labels = np.full(len(t), NONE, dtype=object)
    rank = np.full(len(t), len(PRIORITY))
    for e in episodes:
        if e.kind not in PRIORITY:
            continue  # pauses are comments, not rhythms
        k = PRIORITY.index(e.kind)
        i0, i1 = _span(t, e)
        idx = np.arange(i0, i1)[rank[i0:i1] > k]
        labels[idx] = aux_note(e, classes[i0:i1])
        rank[idx] = k
    return labels.tolist()


def changes(samples, labels, prev_sample: int = 0, prev_label=None) -> list:
    """``[(sample, label)]``: where the per-beat rhythm ``labels`` of beats at ``samples`` change (the first beat:
    always, unless its label is ``prev_label``), midway between the beat before (at ``prev_sample``) and the beat."""
    out = []
    for i, s in enumerate(np.asarray(samples, dtype=np.int64).tolist()):
        before = prev_label if i == 0 else labels[i - 1]
        if i == 0 and prev_label is None or labels[i] != before:
            prev = prev_sample if i == 0 else int(samples[i - 1])
            out.append((prev + (s - prev) // 2, labels[i]))
    return out


def annotations(samples, symbols, fs: float, classes, episodes) -> tuple:
    """``(sample, symbol, aux_note)`` of the annotation file: beats, rhythm changes, pause comments."""
    s = np.asarray(samples, dtype=np.int64)
    t = s / float(fs)
    rh = beat_rhythms(t, list(classes), episodes)
    rows = [(at, 0, RHYTHM, label) for at, label in changes(s, rh)]  # (sample, order at one sample, symbol, aux)
    rows += [(int(s[i]), 1, symbols[i], "") for i in range(len(s))]  # rhythm, then beat, then comment
    for e in episodes:
        if e.kind == "PAUSE":
            rows.append((int(round((e.start_s + e.end_s) / 2 * fs)), 2, NOTE, f"PAUSE {e.duration_s:.1f}s"))
    rows.sort(key=lambda r: (r[0], r[1]))
    taken = -1  # no two rhythm annotations or comments share a sample: a later one moves on by one
    for k, (samp, order, sym, aux) in enumerate(rows):
        if order != 1:
            taken = max(samp, taken + 1)
            rows[k] = (taken, order, sym, aux)
    rows.sort(key=lambda r: (r[0], r[1]))
    return (np.array([r[0] for r in rows], dtype=np.int64), [r[2] for r in rows], [r[3] for r in rows])


def write_wfdb(name, fs: float, samples, symbols, classes, episodes, extension: str, write_dir) -> dict:
    """Write ``write_dir/name.extension`` with :func:`annotations`; ``{extension: path}``."""
    import pathlib

    from keras_ecg.data.wfdb_io import _wfdb

    sample, symbol, aux = annotations(samples, symbols, fs, classes, episodes)
    _wfdb().wrann(name, extension, sample, symbol=symbol, aux_note=aux, fs=float(fs), write_dir=str(write_dir))
    return {extension: pathlib.Path(write_dir) / f"{name}.{extension}"}


def _num(v, fmt):
    return "" if v is None else format(v, fmt)


def episodes_csv(episodes) -> str:
    """One row per episode: kind, onset and offset (s, and clock time from the record's start), duration, beats,
    mean and maximum rate (bpm)."""
    from keras_ecg.deploy.summary import clock

    buf = io.StringIO()
    buf.write(",".join(CSV_COLUMNS) + "\n")
    for e in episodes:
        buf.write(f"{e.kind},{e.start_s:.3f},{e.end_s:.3f},{clock(e.start_s)},{clock(e.end_s)},{e.duration_s:.3f},"
                  f"{e.beats},{_num(e.mean_bpm, '.1f')},{_num(e.max_bpm, '.1f')}\n")
    return buf.getvalue()
