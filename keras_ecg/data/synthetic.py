"""Synthetic ECG beats and records for the five AAMI classes (N, S, V, F, Q).

The embedded default dataset: no download, deterministic from a seed, at any
sampling rate. Each beat is a sum of Gaussian waves (P, Q, R, S, T; McSharry
et al. 2003 style) with class-specific morphology and rhythm:

- N: normal P wave, narrow QRS, upright T, regular RR.
- S: premature beat with an abnormal (inverted, early) P wave, narrow QRS.
- V: premature, no P wave, wide tall QRS, inverted T, compensatory pause.
- F: fusion of a normal and a ventricular beat (intermediate width).
- Q: paced beat, a sharp pacing spike followed by a wide QRS.

Pseudo-patients each have their own heart rate and wave amplitudes/widths, and
give the ``groups`` so that group-aware splits work. Data made here is marked
``meta["synthetic"] = True``; it is for tests and demos, not for claims about
real ECG.
"""

from __future__ import annotations

import numpy as np

from keras_ecg.data.dataset import Dataset

CLASSES = ["N", "S", "V", "F", "Q"]

# (amplitude mV, centre s relative to R, width s) of P, Q, R, S, T.
_NORMAL = np.array([[0.15, -0.20, 0.025], [-0.10, -0.030, 0.010], [1.00, 0.0, 0.012],
                    [-0.25, 0.030, 0.012], [0.30, 0.28, 0.050]])
_SVEB = np.array([[-0.12, -0.15, 0.020], [-0.10, -0.030, 0.010], [0.95, 0.0, 0.012],
                  [-0.25, 0.030, 0.012], [0.25, 0.26, 0.050]])
_VEB = np.array([[0.0, -0.20, 0.025], [-0.15, -0.06, 0.030], [1.40, 0.0, 0.040],
                 [-0.55, 0.08, 0.040], [-0.40, 0.34, 0.070]])
_FUSION = 0.5 * (_NORMAL + _VEB)
_PACED = np.array([[2.0, -0.045, 0.0], [-0.10, -0.02, 0.020], [0.85, 0.02, 0.035],
                   [-0.45, 0.08, 0.035], [-0.25, 0.33, 0.060]])
_SHAPES = [_NORMAL, _SVEB, _VEB, _FUSION, _PACED]
# RR before the beat and after it, as fractions of the patient's normal RR.
_RR = np.array([[1.0, 1.0], [0.65, 1.15], [0.70, 1.35], [0.90, 1.10], [1.0, 1.0]])


def _patients(n, rng):
    """Per-patient morphology: base RR (s), wave amplitude and width factors."""
    return {
        "rr": rng.uniform(0.65, 1.1, n),
        "amp": rng.uniform(0.8, 1.2, (n, 5)),
        "width": rng.uniform(0.85, 1.15, (n, 5)),
        "gain": rng.uniform(0.7, 1.3, n),
    }


def _shape(cls, patient, pat, fs, rng):
    """(5, 3) wave table of one beat of class ``cls`` for patient index ``patient``."""
    w = _SHAPES[cls].copy()
    w[:, 0] *= pat["amp"][patient] * pat["gain"][patient] * rng.uniform(0.93, 1.07, 5)
    w[:, 2] *= pat["width"][patient] * rng.uniform(0.95, 1.05, 5)
    if cls == 4:  # the pacing spike stays sharp but visible at any sampling rate
        w[0, 2] = max(0.0015, 0.5 / fs)
        w[0, 0] = 2.0 * pat["gain"][patient]
    return w


def _render(t, waves):
    """Sum of Gaussians at times ``t`` (s); waves is (m, 3) of amp, centre, width."""
    a, c, s = waves[:, 0], waves[:, 1], np.maximum(waves[:, 2], 1e-4)
    return np.sum(a * np.exp(-0.5 * ((t[:, None] - c) / s) ** 2), axis=1)


def _noise(n, fs, rng, noise, wander):
    t = np.arange(n) / fs
    f = rng.uniform(0.1, 0.4)
    return rng.normal(0, noise, n) + wander * rng.uniform(0, 1) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))


def beats(n_per_class: int = 200, fs: float = 125, window: int = 187, seed: int = 0,
          rr_features: bool = False, n_patients: int = 20, noise: float = 0.02,
          before: int | None = None) -> Dataset:
    """Labelled synthetic beats, ``n_per_class`` of each AAMI class.

    Each window (``window`` samples at ``fs``, R peak at ``before``, default
    ``window // 2`` as in :func:`keras_ecg.data.mitbih.load_beats`) also holds
    the neighbouring beats, so prematurity shows in the waveform. With
    ``rr_features`` ``x`` is ``(beats, rr)``, rr = previous, next, local RR (s).
    """
    if n_per_class < 1 or window < 1 or fs <= 0 or n_patients < 1:
        raise ValueError("n_per_class, window, fs and n_patients must be positive.")
    rng = np.random.default_rng(seed)
    before = window // 2 if before is None else int(before)
    pat = _patients(n_patients, rng)
    t = (np.arange(window) - before) / fs
    n = n_per_class * len(CLASSES)
    y = np.repeat(np.arange(len(CLASSES)), n_per_class)
    who = rng.integers(0, n_patients, n)
    x = np.empty((n, window), dtype=np.float32)
    rr = np.empty((n, 3), dtype=np.float32)
    for i in range(n):
        c, p = int(y[i]), int(who[i])
        base = pat["rr"][p] * rng.uniform(0.95, 1.05)
        prev, nxt = _RR[c] * base * rng.uniform(0.96, 1.04, 2)
        neighbour = 4 if c == 4 else 0
        sig = _render(t, _shape(c, p, pat, fs, rng))
        sig += _render(t + prev, _shape(neighbour, p, pat, fs, rng))
        sig += _render(t - nxt, _shape(neighbour, p, pat, fs, rng))
        x[i] = sig + _noise(window, fs, rng, noise, 0.05)
        rr[i] = (prev, nxt, base)
    order = rng.permutation(n)
    meta = {"source": "synthetic", "synthetic": True, "sampling_rate": float(fs), "window": window,
            "r_offset": before, "lead": "synthetic", "seed": seed,
            "inputs": ["beats", "rr"] if rr_features else ["beats"]}
    groups = np.array([f"synth-{p:02d}" for p in who])[order]
    xs = (x[order], rr[order]) if rr_features else x[order]
    return Dataset(xs, y[order], groups, CLASSES, meta)


