"""Rhythm figures of whole records: reference rhythm from WFDB ``+`` annotations, and the EC57
atrial-fibrillation measures of detected episodes against it (NumPy only).

Reference rhythm: a ``+`` annotation whose aux note starts with ``(`` begins a rhythm that lasts until the
next one (the last to the record's end): ``(N``, ``(AFIB``, ``(AFL``, ``(B``, ``(T``, ``(SVTA``, ``(VT``...

Measures over a set of records (:func:`af_measures`), with AF the union of the ``kinds`` (default AFIB and
AFL, the rhythms whose beats AAMI counts as N):

* episode sensitivity: reference AF episodes that detected AF overlaps / reference AF episodes;
* episode +P: detected AF episodes that overlap reference AF / detected AF episodes;
* duration sensitivity: time in both / reference AF time; duration +P: time in both / detected AF time;
* per record: AF burden (% of the record's time) of the reference and of the detection.
"""

from __future__ import annotations

import pathlib

import numpy as np

from keras_ecg.rhythm.episodes import spans as intervals  # noqa: F401 - re-exported (records.py, the benchmark)

def reference_rhythm(base) -> tuple:
    """``([(label, start_s, end_s)], duration_s)`` of the WFDB record ``base`` from its ``.atr`` rhythm notes."""
    import wfdb

    from keras_ecg.errors import DataError

    base = pathlib.Path(base)
    try:
        hdr = wfdb.rdheader(str(base))
        ann = wfdb.rdann(str(base), "atr")
    except Exception as e:
        raise DataError(f"{base}: cannot read the rhythm annotations ({type(e).__name__}: {e})") from None
    fs, n = float(hdr.fs), int(hdr.sig_len)
    starts = [(int(s), str(a).strip("\x00 ").lstrip("(")) for s, sym, a in
              zip(ann.sample, ann.symbol, ann.aux_note or [""] * len(ann.sample)) if sym == "+" and str(a).startswith("(")]
    out = []
    for i, (s, label) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else n
        if end > s:
            out.append((label, s / fs, end / fs))
    return out, n / fs


def _total(iv) -> float:
    return float(sum(b - a for a, b in iv))


def _overlap(x, y) -> float:
    """Time in both of two lists of merged intervals."""
    i = j = 0
    tot = 0.0
    while i < len(x) and j < len(y):
        a, b = max(x[i][0], y[j][0]), min(x[i][1], y[j][1])
        if b > a:
            tot += b - a
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return tot


def _hits(x, y) -> int:
    """Intervals of ``x`` that overlap some interval of ``y``."""
    return sum(any(min(b, d) > max(a, c) for c, d in y) for a, b in x)


def _ratio(a, b):
    return None if b == 0 else round(float(a) / float(b), 4)


def record_measures(reference, detected, duration_s: float, long_s: float = 60.0) -> dict:
    """The counts and burdens of one record: ``reference`` and ``detected`` are merged interval lists.

    ``long_ref_episodes`` / ``long_ref_found``: reference episodes longer than ``long_s`` and those found.
    """
    both = _overlap(reference, detected)
    long_ref = [iv for iv in reference if iv[1] - iv[0] > long_s]
    return {"ref_episodes": len(reference), "ref_found": _hits(reference, detected),
            "det_episodes": len(detected), "det_true": _hits(detected, reference),
            "ref_s": round(_total(reference), 2), "det_s": round(_total(detected), 2), "both_s": round(both, 2),
            "duration_s": round(float(duration_s), 2),
            "ref_burden": round(100 * _total(reference) / duration_s, 2) if duration_s else None,
            "det_burden": round(100 * _total(detected) / duration_s, 2) if duration_s else None,
            "longest_ref_s": round(max((b - a for a, b in reference), default=0.0), 2),
            "longest_ref_found": bool(reference) and _hits([max(reference, key=lambda v: v[1] - v[0])], detected) == 1,
            "long_ref_episodes": len(long_ref), "long_ref_found": _hits(long_ref, detected)}


def af_measures(per_record: dict) -> dict:
    """Pooled EC57 AF measures of ``{record: record_measures(...)}`` (see the module doc)."""
    s = {k: sum(m[k] for m in per_record.values()) for k in
         ("ref_episodes", "ref_found", "det_episodes", "det_true", "ref_s", "det_s", "both_s", "long_ref_episodes",
          "long_ref_found")}
    return {"episode_se": _ratio(s["ref_found"], s["ref_episodes"]), "episode_ppv": _ratio(s["det_true"], s["det_episodes"]),
            "duration_se": _ratio(s["both_s"], s["ref_s"]), "duration_ppv": _ratio(s["both_s"], s["det_s"]),
            **{k: round(v, 2) if isinstance(v, float) else v for k, v in s.items()}, "records": len(per_record)}


def n_sensitivity(ref_times, ref_classes, pred_classes, af_iv) -> dict:
    """N sensitivity (reference N beats called N) inside and outside the reference AF intervals ``af_iv``."""
    t = np.asarray(ref_times, dtype=np.float64)
    inside = np.zeros(len(t), dtype=bool)
    for a, b in af_iv:
        inside |= (t >= a) & (t < b)
    is_n = np.asarray(ref_classes) == "N"
    ok = np.asarray(pred_classes) == "N"
    out = {}
    for name, m in (("in_af", inside), ("outside_af", ~inside), ("all", np.ones(len(t), dtype=bool))):
        k = is_n & m
        out[name] = {"n_beats": int(k.sum()), "n_ok": int((ok & k).sum()), "se": _ratio(int((ok & k).sum()), int(k.sum()))}
    return out


def pooled_n(per_record: list, side: str) -> dict:
    """N sensitivity pooled over records' :func:`n_sensitivity` dicts, ``side`` ``in_af`` or ``outside_af``."""
    n = sum(d[side]["n_beats"] for d in per_record)
    ok = sum(d[side]["n_ok"] for d in per_record)
    return {"n_beats": n, "se": _ratio(ok, n)}
