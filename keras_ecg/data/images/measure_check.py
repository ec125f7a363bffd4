"""12-lead signals with known measurements, to check :mod:`.measurements` (tests and the benchmark).

Each beat is a row of raised-cosine (Hann) lobes with exact limits, so its measurements are known:
P (100 ms, ending 100 ms before QRS onset), then Q (negative), R and S lobes back to back (QRS
duration = their sum, J point at its end), an ST shift level from J (ramped in over the last 10 ms of
the QRS) held to J + 200 ms and tapered to 0 over 100 ms, and a T lobe of :data:`T_DUR_S` from
J + 80 ms. Known values: ``q_ms``/``q_mv`` (0 without a Q), ``r_mv``, ``s_mv``, ``qrs_ms``,
``st_j60_mv`` = the ST shift, ``t_mv`` = T amplitude + ST shift (T's peak sits on the shifted level), and
``qt_ms`` = onset to where the tangent at T's steepest downslope meets the baseline (the tangent method
meets the baseline ``T_DUR_S / (2 pi)`` after a Hann lobe's 3/4 point), given only without an ST shift.
"""

from __future__ import annotations

import math

import numpy as np

from keras_ecg.data.images.measurements import LEADS12

# lead: (p_mv, q_mv, q_ms, r_mv, r_ms, s_mv, s_ms, t_mv); depths positive
NORMAL = {
    "I": (0.10, 0.05, 20, 0.8, 40, 0.10, 30, 0.25),
    "II": (0.15, 0.05, 20, 1.2, 40, 0.20, 30, 0.35),
    "III": (0.05, 0.05, 20, 0.5, 40, 0.15, 30, 0.10),
    "aVR": (-0.10, 0.0, 0, 0.10, 30, 0.70, 50, -0.25),
    "aVL": (0.05, 0.05, 20, 0.4, 40, 0.20, 30, 0.10),
    "aVF": (0.10, 0.05, 20, 0.8, 40, 0.15, 30, 0.20),
    "V1": (0.08, 0.0, 0, 0.3, 30, 0.90, 50, 0.10),
    "V2": (0.10, 0.0, 0, 0.5, 35, 1.20, 45, 0.40),
    "V3": (0.10, 0.0, 0, 0.8, 40, 0.80, 40, 0.45),
    "V4": (0.10, 0.05, 20, 1.3, 40, 0.50, 30, 0.45),
    "V5": (0.10, 0.08, 20, 1.2, 40, 0.30, 30, 0.35),
    "V6": (0.10, 0.08, 20, 0.9, 40, 0.20, 30, 0.30),
}
KEYS = ("p_mv", "q_mv", "q_ms", "r_mv", "r_ms", "s_mv", "s_ms", "t_mv", "st_mv")
T_DUR_S = 0.20
INFERIOR, ANTERIOR = ("II", "III", "aVF"), ("V1", "V2", "V3", "V4")
CASES = {  # name: (rr_s, {lead or "*": changes})
    "normal": (0.9, {}),
    "anterior_stemi": (0.8, {**{ld: {"st_mv": 0.3} for ld in ANTERIOR}, **{ld: {"st_mv": -0.1} for ld in INFERIOR}}),
    "inferior_old_mi": (1.0, {ld: {"q_mv": 0.3, "q_ms": 40, "r_mv": 0.4, "t_mv": -0.2} for ld in INFERIOR}),
    "wide_qrs": (0.9, {"*": {"r_ms": 70, "s_ms": 60}}),
    "tachycardia": (0.55, {}),
    "left_axis": (0.9, {"aVF": {"r_mv": 0.2, "s_mv": 0.9}, "III": {"r_mv": 0.1, "s_mv": 1.0},
                        "II": {"r_mv": 0.5, "s_mv": 0.5}}),
}


def params(case: str = "normal") -> tuple:
    """``(rr_s, {lead: {key: value}})`` of a :data:`CASES` entry."""
    rr, changes = CASES[case]
    out = {}
    for lead in LEADS12:
        p = dict(zip(KEYS, NORMAL[lead] + (0.0,)))
        p.update(changes.get("*", {}))
        p.update(changes.get(lead, {}))
        out[lead] = p
    return rr, out


def _hann(t, t0, dur):
    u = (t - t0) / dur
    return np.where((u >= 0) & (u <= 1), 0.5 * (1 - np.cos(2 * np.pi * np.clip(u, 0, 1))), 0.0)


def beat(t: np.ndarray, onset: float, p: dict) -> np.ndarray:
    """One beat with QRS onset at ``onset`` s, parameters ``p`` (:data:`KEYS`), sampled at ``t``."""
    q, r, s = p["q_ms"] / 1000 if p["q_mv"] else 0.0, p["r_ms"] / 1000, p["s_ms"] / 1000
    j = onset + q + r + s
    y = p["p_mv"] * _hann(t, onset - 0.2, 0.1)
    if q:
        y -= p["q_mv"] * _hann(t, onset, q)
    y += p["r_mv"] * _hann(t, onset + q, r) - p["s_mv"] * _hann(t, onset + q + r, s)
    if p["st_mv"]:
        ramp = np.clip((t - (j - 0.01)) / 0.01, 0, 1)
        taper = np.where(t > j + 0.2, 0.5 * (1 + np.cos(np.pi * np.clip((t - j - 0.2) / 0.1, 0, 1))), 1.0)
        y += p["st_mv"] * ramp * taper
    return y + p["t_mv"] * _hann(t, j + 0.08, T_DUR_S)


def known_leads(case: str = "normal", seed: int = 0, duration_s: float = 10.0, fs: float = 250.0,
                noise_mv: float = 0.012, wander_mv: float = 0.05) -> dict:
    """lead -> ``(n,)`` mV of a :data:`CASES` case: beats every ``rr`` s (first onset random), with
    Gaussian noise and a slow baseline wander (0.1-0.3 Hz) as :func:`.synthetic_pages.leads` adds."""
    rng = np.random.default_rng(seed)
    rr, par = params(case)
    t = np.arange(int(round(duration_s * fs))) / fs
    onsets = np.arange(rng.uniform(0.25, 0.25 + rr), duration_s + rr, rr)
    out = {}
    for lead in LEADS12:
        y = sum(beat(t, b, par[lead]) for b in onsets)
        y = y + wander_mv * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 6.3))
        out[lead] = y + rng.normal(0, noise_mv, len(t))
    return out


def known_values(case: str = "normal") -> dict:
    """The measurements :mod:`.measurements` should find: ``{"leads": {lead: {...}}, "heart_rate_bpm",
    "qrs_ms"}`` (``qt_ms`` per lead only where there is no ST shift)."""
    rr, par = params(case)
    leads = {}
    for lead, p in par.items():
        q = p["q_ms"] if p["q_mv"] else 0.0
        qrs = q + p["r_ms"] + p["s_ms"]
        qt = qrs + 1000 * (0.08 + 0.75 * T_DUR_S + T_DUR_S / (2 * math.pi)) if not p["st_mv"] else math.nan
        leads[lead] = {"q_ms": q, "q_mv": p["q_mv"] if q else 0.0, "r_mv": p["r_mv"], "s_mv": p["s_mv"],
                       "qrs_ms": qrs, "st_j60_mv": p["st_mv"], "t_mv": p["t_mv"] + p["st_mv"], "qt_ms": qt}
    return {"leads": leads, "heart_rate_bpm": 60.0 / rr}
