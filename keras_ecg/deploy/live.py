"""Beats of a recording that arrives piece by piece, decided as soon as they can be: the live stream's core.

    live = LiveBeats(card, fs=360, leads=["MLII"])
    for x in pieces:                        # (samples, leads) float32, in mV, any length
        for p in live.feed(x):              # beats decided by these samples: model inputs, not yet classified
            outputs = classifier(p.inputs)  # the caller runs the model (the service batches many streams)
            probs, classes, unsure = annotate.beat_classes(outputs, card)
    last = live.end()                       # the recording is over: the last beats

No transport here (the WebSocket route is :mod:`keras_ecg.serve.stream`) and no model call: it gives model
inputs, so the caller can classify the beats of many streams in one call.

The beats are :func:`keras_ecg.deploy.annotate.annotate`'s, built by the same functions on the same samples:

* R peaks: :func:`keras_ecg.data.chunked.piece_peaks` (the detector of annotate's chunks) on the card's first
  lead (the lead policy :func:`keras_ecg.data.beats.choose_leads`), every ``step_s`` seconds of signal, on
  the last ``history_s`` seconds and the new samples; a detection is kept once ``lookahead_s`` seconds of
  signal follow it (the detector's filters, its level and its search-back then see what they see in the whole
  record, nearly: :data:`LOOKAHEAD_S`), and only after the previous kept one plus the refractory time;
* a beat is decided when the next R peak is kept (its ``post_rr``); its RR features
  (:func:`keras_ecg.data.beats.rr_rows` over the peaks of the past ``baseline_s`` and more), its window
  (filtered, resampled to the card's rate, :func:`keras_ecg.data.chunked.piece_inputs`) and its templates
  (carried from beat to beat, as annotate carries them from chunk to chunk) are annotate's;
* :meth:`LiveBeats.end` decides the last beat with its ``pre_rr`` as annotate does, and drops the beats
  whose window runs past the end (counted in ``edge_skipped``, as at the start);
* signal quality (:func:`keras_ecg.data.quality.assess`) per 10 s segment as each one completes
  (:meth:`LiveBeats.feed` returns the new verdicts in ``segments``): annotate drops the beats inside
  unreadable segments; the stream, which has sent them already, says which segments are unreadable.

Latency: a beat is decided ``RR + lookahead_s`` (up to ``step_s`` more) after its R peak, where RR is the
interval to the next beat: at 75 bpm and the defaults, about 0.8 + 1.5 (+ 0.25) s (:func:`latency_note`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from keras_ecg.data import beats as B
from keras_ecg.data import chunked, quality, rates
from keras_ecg.data import signal as S
from keras_ecg.data.model_inputs import model_shape
from keras_ecg.errors import DataError

LOOKAHEAD_S = 1.5  # signal after a detection before it is kept (the beat window's 0.45 s included)
HISTORY_S = 12.0  # signal before the new samples the detector and the filters see
STEP_S = 0.25  # signal between two runs of the detector
REFRACTORY_S = 0.2  # the detector's refractory time: no kept peak closer than this to the one before


@dataclasses.dataclass
class Pending:
    """Decided beats, not yet classified."""

    samples: np.ndarray  # R-peak sample of each beat, at the stream's rate, counted from its first sample
    inputs: list  # the model's inputs (one array per card input, first axis = beats)
    decided_at: int  # the index of the last sample received when they were decided

    def __len__(self) -> int:
        return len(self.samples)


def latency_note(lookahead_s: float = LOOKAHEAD_S, step_s: float = STEP_S) -> str:
    """One line for the stream's ``ready`` message and the docs: how long after its R peak a beat is sent."""
    return (f"a beat is sent once the next R peak is detected (its RR features need it) and {lookahead_s:g} s of "
            f"signal follow that peak (the detector's look-ahead), checked every {step_s:g} s of signal: "
            f"about RR + {lookahead_s:g} s (up to {step_s:g} s more) after the beat, e.g. "
            f"{0.8 + lookahead_s:.1f}-{0.8 + lookahead_s + step_s:.2f} s at 75 bpm; a 10 s segment's signal "
            "quality when the segment is complete")


