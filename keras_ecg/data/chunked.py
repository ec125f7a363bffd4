"""Long recordings piece by piece: R peaks and beat inputs in memory bounded by the piece, as in one piece.

A 24-hour Holter recording at 360 Hz is 31 million samples a lead: the detector's
float64 intermediates alone would take gigabytes. Here the recording is cut into
chunks of ``chunk_s`` seconds (:func:`plan`), each read with ``margin_s`` seconds of
the recording on either side, and only what falls in the chunk itself is kept:

* :func:`detect_r_peaks`: :func:`keras_ecg.data.signal.detect_r_peaks` on each chunk
  and its margins; the peaks inside the chunk are kept. Every step of the detector
  looks at most a few seconds away (the filters settle within about a second, the
  threshold's level is the median of 9 one-second blocks, the search-back looks at 9
  RR intervals), so with chunks starting on the level's block grid and margins of a
  minute the peaks are those of the whole recording in one piece: the same, except
  where a gap between detections is longer than the margin (the search-back then sees
  a different gap), and to the rounding of the filters' float64 arithmetic.
* :func:`beat_inputs`: the model inputs of the beats, chunk by chunk
  (:func:`keras_ecg.data.beats.cut_beats` and :func:`~keras_ecg.data.beats.finish_beats`,
  the two halves of :func:`~keras_ecg.data.beats.beat_inputs`): the band-pass filter and
  the resampling run over the chunk and its margins, the RR features come from the whole
  list of peaks (small), and the templates and shape features carry the last beats of one
  chunk into the next.

``read(start, stop)`` gives samples ``start:stop`` of the leads wanted, float32
(:meth:`keras_ecg.data.record_file.RecordFile.read`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from keras_ecg.data import beats as B
from keras_ecg.data import signal as S
from keras_ecg.errors import DataError

CHUNK_S = 1800.0  # 30 minutes: margins add 7 % to the detector; memory ~50 MB at 360 Hz
MARGIN_S = 60.0


@dataclasses.dataclass(frozen=True)
class Chunk:
    start: int  # the chunk: samples start:stop of the recording
    stop: int
    lo: int  # what is read: the chunk and its margins, lo:hi
    hi: int


def plan(n: int, fs: float, chunk_s: float = CHUNK_S, margin_s: float = MARGIN_S, align: int = 1) -> list:
    """Chunks of about ``chunk_s`` seconds covering ``n`` samples, with ``margin_s`` seconds either side;
    every chunk and margin starts at a multiple of ``align`` samples (and of the detector's 1 s blocks)."""
    if chunk_s <= 0 or margin_s < 0:
        raise ValueError(f"chunk_s must be > 0 and margin_s >= 0; got {chunk_s}, {margin_s}")
    step = math.lcm(max(int(align), 1), max(int(fs), 1))
    size = max(1, round(chunk_s * fs / step)) * step
    margin = math.ceil(margin_s * fs / step) * step
    return [Chunk(a, min(a + size, n), max(a - margin, 0), min(a + size + margin, n)) for a in range(0, n, size)]


def _finite(x, where, lead, offset):
    bad = ~np.isfinite(x)
    if bad.any():
        raise DataError(f"{where}: non-finite samples (NaN/inf), the first at sample {offset + int(np.argmax(bad))} "
                        f"of lead {lead}; keras_ecg refuses them (repair or cut the record first)")


def detect_r_peaks(read, n: int, fs: float, chunks, where: str = "record", lead: str = "0", align: bool = False):
    """R peaks of a recording of ``n`` samples read with ``read(lo, hi)`` (one lead, 1-D), chunk by chunk.

    Returns ``(peaks, refined)``: the detections (int64), and with ``align`` each moved to the
    detector's fiducial (:func:`keras_ecg.data.signal.refine_peaks`, as ``beat_inputs`` moves them),
    else the same array.
    """
    found, moved = [], []
    last = None
    for c in chunks:
        p, r = piece_peaks(read(c.lo, c.hi), fs, c, where, lead, align, last)
        found.append(p)
        if r is not None:
            moved.append(r)
            last = int(r[-1])
    peaks = np.concatenate(found).astype(np.int64) if found else np.zeros(0, dtype=np.int64)
    return peaks, (np.concatenate(moved).astype(np.int64) if align and moved else peaks)


def piece_peaks(x, fs: float, c: Chunk, where: str = "record", lead: str = "0", align: bool = False,
                last: int | None = None):
    """The detections in ``c.start:c.stop`` of the piece ``x`` (samples ``c.lo:c.hi``, one lead):
    ``(peaks, refined)``, ``refined`` None without ``align`` or peaks (``last``: the refined peak before them).

    What :func:`detect_r_peaks` runs on each chunk, and the live stream
    (:mod:`keras_ecg.deploy.live`) on each step."""
    _finite(x, where, lead, c.lo)
    p = S.detect_r_peaks(x, fs) + c.lo
    p = p[(p >= c.start) & (p < c.stop)]
    if not (align and len(p)):
        return p, None
    filtered = S._qrs_band(np.asarray(x, dtype=np.float64), fs, (5.0, 15.0))
    r = S._largest_deflection(filtered, p - c.lo, int(0.075 * fs)) + c.lo
    return p, S.keep_order(r, p, last)


def beat_inputs(read, n: int, fs: float, peaks, refined, spec: B.BeatSpec, chunks, where: str = "record"):
    """Model inputs of the beats at ``peaks``, chunk by chunk: yields ``(sel, beats, extra)``.

    ``read(lo, hi)`` gives the spec's leads (samples, leads); ``refined`` are the positions the
    beats are cut at (``peaks`` moved to the fiducial with ``spec.align``, else ``peaks``).
    ``sel`` indexes ``peaks``: the beats of the chunk whose window fits inside the recording;
    ``beats`` and ``extra`` are what :func:`keras_ecg.data.beats.beat_inputs` gives for them.
    """
    peaks = np.asarray(peaks, dtype=np.int64)
    rr = B.rr_rows(refined, fs, spec)
    history = None
    for c in chunks:
        i0, i1 = np.searchsorted(peaks, [c.start, c.stop])
        if i1 == i0:
            continue
        keep, beats, extra, history = piece_inputs(read(c.lo, c.hi), fs, c, refined[i0:i1],
                                                   None if rr is None else rr[i0:i1], spec, n, history, where)
        yield np.arange(i0, i1)[keep], beats, extra


def piece_inputs(x, fs: float, c: Chunk, refined, rr, spec: B.BeatSpec, total: int, history=None,
                 where: str = "record"):
    """The model inputs of the beats cut at ``refined`` from the piece ``x`` (samples ``c.lo:c.hi`` of the spec's
    leads of a recording of ``total`` samples), whose RR rows are ``rr`` (or None): ``(keep, beats, extra,
    history)``, ``keep`` marking the beats whose window fits inside the recording, ``history`` what
    :func:`keras_ecg.data.beats.finish_beats` carries to the next piece.

    What :func:`beat_inputs` runs on each chunk, and the live stream (:mod:`keras_ecg.deploy.live`) on each step."""
    _finite(x, where, ",".join(spec.leads), c.lo)
    try:
        cut, keep = B.cut_beats(x, fs, refined, spec, offset=c.lo, total=total)
    except ValueError as e:
        raise DataError(f"{where}: {str(e).splitlines()[0]}") from None
    beats, extra, history = B.finish_beats(cut, None if rr is None else rr[keep], spec, history)
    return keep, beats, extra, history
