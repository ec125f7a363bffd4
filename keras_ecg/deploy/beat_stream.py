"""The beats of a whole recording classified, chunk by chunk or in one piece: what :func:`annotate` runs.

:func:`classify_record` reads the recording in chunks
(:class:`~keras_ecg.data.record_file.RecordFile`, :mod:`keras_ecg.data.chunked`), detects
the R peaks on the card's first lead, cuts the beats as the card's preprocessing says and
classifies them :data:`BATCH` at a time (one input shape: a compiled Keras predict is
reused). Memory is bounded by the chunk and the batch, not by the recording's length.
:func:`classify_whole` does the same with the whole recording in memory at once: the
reference the chunked path must match.

Both return a :class:`Beats`: the recording, the lead, the R-peak sample and the model's
(uncalibrated) output of every classified beat, the detections too close to the edges to
classify, and the seconds per stage (``read``, ``detect``, ``segment``, ``classify``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time

import numpy as np

from keras_ecg.data import beats as B
from keras_ecg.data import chunked, quality, record_file, signal_files
from keras_ecg.data import signal as S
from keras_ecg.data.model_inputs import model_shape
from keras_ecg.errors import DataError

BATCH = 4096  # beats per classifier call


@dataclasses.dataclass
class Beats:
    record: object  # a RecordFile (chunked) or a Record (whole)
    lead: str  # the lead R peaks were detected on
    samples: np.ndarray  # R-peak sample of each classified beat
    outputs: np.ndarray  # (beats, K) or (beats, 1) model outputs, float64
    edge_skipped: int  # detections too close to the edges to classify
    seconds: dict  # per stage
    quality: object = None  # keras_ecg.data.quality.Quality of the detection lead
    unreadable_beats: int = 0  # detections in unreadable segments, not classified


def _readable(where, lead, q) -> None:
    """A recording with nothing analysable is refused in one line."""
    if q.analysable_fraction == 0.0:
        d = q.to_dict()["unreadable_segments"]
        raise DataError(f"{where}: no analysable ECG on lead {lead}: every {q.segment_s:g} s segment is unreadable ("
                        + ", ".join(f"{k} {v}" for k, v in d.items() if v) + "); is it an ECG, in mV?")


def _drop_unreadable(b: "Beats") -> "Beats":
    """``b`` without the beats in unreadable segments (counted in ``unreadable_beats``)."""
    keep = b.quality.readable_at(b.samples / b.record.fs)
    if keep.all():
        return b
    return dataclasses.replace(b, samples=b.samples[keep], outputs=b.outputs[keep],
                               unreadable_beats=int((~keep).sum()))


def classify_record(classifier, path, fs: float | None = None, chunk_s: float = chunked.CHUNK_S,
                    on_open=None) -> Beats:
    """The beats of the recording at ``path``, ``chunk_s`` seconds at a time (see the module doc).

    ``on_open(rec)``, if given, is called as soon as the recording's header is read (before any beat is
    detected or classified): a check of the caller's (for example the strip-chart spans) fails at once."""
    card = classifier.card
    clock = _Clock()
    rec = clock.time("read", record_file.open_recording, path, fs=fs)
    if on_open is not None:
        on_open(rec)
    spec = B.BeatSpec.from_card(card.preprocessing)
    where = rec.path or str(path)
    lead = B.choose_leads(rec.leads, spec.leads[:1], where)[0]
    idx = B.choose_leads(rec.leads, spec.leads, where, secondary_fallback=spec.secondary_fallback)
    n = rec.n_samples
    down = S.resample_ratio(rec.fs, spec.fs)[1] if rec.fs != spec.fs else 1
    chunks = chunked.plan(n, rec.fs, chunk_s, chunked.MARGIN_S, align=down)
    with clock.stage("detect"):
        peaks, refined = chunked.detect_r_peaks(lambda lo, hi: clock.time("read", rec.read, lo, hi, [lead])[:, 0],
                                                n, rec.fs, chunks, where, str(rec.leads[lead]), spec.align)
        q = quality.assess_read(lambda lo, hi: clock.time("read", rec.read, lo, hi, [lead])[:, 0], n, rec.fs)
    _readable(where, rec.leads[lead], q)
    if len(peaks) < 2:
        raise DataError(f"{where}: {len(peaks)} R peaks detected; nothing to annotate")
    batches = Batches(lambda inputs: clock.time("classify", classifier, inputs), BATCH)
    with clock.stage("segment"):
        for sel, beats, extra in chunked.beat_inputs(lambda lo, hi: clock.time("read", rec.read, lo, hi, idx), n,
                                                     rec.fs, peaks, refined, spec, chunks, where):
            batches.add(sel, model_shape(beats, card.preprocessing) + ([extra] if extra is not None else []))
        sel, out = batches.finish()
    return _drop_unreadable(Beats(rec, str(rec.leads[lead]), peaks[sel], out, int(len(peaks) - len(sel)),
                                  clock.seconds(), q))


