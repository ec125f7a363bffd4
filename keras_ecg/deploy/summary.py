"""A Holter-style summary of an annotated record: AF burden, rhythm episodes, beats per class, heart rate, ectopy.

:func:`summarize` takes the beat times and classes (NumPy only), and the record's rhythm episodes
(:func:`keras_ecg.rhythm.analyze`), and returns a JSON-able dict; :func:`text` renders it for
people, AF first. Definitions:

* analysed time (``analysed_s``): from the first to the last classified beat;
* AF burden (``af_burden_pct``): % of the analysed time inside AFIB/AFL episodes;
* episodes: each one's kind, onset, offset, duration, beats, mean and maximum ventricular rate
  (:class:`keras_ecg.rhythm.Episode`), and their count per kind;
* ``longest_rr``: the longest RR interval; ``longest_pause``: the longest pause episode (an RR
  interval over the card's ``pause_s``), or null;
* ectopic beats outside AF (``ectopic_outside_af``): S, V and F beats not inside an AF episode, per
  hour of analysed time outside AF (the existing ``ectopic_per_hour`` is per recorded hour);
* ``relabelled_in_af``: beats whose class the AF rule changed (their S probability went to N);
* heart rate: mean = 60 / mean RR over the whole record; min and max over
  :data:`HR_WINDOW` consecutive RR intervals (so one missed or extra beat does
  not make the extremes), each with the time of its window's first beat;
* ectopic beats: S, V and F; per hour = count / recorded hours;
* runs of S or V beats in a row: 2 = a couplet, 3 or more = a run (3+ V beats:
  ventricular run; 3+ S beats: supraventricular run), with start and end times.

``annotate`` adds ``signal_quality`` (:meth:`keras_ecg.data.quality.Quality.to_dict`); :func:`text` then opens
with the analysable fraction, the unreadable segments per reason, and each unreadable stretch with its times.
"""

from __future__ import annotations

import numpy as np

from keras_ecg.deploy import record_rhythm

HR_WINDOW = 10
ECTOPIC = ("S", "V", "F")
RUN_CLASSES = ("S", "V")


def _runs(classes, times):
    out = []
    i, n = 0, len(classes)
    while i < n:
        j = i
        while j + 1 < n and classes[j + 1] == classes[i]:
            j += 1
        if classes[i] in RUN_CLASSES and j > i:
            out.append({"class": classes[i], "beats": j - i + 1, "kind": "couplet" if j == i + 1 else "run",
                        "start_s": round(float(times[i]), 3), "end_s": round(float(times[j]), 3)})
        i = j + 1
    return out


def _heart_rate(times):
    rr = np.diff(times)
    if len(rr) == 0:
        return {"mean_bpm": None, "min_bpm": None, "max_bpm": None, "min_at_s": None, "max_at_s": None,
                "window_beats": HR_WINDOW}
    w = min(HR_WINDOW, len(rr))
    c = np.concatenate([[0.0], np.cumsum(rr)])
    hr = 60.0 * w / (c[w:] - c[:-w])
    lo, hi = int(np.argmin(hr)), int(np.argmax(hr))
    return {"mean_bpm": round(60.0 / float(rr.mean()), 1), "min_bpm": round(float(hr[lo]), 1),
            "max_bpm": round(float(hr[hi]), 1), "min_at_s": round(float(times[lo]), 3),
            "max_at_s": round(float(times[hi]), 3), "window_beats": w}


def _longest_rr(times):
    if len(times) < 2:
        return None
    i = int(np.argmax(np.diff(times)))
    return {"duration_s": round(float(times[i + 1] - times[i]), 3), "start_s": round(float(times[i]), 3),
            "end_s": round(float(times[i + 1]), 3)}