def record(duration_s: float = 60, fs: float = 360, seed: int = 0, class_probs=None,
           noise: float = 0.02, wander: float = 0.1):
    """A continuous synthetic record: ``(signal float32 (n,), r_peaks int (k,), labels int (k,))``.

    ``class_probs``: probability of each class N, S, V, F, Q per beat (default
    mostly normal with some of each abnormal class).
    """
    if duration_s <= 0 or fs <= 0:
        raise ValueError(f"duration_s and fs must be positive; got {duration_s}, {fs}.")
    probs = np.array([0.75, 0.07, 0.1, 0.04, 0.04] if class_probs is None else class_probs, dtype=float)
    if probs.shape != (5,) or (probs < 0).any() or probs.sum() <= 0:
        raise ValueError(f"class_probs must be 5 non-negative numbers (N S V F Q); got {class_probs}.")
    probs = probs / probs.sum()
    rng = np.random.default_rng(seed)
    pat = _patients(1, rng)
    n = int(round(duration_s * fs))
    base = pat["rr"][0]
    times, labels = [], []
    t, after = 0.4 + rng.uniform(0, 0.3), 1.0
    while t < duration_s - 0.4:
        c = int(rng.choice(5, p=probs))
        if times:
            t = times[-1] + base * after * _RR[c, 0] * rng.uniform(0.97, 1.03)
            if t >= duration_s - 0.4:
                break
        times.append(t)
        labels.append(c)
        after = _RR[c, 1]
    sig = _noise(n, fs, rng, noise, wander)
    half = int(0.7 * fs)
    for t0, c in zip(times, labels):
        i0 = int(round(t0 * fs))
        lo, hi = max(i0 - half, 0), min(i0 + half, n)
        sig[lo:hi] += _render(np.arange(lo, hi) / fs - t0, _shape(c, 0, pat, fs, rng))
    r_peaks = np.round(np.array(times) * fs).astype(np.int64)
    return sig.astype(np.float32), r_peaks, np.array(labels, dtype=np.int64)


def pages(*args, **kwargs):
    """Synthetic ECG page images; see :func:`keras_ecg.data.images.synthetic_pages.pages`."""
    from keras_ecg.data.images.synthetic_pages import pages as _pages

    return _pages(*args, **kwargs)


def record_beats(spec, n_per_class: int = 200, seed: int = 0, n_records: int = 8) -> Dataset:
    """Beats of ``n_records`` synthetic records cut by a :class:`~keras_ecg.data.beats.BeatSpec`.

    The records come from :func:`record` (one pseudo-patient each, abnormal
    classes over-represented) and go through
    :func:`keras_ecg.data.beats.beat_inputs` with their true R peaks, the same
    code that cuts real records, so RR features and templates are computed as
    they are for MIT-BIH. Each class gets about ``n_per_class`` beats; the
    record is the group. A two-lead spec gets a second, scaled copy of the lead.
    """
    from keras_ecg.data import beats as _beats

    if n_per_class < 1 or n_records < 1:
        raise ValueError(f"n_per_class and n_records must be positive; got {n_per_class}, {n_records}.")
    probs = [0.4, 0.15, 0.15, 0.15, 0.15]
    duration = max(20.0, n_per_class / 0.15 / n_records * 0.9)
    xs, rrs, ys, groups = [], [], [], []
    for i in range(n_records):
        sig, peaks, labels = record(duration, fs=spec.fs, seed=seed * 1000 + i, class_probs=probs)
        leads = np.stack([sig * (1.0 - 0.4 * k) for k in range(len(spec.leads))], axis=1)
        x, rr, keep, _ = _beats.beat_inputs(leads, spec.fs, peaks, spec, list(spec.leads), f"synthetic record {i}")
        xs.append(x)
        rrs.append(rr)
        ys.append(labels[keep])
        groups.append(np.full(int(keep.sum()), f"synth-rec-{i:02d}"))
    beats_ = np.concatenate(xs)
    meta = {"source": "synthetic records", "synthetic": True, "sampling_rate": float(spec.fs),
            "window": spec.window, "r_offset": spec.before, "beat_spec": spec.to_dict(), "seed": seed,
            "leads_used": {f"synth-rec-{i:02d}": list(spec.leads) for i in range(n_records)},
            "inputs": ["beats", "rr"] if spec.rr else ["beats"]}
    x = (beats_, np.concatenate(rrs)) if spec.rr else beats_
    return Dataset(x, np.concatenate(ys), np.concatenate(groups), CLASSES, meta)