class LiveBeats:
    """The beats of one stream (see the module doc)."""

    def __init__(self, card, fs, leads, where: str = "stream", lookahead_s: float = LOOKAHEAD_S,
                 history_s: float = HISTORY_S, step_s: float = STEP_S):
        from keras_ecg.deploy.annotate import check_beat_model

        check_beat_model(card, where)
        self.fs = rates.check(fs, where)
        leads = [str(v) for v in leads]
        if not leads or len(set(leads)) != len(leads):
            raise DataError(f"{where}: leads must be distinct names, at least one; got {leads}")
        self.card, self.where, self.leads = card, where, leads
        self.spec = spec = B.BeatSpec.from_card(card.preprocessing)
        self.lead = B.choose_leads(leads, spec.leads[:1], where)[0]
        self.idx = B.choose_leads(leads, spec.leads, where, secondary_fallback=spec.secondary_fallback)
        fs = self.fs
        down = S.resample_ratio(fs, spec.fs)[1] if fs != spec.fs else 1
        grid = math.lcm(max(int(down), 1), max(int(fs), 1))  # pieces start here, as annotate's chunks do
        self.grid = grid if grid <= 4 * fs else max(int(down), 1)  # (an odd rate: on the resampling's grid only)
        after = spec.window - spec.before
        if lookahead_s * spec.fs < after + 0.1 * spec.fs:
            raise ValueError(f"lookahead_s {lookahead_s} must exceed the beat window after the R peak "
                             f"({after / spec.fs:g} s) by 0.1 s")
        self.lookahead = int(math.ceil(lookahead_s * fs))
        self.history = int(math.ceil(history_s * fs))
        self.step = max(int(round(step_s * fs)), 1)
        self.dist = max(int(REFRACTORY_S * fs), 1)
        self.lookahead_s, self.step_s = float(lookahead_s), float(step_s)
        self.buf = np.zeros((max(4 * self.history, 1 << 14), len(leads)), dtype=np.float32)
        self.buf0 = 0  # the stream index of buf[0]
        self.n = 0  # samples received
        self.ran_at = 0  # self.n at the detector's last run
        self.done = 0  # where the detector's last run stopped keeping detections
        self.peaks = np.zeros(0, dtype=np.int64)  # kept detections (the recent ones: see _trim_peaks)
        self.refined = self.peaks  # where the beats are cut (the detections moved with the card's align_peaks)
        self.peak0 = 0  # the stream's count of kept detections before self.peaks[0]
        self.next_beat = 0  # the count of the first detection not yet decided
        self.templates = None  # what finish_beats carries from beat to beat
        self.edge_skipped = 0  # detections too close to the stream's edges to classify
        self.seg = max(int(round(quality.SEGMENT_S * fs)), 1)
        self.reasons = []  # quality verdict per completed 10 s segment
        self.ended = False

    # ------------------------------------------------------------------ input

    def feed(self, x) -> tuple:
        """Take the samples ``x`` ((samples, leads), or (samples,) for one lead), in mV.

        Returns ``(pending, segments)``: the :class:`Pending` beats these samples decided (or None), and the
        quality verdicts of the 10 s segments they completed (``[(start, stop, reason)]``, ``""``: readable)."""
        x = self.check(x)
        self._append(x)
        segments = self._quality(final=False)
        pending = None
        if self.n - self.ran_at >= self.step:
            pending = self._run(final=False)
        return pending, segments

    def end(self) -> tuple:
        """The stream is over: ``(pending, segments)`` of the last beats and the last (partial) segment."""
        if self.ended:
            return None, []
        self.ended = True
        segments = self._quality(final=True)
        return self._run(final=True), segments

    def check(self, x, at: int | None = None) -> np.ndarray:
        """``x`` as (samples, leads) float32, or a one-line :class:`DataError` (shape, NaN/inf, after the end);
        ``at``: the stream index of its first sample, for the message (default: the samples fed so far)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1 and len(self.leads) == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != len(self.leads):
            raise DataError(f"{self.where}: samples must come as rows of {len(self.leads)} value(s) (one per lead "
                            f"{', '.join(self.leads)}); got an array of shape {x.shape}")
        if self.ended:
            raise DataError(f"{self.where}: samples after the end")
        bad = ~np.isfinite(x)
        if bad.any():
            at = self.n if at is None else int(at)
            raise DataError(f"{self.where}: non-finite sample (NaN/inf) at sample {at + int(np.argmax(bad.any(1)))}"
                            "; keras_ecg refuses them")
        return x

    def _append(self, x):
        m = len(x)
        end = self.n - self.buf0
        if end + m > len(self.buf):
            keep_from = self._keep_from()
            kept = self.buf[keep_from - self.buf0:end]
            size = max(len(self.buf), 2 * (len(kept) + m))
            buf = np.zeros((size, self.buf.shape[1]), dtype=np.float32) if size > len(self.buf) else self.buf
            buf[:len(kept)] = kept
            self.buf, self.buf0, end = buf, keep_from, len(kept)
        self.buf[end:end + m] = x
        self.n += m

    def _read(self, lo, hi, cols) -> np.ndarray:
        return self.buf[lo - self.buf0:hi - self.buf0][:, cols]

    def _floor(self, i) -> int:
        return max(int(i) // self.grid * self.grid, 0)

    def _start(self) -> int:
        """Where the detector's next run starts keeping detections: after the last kept one and its refractory
        time, and no earlier than that time before where the last run stopped (so the run is short)."""
        last = int(self.peaks[-1]) + self.dist if len(self.peaks) else 0
        return max(last, self.done - self.dist)

    def _keep_from(self) -> int:
        """The first sample a later step may read: detection's and cutting's history, segment in progress."""
        first_open = int(self.refined[self.next_beat - self.peak0]) if self.next_beat - self.peak0 < len(self.peaks) \
            else self.n
        lo = min(self._start(), first_open - self.spec.before * self.fs / self.spec.fs) - self.history
        lo = min(self._floor(lo), len(self.reasons) * self.seg)
        return max(min(lo, self.n), self.buf0)

    # ------------------------------------------------------------------ beats

    def _run(self, final: bool):
        self.ran_at = self.n
        stop = self.n if final else self.n - self.lookahead
        start = self._start()
        if stop > start:
            self.done = stop
            c = chunked.Chunk(start, stop, self._floor(start - self.history), self.n)
            last = int(self.refined[-1]) if len(self.refined) else None
            p, r = chunked.piece_peaks(self._read(c.lo, c.hi, [self.lead])[:, 0], self.fs, c, self.where,
                                       self.leads[self.lead], self.spec.align, last)
            if len(p):
                self.peaks = np.concatenate([self.peaks, p])
                self.refined = self.peaks if r is None else np.concatenate([self.refined, r])
        last_peak = self.peak0 + len(self.peaks)  # beats up to the one before the last kept peak are decided
        upto = last_peak if final else last_peak - 1
        if upto <= self.next_beat:
            return None
        out = self._inputs(self.next_beat, upto, final)
        self.next_beat = upto
        self._trim_peaks()
        return out

    def _inputs(self, b0, b1, final):
        """The :class:`Pending` beats ``b0:b1`` (counts of kept detections)."""
        spec = self.spec
        rr = B.rr_rows(self.refined, self.fs, spec)
        i0, i1 = b0 - self.peak0, b1 - self.peak0
        first = int(self.refined[i0]) - int(math.ceil(spec.before * self.fs / spec.fs))
        c = chunked.Chunk(int(self.refined[i0]), int(self.refined[i1 - 1]) + 1, self._floor(first - self.history),
                          self.n)
        keep, beats, extra, self.templates = chunked.piece_inputs(
            self._read(c.lo, c.hi, self.idx), self.fs, c, self.refined[i0:i1], None if rr is None else rr[i0:i1],
            spec, self.n, self.templates, self.where)
        self.edge_skipped += int((~keep).sum())
        if not keep.any():
            return None
        inputs = model_shape(beats, self.card.preprocessing) + ([extra] if extra is not None else [])
        return Pending(self.peaks[i0:i1][keep], inputs, self.n - 1)

    def _trim_peaks(self):
        """Forget the detections no later beat's RR features look at (kept: the past ``baseline_s`` and more)."""
        spec = self.spec
        i = self.next_beat - self.peak0
        if i <= 0 or i >= len(self.peaks):
            return
        horizon = self.peaks[i] - (spec.baseline_s + 10.0) * self.fs
        drop = min(int(np.searchsorted(self.peaks, horizon)), i - 40)  # and 40 beats at least (local, context)
        if drop > 0:
            self.peaks, self.refined = self.peaks[drop:], self.refined[drop:]
            self.peak0 += drop

    # ------------------------------------------------------------------ signal quality

    def _quality(self, final: bool) -> list:
        out = []
        while (len(self.reasons) + 1) * self.seg <= self.n:
            a = len(self.reasons) * self.seg
            out.append(self._verdict(a, a + self.seg))
        tail = self.n - len(self.reasons) * self.seg
        if final and tail > 0:
            a = len(self.reasons) * self.seg
            if tail >= 2 * self.fs or not self.reasons:
                out.append(self._verdict(a, self.n))
            else:
                self.reasons.append(self.reasons[-1])
                out.append((a, self.n, self.reasons[-1]))
        return out

    def _verdict(self, a, b):
        r = quality.assess(self._read(a, b, [self.lead])[:, 0], self.fs).reasons[0]
        self.reasons.append(r)
        return (a, b, r)

    def quality(self) -> quality.Quality:
        """The :class:`~keras_ecg.data.quality.Quality` of the segments assessed so far."""
        return quality.Quality(self.fs, quality.SEGMENT_S, list(self.reasons))
