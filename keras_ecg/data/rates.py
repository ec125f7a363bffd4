"""The sampling rates keras_ecg reads, one range for every command and loader.

A recording (WFDB header, EDF channel, ``--fs`` of a CSV) sampled outside
:data:`MIN_FS` .. :data:`MAX_FS` Hz is refused with the line :func:`check` writes,
the same in predict, evaluate, calibrate, annotate, explain and training. Below
:data:`MIN_FS` the band-pass filter (0.5-40 Hz) and the QRS complex no longer fit
below the Nyquist frequency: a beat classifier would see a different signal than
it was trained on, so the recording is refused rather than filtered differently.
"""

from __future__ import annotations

import argparse
import math

from keras_ecg.errors import DataError

MIN_FS = 100.0  # Hz: the band-pass's 40 Hz corner below Nyquist, with a margin
MAX_FS = 100_000.0  # Hz: ECG is sampled at 100 Hz to ~10 kHz; beyond this a rate is a typo or a corrupt header

RANGE_TEXT = f"{MIN_FS:g}-{MAX_FS:g} Hz"


def problem(fs) -> str | None:
    """Why ``fs`` is no rate keras_ecg reads (``None``: it is one)."""
    try:
        v = float(fs)
    except (TypeError, ValueError):
        return f"sampling rate {fs!r} is not a number"
    if not math.isfinite(v) or v <= 0:
        return f"sampling rate {fs} Hz is not a positive finite number"
    if not MIN_FS <= v <= MAX_FS:
        return f"sampling rate {v:g} Hz is outside the range keras_ecg supports ({RANGE_TEXT})"
    return None


def check(fs, where, error=DataError) -> float:
    """``fs`` as a float, or ``error`` (a :class:`DataError` by default) with ``"{where}: {problem}"``."""
    why = problem(fs)
    if why:
        raise error(f"{where}: {why}")
    return float(fs)


def flag(text: str) -> float:
    """An argparse ``type`` for ``--fs``: the same refusal as :func:`check`, as a usage error."""
    why = problem(text)
    if why:
        raise argparse.ArgumentTypeError(why)
    return float(text)
