"""What a cardiologist measures on a 12-lead ECG, from each lead's median beat (NumPy and SciPy only).

Method, per lead (:func:`measure`):

1. the lead's finite stretch (a page prints each lead for 2.5 s or 5 s; NaN elsewhere) is resampled to
   :data:`FS_WORK` (500 Hz, polyphase) so that times come in 2 ms steps; the information is still that
   of the input: 10 ms at the 100 Hz of the ``digitized`` model input, about 10 ms on a page scanned at
   100 px per second (1 px per 0.4 mm at 25 mm/s);
2. beats are the peaks of the QRS energy (the mean absolute slope over 40 ms), at least
   :data:`MIN_RR_S` apart and at least a third of the largest; each beat is aligned on the first-pass
   median beat by cross-correlation (within 20 ms) and its own isoelectric level, the median of the PR
   segment (the 30 ms that end 6 ms before QRS onset), is subtracted; the median beat is the sample-wise
   median of the aligned beats (beats cut by the stretch's ends count where they have samples). This is
   :mod:`.beat_template`'s idea with a PR baseline and alignment added (that module is left as the
   template features it gives);
3. QRS onset and offset (the J point), on the slope of the beat smoothed over 16 ms: the QRS core is
   where the slope exceeds 20 % of its peak (gaps under 24 ms bridged); it is extended outwards over
   the samples whose slope is above ``max(4 % of the peak, 1.5 mV/s)`` (over gaps under 12 ms), by at
   most 80 ms on each side;
4. Q: an initial negative deflection (the first sample beyond 0.03 mV is negative): ``q_ms`` from
   onset to its return to the baseline, ``q_mv`` its depth (positive); a QRS with no positive part is a
   QS (``q_ms`` = ``qrs_ms``). ``r_mv``: the highest point of the QRS; ``s_mv``: the depth (positive) of
   the lowest point after the first positive deflection;
5. ``st_j_mv`` and ``st_j60_mv``: the level at J and J + 60 ms; on the beat smoothed over 40 ms, T's
   peak is its largest deviation, between J + 80 ms and ``onset + min(0.5 s, 0.7 RR)``, from the line
   that runs from the J + 60 ms level down to the baseline at that window's end, and ``t_mv`` the peak's level (signed, from the baseline: an upright
   T on a depressed ST reads near 0, not as an inverted T); T end by the tangent method (the tangent at
   the steepest point of T's return meets the baseline), ``qt_ms`` from QRS onset to T end, NaN when
   T's peak is less than 0.05 mV beyond the baseline.

Global: ``heart_rate_bpm`` from the median RR of the beats of the rhythm strip (a lead named
``rhythm``) or, without one, of all leads; ``qrs_ms`` and ``qt_ms`` are the upper quartile over leads
(the global QRS runs from the earliest onset to the latest offset, which one lead underestimates; the
quartile rather than the maximum so one misread lead does not decide); ``qtc_ms`` is Bazett's
(QT / sqrt(RR in s)); ``axis_deg`` the frontal axis from the net QRS amplitude (R - max(Q, S)) of I and
aVF: ``atan2(2 aVF / sqrt(3), I)`` (aVF = sqrt(3)/2 of the frontal vector's vertical part, I = its
horizontal part); ``r_progression``: R in V1..V6 and the transition (the first V lead with R >= S).

:func:`evidence` lists only the abnormal findings, each in at least two contiguous leads of one
territory (:data:`TERRITORIES`; two leads of a territory count as contiguous, a simplification):

- ST elevation at J + 60 ms >= 0.1 mV, in V2 and V3 >= 0.2 mV, and ST depression <= -0.05 mV (the 4th
  universal definition of myocardial infarction, ESC/ACC/AHA/WHF 2018, which reads the J point; J + 60 ms
  is read here because a digitised J point is the least certain sample of the beat; V2-V3 use the
  0.2 mV of men >= 40 years for everyone);
- pathological Q: ``q_ms`` >= 40, or ``q_ms`` >= 30 with ``q_mv`` >= 0.1 mV and >= 25 % of R (the
  universal definition's 30 ms / 0.1 mV with the Q/R ratio of Minnesota codes 1-1/1-2, simplified: no
  per-lead tables, no aVR, QS counts as a Q of the QRS's duration);
- T inversion: ``t_mv`` <= -0.1 mV (aVR excluded);
- global: QRS >= 120 ms, QTc (Bazett) > 470 ms, axis outside -30..+90 degrees, heart rate > 100 or
  < 50 bpm, poor R progression (R in V3 <= 0.3 mV, 3 mm).

:func:`vector` flattens a measurement into :data:`FEATURE_NAMES` for a classical classifier and
:func:`features` does both on the ``digitized`` model input ``(250, 12)`` at 100 Hz (or a batch).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from keras_ecg.data.images.panels import LEADS

LEADS12 = [lead for lead in LEADS if lead != "rhythm"]
FS_WORK = 500.0  # Hz every lead is measured at
MIN_RR_S = 0.3
PRE_S, POST_S = 0.35, 0.65  # the median beat's window around the QRS energy peak
ALIGN_S = 0.02
CORE_FRAC, EXTEND_FRAC, MIN_SLOPE = 0.20, 0.04, 1.5  # of the peak slope; mV/s
BRIDGE_S, EXTEND_GAP_S, EXTEND_S = 0.024, 0.012, 0.08
SLOPE_S = 0.016
PR_S, PR_GAP_S = 0.030, 0.006
T_MIN_MV = 0.05
Q_FIRST_MV = 0.03  # a deflection starts beyond this (above the noise of a median beat)

ST_ELEVATION_MV, ST_ELEVATION_V2V3_MV, ST_DEPRESSION_MV = 0.1, 0.2, -0.05
Q_MS, Q_MS_DEEP, Q_MV, Q_R_RATIO = 40.0, 30.0, 0.1, 0.25
T_INVERTED_MV = -0.1
QRS_WIDE_MS, QTC_LONG_MS = 120.0, 470.0
AXIS_RANGE = (-30.0, 90.0)
HR_RANGE = (50.0, 100.0)
R_V3_POOR_MV = 0.3
TERRITORIES = {"inferior": ["II", "III", "aVF"], "lateral": ["I", "aVL", "V5", "V6"],
               "anterior": ["V1", "V2", "V3", "V4"]}
LEAD_KEYS = ("q_ms", "q_mv", "r_mv", "s_mv", "st_j_mv", "st_j60_mv", "t_mv", "qrs_ms", "qt_ms")


def _nan_lead() -> dict:
    return {k: math.nan for k in LEAD_KEYS}


def _finite_run(v: np.ndarray) -> np.ndarray:
    """The longest run of finite samples of ``v``."""
    ok = np.isfinite(v)
    if not ok.any():
        return v[:0]
    d = np.diff(np.concatenate(([0], ok.astype(np.int8), [0])))
    s, e = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
    k = int(np.argmax(e - s))
    return v[s[k]:e[k]]


def _resample(v: np.ndarray, fs: float) -> np.ndarray:
    from scipy.signal import resample_poly

    if len(v) < 4 or fs == FS_WORK:
        return np.asarray(v, np.float64)
    f = Fraction(FS_WORK / fs).limit_denominator(64)
    return resample_poly(np.asarray(v, np.float64), f.numerator, f.denominator, padtype="line")


def _slope(y: np.ndarray) -> np.ndarray:
    """|dy/dt| in mV/s of ``y`` smoothed over :data:`SLOPE_S`."""
    k = max(1, int(round(SLOPE_S * FS_WORK)))
    return np.abs(np.gradient(np.convolve(y, np.ones(k) / k, mode="same")) * FS_WORK)


def beats(v: np.ndarray) -> np.ndarray:
    """Sample indices (at :data:`FS_WORK`) of the QRS complexes of one lead: peaks of its QRS energy."""
    from scipy.signal import find_peaks

    if len(v) < int(0.5 * FS_WORK) or np.ptp(v) < 0.1:
        return np.zeros(0, np.int64)
    w = int(0.04 * FS_WORK)
    e = np.convolve(np.abs(np.gradient(v)), np.ones(w) / w, mode="same")
    peaks, _ = find_peaks(e, distance=int(MIN_RR_S * FS_WORK), height=e.max() / 3)
    return peaks


def _stack(v, peaks, pre, post):
    out = np.full((len(peaks), pre + post), np.nan)
    for i, p in enumerate(peaks):
        a, b = max(0, p - pre), min(len(v), p + post)
        out[i, a - (p - pre):b - (p - pre)] = v[a:b]
    return out


def _nanmedian(a, axis=0):
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(a, axis=axis)


def median_beat(v: np.ndarray, peaks: np.ndarray):
    """``(template, onset, offset)``: the aligned, PR-baselined median beat of one lead (:data:`FS_WORK`),
    QRS onset and offset as indices into it; None when there is none."""
    pre, post = int(PRE_S * FS_WORK), int(POST_S * FS_WORK)
    if not len(peaks):
        return None
    w = _stack(v, peaks, pre, post)
    w = w - _nanmedian(w[:, :pre - int(0.06 * FS_WORK)], axis=1)[:, None]
    first = _nanmedian(w)
    # align each beat on the first-pass median over the QRS (+-60 ms)
    sh = int(ALIGN_S * FS_WORK)
    core = slice(pre - int(0.06 * FS_WORK), pre + int(0.06 * FS_WORK))
    ref = first[core]
    if np.isfinite(ref).all() and len(peaks) > 1:
        shifted = []
        for k, p in enumerate(peaks):
            best, best_c = 0, -np.inf
            for s in range(-sh, sh + 1):
                seg = v[max(0, p + s + core.start - pre):max(0, p + s + core.stop - pre)]
                if len(seg) != len(ref):
                    continue
                c = float(np.dot(seg - seg.mean(), ref - ref.mean()))
                if c > best_c:
                    best, best_c = s, c
            shifted.append(p + best)
        peaks = np.asarray(shifted)
    w = _stack(v, peaks, pre, post)
    tmp = _nanmedian(w - _nanmedian(w[:, :pre - int(0.06 * FS_WORK)], axis=1)[:, None])
    if not np.isfinite(tmp[core]).all():
        return None
    onset, offset = qrs_bounds(tmp, pre)
    if onset is None:
        return None
    a = onset - int((PR_S + PR_GAP_S) * FS_WORK)
    b = onset - int(PR_GAP_S * FS_WORK)
    base = _nanmedian(w[:, max(0, a):b], axis=1)
    ok = np.isfinite(base)
    if not ok.any():
        return None
    tmp = _nanmedian(w[ok] - base[ok, None])
    return tmp, onset, offset


def qrs_bounds(y: np.ndarray, centre: int):
    """QRS ``(onset, offset)`` indices of a median beat ``y`` (:data:`FS_WORK`) around ``centre``."""
    from scipy.ndimage import binary_closing, label

    d = _slope(np.nan_to_num(y))
    lo, hi = centre - int(0.1 * FS_WORK), centre + int(0.1 * FS_WORK)
    peak = float(d[lo:hi].max())
    if not np.isfinite(peak) or peak < 4 * MIN_SLOPE:
        return None, None
    mask = d > CORE_FRAC * peak
    mask[:lo] = False
    mask[hi:] = False
    mask = binary_closing(mask, np.ones(int(BRIDGE_S * FS_WORK)))
    lab, _ = label(mask)
    k = lab[lo + int(np.argmax(d[lo:hi]))]
    idx = np.nonzero(lab == k)[0]
    on, off = int(idx[0]), int(idx[-1])
    thr = max(EXTEND_FRAC * peak, MIN_SLOPE)
    ext = int(EXTEND_S * FS_WORK)
    gap = int(EXTEND_GAP_S * FS_WORK)
    above = np.nonzero(d[max(0, on - ext):on] > thr)[0] + max(0, on - ext)
    a = on
    for i in above[::-1]:  # outwards, over gaps shorter than BRIDGE_S
        if a - i > gap:
            break
        a = int(i)
    above = np.nonzero(d[off + 1:off + 1 + ext] > thr)[0] + off + 1
    b = off
    for i in above:
        if i - b > gap:
            break
        b = int(i)
    return a, b


def _lead_values(y, on, off, rr_s):
    ms = 1000.0 / FS_WORK
    q = y[on:off + 1]
    out = _nan_lead()
    out["qrs_ms"] = (off - on) * ms
    r = max(0.0, float(q.max()))
    out["r_mv"] = r
    # Q: the first deflection beyond Q_FIRST_MV is negative
    big = np.nonzero(np.abs(q) > Q_FIRST_MV)[0]
    q_ms = q_mv = 0.0
    if len(big) and q[big[0]] < 0:
        pos = np.nonzero(q[big[0]:] >= 0)[0]
        end = big[0] + pos[0] if len(pos) else len(q) - 1
        q_ms, q_mv = end * ms, float(-q[:end + 1].min())
        if not len(pos):
            q_ms = out["qrs_ms"]
    out["q_ms"], out["q_mv"] = q_ms, q_mv
    pos = np.nonzero(q > 0.02)[0]  # S: the deepest point after the first positive deflection
    out["s_mv"] = max(0.0, float(-q[pos[0]:].min())) if len(pos) else 0.0
    j60 = off + int(0.06 * FS_WORK)
    out["st_j_mv"] = float(y[off])
    out["st_j60_mv"] = float(y[j60]) if j60 < len(y) else math.nan
    t0 = off + int(0.08 * FS_WORK)
    t1 = min(len(y), on + int(min(0.5, 0.7 * rr_s if np.isfinite(rr_s) else 0.5) * FS_WORK))
    bad = np.nonzero(~np.isfinite(y[t0:t1]))[0]
    t1 = t0 + int(bad[0]) if len(bad) else t1  # where the beats end (a short stretch)
    seg = y[t0:t1]
    k = int(0.04 * FS_WORK)  # T is slow: its peak and slope are read on the beat smoothed over 40 ms
    if len(seg) > k:
        seg = np.convolve(y[max(0, t0 - k):t1 + k], np.ones(k) / k, mode="same")[t0 - max(0, t0 - k):][:len(seg)]
    if len(seg) < 10 or not np.isfinite(seg).all():
        return out
    # T's peak: its largest deviation from the line that runs from the J + 60 ms level back to the baseline
    st = out["st_j60_mv"] if np.isfinite(out["st_j60_mv"]) else 0.0
    j60 = off + int(0.06 * FS_WORK)
    ref = st * np.clip((t1 - np.arange(t0, t0 + len(seg))) / max(1, t1 - j60), 0, 1)
    tp = int(np.argmax(np.abs(seg - ref)))
    out["t_mv"] = float(seg[tp])
    sign = np.sign(seg[tp] - ref[tp])
    if sign * seg[tp] < T_MIN_MV or tp >= len(seg) - 2:
        return out
    g = np.gradient(seg) * sign  # negative on the way back to the baseline
    k = tp + int(np.argmin(g[tp:]))
    if g[k] >= 0:
        return out
    t_end = k + seg[k] * sign / -g[k]
    out["qt_ms"] = float((t0 + t_end - on) * ms)
    return out


def _upper_quartile(vals):
    v = np.asarray([x for x in vals if np.isfinite(x)], np.float64)
    return float(np.percentile(v, 75)) if len(v) else math.nan


def measure(x, fs: float, lead_names=None) -> dict:
    """Measure the median beat of every lead of ``x`` ``(T, leads)`` in mV at ``fs`` Hz.

    NaN samples are allowed (each lead's longest finite stretch is read, as a page prints each lead
    for part of its 10 s); a lead named ``rhythm`` is used for the heart rate only. Never raises on a
    flat, short or missing lead: its values are NaN. ``lead_names`` defaults to :data:`LEADS12`.

    Returns ``{"leads": {lead: {q_ms, q_mv, r_mv, s_mv, st_j_mv, st_j60_mv, t_mv, qrs_ms, qt_ms}},
    "heart_rate_bpm", "rr_ms", "qrs_ms", "qt_ms", "qtc_ms", "axis_deg", "r_progression": {"r_mv": [V1..V6],
    "transition": lead or None}, "beats": {lead: number of beats}}``; durations in ms, amplitudes in mV.
    """
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    names = list(lead_names) if lead_names is not None else LEADS12[:x.shape[1]]
    sigs, peaks, rrs, rhythm_rr = {}, {}, [], []
    for k, lead in enumerate(names):
        v = _resample(_finite_run(x[:, k]), float(fs))
        p = beats(v)
        sigs[lead], peaks[lead] = v, p
        d = np.diff(p) / FS_WORK
        (rhythm_rr if lead == "rhythm" else rrs).extend(d[(d > MIN_RR_S) & (d < 2.5)].tolist())
    rr = float(np.median(rhythm_rr or rrs)) if (rhythm_rr or rrs) else math.nan
    leads, n_beats = {}, {}
    for lead in names:
        if lead == "rhythm":
            continue
        n_beats[lead] = int(len(peaks[lead]))
        mb = median_beat(sigs[lead], peaks[lead]) if len(peaks[lead]) else None
        leads[lead] = _nan_lead() if mb is None else _lead_values(*mb, rr)
    qt = _upper_quartile(v["qt_ms"] for v in leads.values())
    out = {
        "leads": leads,
        "heart_rate_bpm": 60.0 / rr if np.isfinite(rr) else math.nan,
        "rr_ms": rr * 1000.0,
        "qrs_ms": _upper_quartile(v["qrs_ms"] for v in leads.values()),
        "qt_ms": qt,
        "qtc_ms": qt / math.sqrt(rr) if np.isfinite(rr) and np.isfinite(qt) else math.nan,
        "axis_deg": math.nan,
        "beats": n_beats,
    }

    def net(lead):
        v = leads.get(lead)
        return v["r_mv"] - max(v["q_mv"], v["s_mv"]) if v else math.nan

    i, avf = net("I"), net("aVF")
    if np.isfinite(i) and np.isfinite(avf) and (i or avf):
        out["axis_deg"] = math.degrees(math.atan2(2 * avf / math.sqrt(3), i))
    vs = [f"V{k}" for k in range(1, 7)]
    r = [leads[v]["r_mv"] if v in leads else math.nan for v in vs]
    trans = next((v for v in vs if v in leads and np.isfinite(leads[v]["r_mv"])
                  and leads[v]["r_mv"] >= leads[v]["s_mv"]), None)
    out["r_progression"] = {"r_mv": r, "transition": trans}
    return out


def _fmt_leads(leads):
    """``["V1", "V2", "V3"]`` -> ``V1–V3``; limb leads with commas."""
    parts, run = [], []
    for lead in leads + [None]:
        if lead and lead.startswith("V") and run and int(lead[1:]) == int(run[-1][1:]) + 1:
            run.append(lead)
            continue
        if run:
            parts.append(f"{run[0]}–{run[-1]}" if len(run) > 1 else run[0])
        run = [lead] if lead and lead.startswith("V") else []
        if lead and not lead.startswith("V"):
            parts.append(lead)
    return ", ".join(parts)


def _mv(v):
    return f"{v:+.2f}".rstrip("0").rstrip(".")


def evidence(m: dict) -> list:
    """Short strings of the abnormal findings of a :func:`measure` result (module doc); [] when none."""
    leads = m["leads"]

    def val(lead, key):
        v = leads.get(lead, {}).get(key)
        return v if v is not None and np.isfinite(v) else math.nan

    def pathological_q(lead):
        q_ms, q_mv, r = val(lead, "q_ms"), val(lead, "q_mv"), val(lead, "r_mv")
        return q_ms >= Q_MS or (q_ms >= Q_MS_DEEP and q_mv >= Q_MV and q_mv >= Q_R_RATIO * r)

    rules = [  # (test per lead, value shown, text)
        (lambda ld: val(ld, "st_j60_mv") >= (ST_ELEVATION_V2V3_MV if ld in ("V2", "V3") else ST_ELEVATION_MV),
         lambda ld: val(ld, "st_j60_mv"), lambda v, s: f"ST {_mv(v)} mV in {s}", max),
        (lambda ld: val(ld, "st_j60_mv") <= ST_DEPRESSION_MV,
         lambda ld: val(ld, "st_j60_mv"), lambda v, s: f"ST {_mv(v)} mV in {s}", min),
        (pathological_q, lambda ld: val(ld, "q_ms"), lambda v, s: f"Q {10 * round(v / 10):.0f} ms in {s}", max),
        (lambda ld: val(ld, "t_mv") <= T_INVERTED_MV, lambda ld: val(ld, "t_mv"),
         lambda v, s: f"T inverted in {s}", min),
    ]
    out = []
    for test, value, text, pick in rules:
        for group in TERRITORIES.values():
            hit = [ld for ld in group if ld in leads and test(ld)]
            if len(hit) >= 2:
                order = [ld for ld in LEADS12 if ld in hit]
                out.append(text(pick(value(ld) for ld in hit), _fmt_leads(order)))

    def g(key):
        v = m.get(key)
        return v if v is not None and np.isfinite(v) else math.nan

    if g("qrs_ms") >= QRS_WIDE_MS:
        out.append(f"QRS {g('qrs_ms'):.0f} ms")
    if g("qtc_ms") > QTC_LONG_MS:
        out.append(f"QTc {g('qtc_ms'):.0f} ms")
    ax = g("axis_deg")
    if np.isfinite(ax) and not AXIS_RANGE[0] <= ax <= AXIS_RANGE[1]:
        out.append(f"axis {ax:+.0f}°")
    hr = g("heart_rate_bpm")
    if np.isfinite(hr) and not HR_RANGE[0] <= hr <= HR_RANGE[1]:
        out.append(f"HR {hr:.0f} bpm")
    r3 = val("V3", "r_mv")
    if r3 <= R_V3_POOR_MV:
        out.append(f"poor R progression (R {r3:.2f} mV in V3)")
    return out


def _json(v, nd=3):
    if isinstance(v, dict):
        return {k: _json(x, nd) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json(x, nd) for x in v]
    if isinstance(v, (float, np.floating)):
        return round(float(v), nd) if np.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def page_measurements(path_or_array, fs: float = 250.0, orientation: str = "auto") -> dict:
    """Digitise a page (:func:`.digitize.digitize_page` at ``fs``) and :func:`measure` it: each lead's
    printed stretch, the rhythm strip for the heart rate. JSON-friendly (floats rounded, NaN -> None),
    with ``evidence`` (:func:`evidence`) and ``layout``. ``orientation`` as in ``digitize_page``. Raises what
    ``digitize_page`` raises."""
    from keras_ecg.data.images.digitize import digitize_page

    d = digitize_page(path_or_array, fs=fs, orientation=orientation)
    x = d.signals.T
    names = list(d.lead_names)
    if d.rhythm is not None:
        r = np.full(len(x), np.nan)
        r[:min(len(x), len(d.rhythm))] = np.asarray(d.rhythm, np.float64)[:len(x)]  # may be shorter than 10 s
        x = np.concatenate([x, r[:, None]], axis=1)
        names.append("rhythm")
    m = measure(x, fs, names)
    out = _json(m)
    out["evidence"] = evidence(m)
    out["layout"] = d.layout
    return out


GLOBAL_FEATURES = ("heart_rate_hz", "rr_s", "qrs_s", "qt_s", "qtc_s", "axis_cos", "axis_sin", "global_measured")
LEAD_FEATURES = ("measured", "q_s", "q_mv", "r_mv", "s_mv", "st_j_mv", "st_j60_mv", "t_mv", "qrs_s", "qt_s")
FEATURE_NAMES = [f"{lead}_{k}" for lead in LEADS12 for k in LEAD_FEATURES] + list(GLOBAL_FEATURES)


def vector(measured: dict) -> np.ndarray:
    """:data:`FEATURE_NAMES` of a :func:`measure` (or :func:`page_measurements`) result, float32, no NaN.

    Durations in seconds, amplitudes in mV, heart rate in beats per second (all near unit scale);
    a missing value is 0 and each lead has a ``measured`` flag (1 when its beat was measured),
    the global values a ``global_measured`` flag (1 when heart rate and axis were both measured).
    """
    def f(v, scale=1.0):
        return float(v) * scale if v is not None and np.isfinite(v) else 0.0

    out = []
    leads = measured.get("leads", {})
    for lead in LEADS12:
        v = leads.get(lead) or {}
        ok = v.get("qrs_ms") is not None and np.isfinite(v.get("qrs_ms"))
        out.append(1.0 if ok else 0.0)
        for k in LEAD_FEATURES[1:]:
            key = k[:-2] + "_ms" if k.endswith("_s") else k
            out.append(f(v.get(key), 1e-3 if key.endswith("_ms") else 1.0) if ok else 0.0)
    hr, ax = measured.get("heart_rate_bpm"), measured.get("axis_deg")
    ok = hr is not None and ax is not None and np.isfinite(hr) and np.isfinite(ax)
    a = math.radians(f(ax))
    out += [f(hr, 1 / 60), f(measured.get("rr_ms"), 1e-3), f(measured.get("qrs_ms"), 1e-3),
            f(measured.get("qt_ms"), 1e-3), f(measured.get("qtc_ms"), 1e-3),
            math.cos(a) if ok else 0.0, math.sin(a) if ok else 0.0, 1.0 if ok else 0.0]
    return np.asarray(out, np.float32)


def features(x, fs: float = 100.0, lead_names=None) -> np.ndarray:
    """:func:`vector` of :func:`measure` of ``x``: ``(T, 12)`` -> ``(F,)``, or a batch ``(N, T, 12)`` ->
    ``(N, F)``. Defaults fit the ``digitized`` model input (2.5 s at 100 Hz, :data:`LEADS12` order),
    whose 10 ms samples bound the durations' resolution (amplitudes are not affected)."""
    x = np.asarray(x)
    if x.ndim == 3:
        return np.stack([features(page, fs, lead_names) for page in x]) if len(x) else \
            np.zeros((0, len(FEATURE_NAMES)), np.float32)
    return vector(measure(x, fs, lead_names))