def _rhythm(times, classes, class_names, episodes, in_af, relabelled) -> dict:
    """The rhythm part of the summary (see the module doc)."""
    from keras_ecg.rhythm import KINDS

    in_af = np.zeros(len(times), dtype=bool) if in_af is None else np.asarray(in_af, dtype=bool)
    analysed, af = record_rhythm.analysed_s(times), record_rhythm.af_seconds(episodes)
    hours = max(analysed - af, 0.0) / 3600.0
    outside = [c for c, a in zip(classes, in_af) if not a]
    ect = {c: outside.count(c) for c in ECTOPIC if c in class_names}
    pauses = [e for e in episodes if e.kind == "PAUSE"]
    longest = max(pauses, key=lambda e: e.duration_s) if pauses else None
    return {
        "af_burden_pct": record_rhythm.af_burden_pct(episodes, times), "analysed_s": round(analysed, 3),
        "af_s": round(af, 3), "episode_counts": {k: sum(e.kind == k for e in episodes) for k in KINDS},
        "episodes": [e.to_dict() for e in episodes],
        "longest_pause": longest.to_dict() if longest else None, "longest_rr": _longest_rr(times),
        "ectopic_outside_af": {
            "beats": sum(ect.values()), "hours": round(hours, 4),
            "per_hour": round(sum(ect.values()) / hours, 1) if hours > 0 else None,
            "per_hour_by_class": {c: (round(v / hours, 1) if hours > 0 else None) for c, v in ect.items()}},
        "relabelled_in_af": int(relabelled or 0),
    }


def summarize(times_s, classes, duration_s: float, class_names, episodes=None, in_af=None, relabelled=None) -> dict:
    """The summary dict of beats at ``times_s`` (seconds, increasing) with predicted ``classes`` (names).

    ``episodes`` (:class:`keras_ecg.rhythm.Episode`), ``in_af`` (per beat) and ``relabelled`` come from
    :func:`keras_ecg.rhythm.analyze`; without ``episodes`` the rhythm keys are left out.
    """
    times = np.asarray(times_s, dtype=np.float64)
    classes = [str(c) for c in classes]
    hours = max(float(duration_s), 1e-9) / 3600.0
    counts = {n: classes.count(n) for n in class_names}
    ectopic = {c: counts.get(c, 0) for c in ECTOPIC if c in counts}
    runs = _runs(classes, times)
    per_kind = {}
    for r in runs:
        key = f"{r['class']}_{'couplets' if r['kind'] == 'couplet' else 'runs'}"
        per_kind[key] = per_kind.get(key, 0) + 1
    out = {
        "duration_s": round(float(duration_s), 1), "beats": len(classes), "beats_per_class": counts,
        "heart_rate": _heart_rate(times),
        "ectopic_beats": sum(ectopic.values()), "ectopic_per_hour": round(sum(ectopic.values()) / hours, 1),
        "ectopic_per_hour_by_class": {c: round(v / hours, 1) for c, v in ectopic.items()},
        "run_counts": {k: per_kind.get(k, 0) for k in ("S_couplets", "S_runs", "V_couplets", "V_runs")},
        "runs": runs,
    }
    if episodes is not None:
        out.update(_rhythm(times, classes, list(class_names), list(episodes), in_af, relabelled))
    return out


def clock(s) -> str:
    """Seconds from the record's start as ``H:MM:SS.sss``."""
    s = float(s)
    return f"{int(s // 3600):d}:{int(s % 3600 // 60):02d}:{s % 60:06.3f}"


MAX_LINES = 50


def _rate(e) -> str:
    if e["mean_bpm"] is None:
        return ""
    return f", mean {e['mean_bpm']:.0f} bpm, max {e['max_bpm']:.0f} bpm"


