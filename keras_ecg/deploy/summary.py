"""A Holter-style summary of an annotated record: beats per class, heart rate, ectopy, runs.

:func:`summarize` takes the beat times and classes (NumPy only) and returns a
JSON-able dict; :func:`text` renders it for people. Definitions:

* heart rate: mean = 60 / mean RR over the whole record; min and max over
  :data:`HR_WINDOW` consecutive RR intervals (so one missed or extra beat does
  not make the extremes), each with the time of its window's first beat;
* ectopic beats: S, V and F; per hour = count / recorded hours;
* runs of S or V beats in a row: 2 = a couplet, 3 or more = a run (3+ V beats:
  ventricular run; 3+ S beats: supraventricular run), with start and end times.
"""

from __future__ import annotations

import numpy as np

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


def summarize(times_s, classes, duration_s: float, class_names) -> dict:
    """The summary dict of beats at ``times_s`` (seconds, increasing) with predicted ``classes`` (names)."""
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
    return {
        "duration_s": round(float(duration_s), 1), "beats": len(classes), "beats_per_class": counts,
        "heart_rate": _heart_rate(times),
        "ectopic_beats": sum(ectopic.values()), "ectopic_per_hour": round(sum(ectopic.values()) / hours, 1),
        "ectopic_per_hour_by_class": {c: round(v / hours, 1) for c, v in ectopic.items()},
        "run_counts": {k: per_kind.get(k, 0) for k in ("S_couplets", "S_runs", "V_couplets", "V_runs")},
        "runs": runs,
    }


def _clock(s) -> str:
    s = float(s)
    return f"{int(s // 3600):d}:{int(s % 3600 // 60):02d}:{s % 60:06.3f}"


def text(summary: dict, title: str = "") -> str:
    """A readable report of :func:`summarize`'s dict."""
    hr = summary["heart_rate"]
    lines = [title] if title else []
    lines.append(f"duration {_clock(summary['duration_s'])} ({summary['duration_s'] / 60:.1f} min), "
                 f"{summary['beats']} beats")
    lines.append("beats per class: " + ", ".join(f"{k} {v}" for k, v in summary["beats_per_class"].items()))
    if hr["mean_bpm"] is not None:
        lines.append(f"heart rate: mean {hr['mean_bpm']:.0f} bpm, min {hr['min_bpm']:.0f} bpm at "
                     f"{_clock(hr['min_at_s'])}, max {hr['max_bpm']:.0f} bpm at {_clock(hr['max_at_s'])} "
                     f"(over {hr['window_beats']} beats)")
    lines.append(f"ectopic beats: {summary['ectopic_beats']} ({summary['ectopic_per_hour']:.1f} per hour; "
                 + ", ".join(f"{c} {v:.1f}/h" for c, v in summary["ectopic_per_hour_by_class"].items()) + ")")
    rc = summary["run_counts"]
    lines.append(f"S couplets {rc['S_couplets']}, S runs (3+) {rc['S_runs']}, V couplets {rc['V_couplets']}, "
                 f"V runs (3+) {rc['V_runs']}")
    for r in summary["runs"][:50]:
        lines.append(f"  {r['class']} {r['kind']} of {r['beats']} beats, {_clock(r['start_s'])} - {_clock(r['end_s'])}")
    if len(summary["runs"]) > 50:
        lines.append(f"  ... {len(summary['runs']) - 50} more in summary.json")
    return "\n".join(lines) + "\n"