def classify_whole(classifier, path, fs: float | None = None, on_open=None) -> Beats:
    """:func:`classify_record` with the whole recording in memory, in one piece (``on_open`` as there)."""
    card = classifier.card
    t = {"start": time.perf_counter()}
    rec = signal_files.read(path, fs=fs, annotations=None)
    if on_open is not None:
        on_open(rec)
    t["read"] = time.perf_counter()
    spec = B.BeatSpec.from_card(card.preprocessing)
    where = rec.path or str(path)
    lead = B.choose_leads(rec.leads, spec.leads[:1], where)[0]
    x0 = S.check_finite(rec.signal[:, lead], where)
    peaks = np.asarray(S.detect_r_peaks(x0, rec.fs), dtype=np.int64)
    q = quality.assess(x0, rec.fs)
    t["detect"] = time.perf_counter()
    _readable(where, rec.leads[lead], q)
    if len(peaks) < 2:
        raise DataError(f"{where}: {len(peaks)} R peaks detected; nothing to annotate")
    beats, rr, ok, _ = B.beat_inputs(rec.signal, rec.fs, peaks, spec, rec.leads, where=where)
    inputs = model_shape(beats, card.preprocessing) + ([rr] if rr is not None else [])
    t["segment"] = time.perf_counter()
    out = np.asarray(classifier(inputs), dtype=np.float64)
    t["classify"] = time.perf_counter()
    stages = _Clock.STAGES
    seconds = {s: round(t[s] - t[p], 4) for s, p in zip(stages, ["start", *stages[:-1]])}
    return _drop_unreadable(Beats(rec, str(rec.leads[lead]), peaks[ok], out, int((~ok).sum()), seconds, q))


class _Clock:
    """Seconds per stage; reading or classifying inside a stage counts as ``read``/``classify``, not the stage."""

    STAGES = ("read", "detect", "segment", "classify")

    def __init__(self):
        self.total = dict.fromkeys(self.STAGES, 0.0)
        self.inner = 0.0  # seconds of timed calls so far

    def time(self, stage, fn, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            dt = time.perf_counter() - t0
            self.total[stage] += dt
            self.inner += dt

    @contextlib.contextmanager
    def stage(self, stage):
        t0, inner0 = time.perf_counter(), self.inner
        try:
            yield
        finally:
            self.total[stage] += time.perf_counter() - t0 - (self.inner - inner0)

    def seconds(self) -> dict:
        return {s: round(v, 4) for s, v in self.total.items()}


class Batches:
    """Model inputs gathered piece by piece and classified ``size`` beats at a time, in order."""

    def __init__(self, classify, size: int = BATCH):
        self.classify, self.size = classify, int(size)
        self.sel, self.parts, self.held, self.out = [], [], 0, []

    def add(self, sel, inputs) -> None:
        """The inputs (one array per model input) of the beats ``sel``."""
        self.sel.append(np.asarray(sel, dtype=np.int64))
        self.parts.append(list(inputs))
        self.held += len(sel)
        while self.held >= self.size:
            self._run(self.size)

    def _run(self, m):
        joined = [np.concatenate(a) for a in zip(*self.parts)]
        self.out.append(np.asarray(self.classify([a[:m] for a in joined]), dtype=np.float64))
        self.parts = [[a[m:] for a in joined]] if len(joined[0]) > m else []
        self.held -= m

    def finish(self):
        """``(sel, outputs)`` of every beat added."""
        if self.held:
            self._run(self.held)
        sel = np.concatenate(self.sel) if self.sel else np.zeros(0, dtype=np.int64)
        return sel, (np.concatenate(self.out) if self.out else np.zeros((0, 1)))