def _rhythm_lines(summary: dict) -> list:
    """AF burden, the episodes, the longest pause: what a Holter reader looks at first."""
    eps = summary["episodes"]
    af = [e for e in eps if e["kind"] in record_rhythm.AF_KINDS]
    burden = summary["af_burden_pct"]
    head = f"AF burden {burden if burden is not None else 0:.1f}% of {clock(summary['analysed_s'])} analysed"
    if af:
        big = max(af, key=lambda e: e["duration_s"])
        rule = (summary.get("rhythm_config") or {}).get("af_rule")
        ruled = ("beat classes as the model gives them" if rule == "none"
                 else f"{summary['relabelled_in_af']} beats relabelled by the AF rule")
        head += (f" ({len(af)} AF episode{'s' * (len(af) > 1)}, longest {clock(big['duration_s'])} from "
                 f"{clock(big['start_s'])}; {ruled})")
    else:
        head += " (no AF episode)"
    lines = [head]
    counts = ", ".join(f"{k} {v}" for k, v in summary["episode_counts"].items() if v)
    lines.append(f"episodes: {counts or 'none'}")
    for e in eps[:MAX_LINES]:
        lines.append(f"  {e['kind']:9s} {clock(e['start_s'])} - {clock(e['end_s'])} ({e['duration_s']:.1f} s), "
                     f"{e['beats']} beats{_rate(e)}")
    if len(eps) > MAX_LINES:
        lines.append(f"  ... {len(eps) - MAX_LINES} more in summary.json and the episodes CSV")
    p, rr = summary["longest_pause"], summary["longest_rr"]
    if p is not None:
        n = summary["episode_counts"]["PAUSE"]
        lines.append(f"longest pause {p['duration_s']:.2f} s at {clock(p['start_s'])} ({n} pause{'s' * (n != 1)})")
    elif rr is not None:
        lines.append(f"no pauses (longest RR {rr['duration_s']:.2f} s at {clock(rr['start_s'])})")
    return lines


def text(summary: dict, title: str = "") -> str:
    """A readable report of :func:`summarize`'s dict."""
    hr = summary["heart_rate"]
    lines = [title] if title else []
    q = summary.get("signal_quality")
    if q:
        bad = {k: v for k, v in q["unreadable_segments"].items() if v}
        lines.append(f"signal quality: {100 * q['analysable_fraction']:.1f}% analysable"
                     + (f"; unreadable {q['segment_s']:g} s segments: " + ", ".join(f"{k} {v}" for k, v in bad.items())
                        + f" ({summary.get('beats_in_unreadable_segments', 0)} detections there not classified)"
                        if bad else ""))
        spans = q.get("unreadable") or []
        for u in spans[:MAX_LINES]:  # each stretch with its times, as the strip chart hatches it
            lines.append(f"  unreadable {clock(u['start_s'])} - {clock(u['end_s'])} "
                         f"({u['end_s'] - u['start_s']:.0f} s): {u['reason']}")
        if len(spans) > MAX_LINES:
            lines.append(f"  ... {len(spans) - MAX_LINES} more unreadable stretches in summary.json")
    if "episodes" in summary:
        lines += _rhythm_lines(summary)
    lines.append(f"duration {clock(summary['duration_s'])} ({summary['duration_s'] / 60:.1f} min), "
                 f"{summary['beats']} beats")
    lines.append("beats per class: " + ", ".join(f"{k} {v}" for k, v in summary["beats_per_class"].items()))
    if hr["mean_bpm"] is not None:
        lines.append(f"heart rate: mean {hr['mean_bpm']:.0f} bpm, min {hr['min_bpm']:.0f} bpm at "
                     f"{clock(hr['min_at_s'])}, max {hr['max_bpm']:.0f} bpm at {clock(hr['max_at_s'])} "
                     f"(over {hr['window_beats']} beats)")
    lines.append(f"ectopic beats: {summary['ectopic_beats']} ({summary['ectopic_per_hour']:.1f} per hour; "
                 + ", ".join(f"{c} {v:.1f}/h" for c, v in summary["ectopic_per_hour_by_class"].items()) + ")")
    out_af = summary.get("ectopic_outside_af")
    if out_af is not None and out_af["per_hour"] is not None:
        lines.append(f"ectopic beats outside AF: {out_af['beats']} ({out_af['per_hour']:.1f} per hour over "
                     f"{out_af['hours']:.2f} h; " + ", ".join(f"{c} {v:.1f}/h" for c, v in
                                                            out_af["per_hour_by_class"].items()) + ")")
    rc = summary["run_counts"]
    lines.append(f"S couplets {rc['S_couplets']}, S runs (3+) {rc['S_runs']}, V couplets {rc['V_couplets']}, "
                 f"V runs (3+) {rc['V_runs']}")
    for r in summary["runs"][:MAX_LINES]:
        lines.append(f"  {r['class']} {r['kind']} of {r['beats']} beats, {clock(r['start_s'])} - {clock(r['end_s'])}")
    if len(summary["runs"]) > MAX_LINES:
        lines.append(f"  ... {len(summary['runs']) - MAX_LINES} more in summary.json")
    return "\n".join(lines) + "\n"
