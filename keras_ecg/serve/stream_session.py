"""One ``/v1/stream`` session without its transport: the first message checked, the samples of each message
checked, the work of each turn in the worker thread, and the messages it answers (:mod:`keras_ecg.serve.stream`
is the WebSocket route around it; its docstring is the protocol)."""

from __future__ import annotations

import collections
import threading

import numpy as np

from keras_ecg.errors import KerasECGError, one_line

BAD_DATA, POLICY = 1003, 1008  # WebSocket close codes: bad data; a policy (token, model) refused


class StreamError(Exception):
    def __init__(self, text, code=BAD_DATA):
        super().__init__(text)
        self.code = code


def is_beat_model(served) -> bool:
    c = served.card
    return c.input_kind == "waveform" and getattr(c.preprocessing, "format", None) == "wfdb"


def pick_model(models: dict, name):
    """The served beat model a stream asked for (``name`` None: the only one)."""
    beat = sorted(n for n, m in models.items() if is_beat_model(m))
    if name is None:
        if len(beat) != 1:
            raise StreamError(f"say which model: ?model= one of {', '.join(beat) or '(no beat model is served)'}",
                              POLICY)
        return models[beat[0]]
    if name not in models:
        raise StreamError(f"no model {name!r}; served: {', '.join(sorted(models))}", POLICY)
    if name not in beat:
        raise StreamError(f"model {name!r} does not classify beats (it takes {models[name].card.input_kind} input); "
                          f"stream to one of {', '.join(beat) or '(none served)'}", POLICY)
    return models[name]


def model_fn(served):
    """``inputs -> outputs`` of the served model, for the worker's batched calls."""
    from keras_ecg.deploy import runtime

    return runtime.predict_fn(served.model)


class Session:
    """One stream's state: the samples waiting, the beats, the rhythm, the messages (no transport)."""

    def __init__(self, served, first):
        from keras_ecg.deploy import live, live_rhythm

        if not isinstance(first, dict) or "fs" not in first or "leads" not in first:
            raise StreamError('the first message is JSON {"fs": <Hz>, "leads": [<name>, ...]}')
        leads = first["leads"]
        if not isinstance(leads, list) or not all(isinstance(v, str) for v in leads):
            raise StreamError('"leads" must be a list of lead names')
        if isinstance(first["fs"], bool) or not isinstance(first["fs"], (int, float)):
            raise StreamError('"fs" must be a number (Hz)')
        self.served, self.card = served, served.card
        self.live = live.LiveBeats(self.card, first["fs"], leads, where="stream")
        self.rhythm = live_rhythm.LiveRhythm(self.card, self.live.fs)
        self.names = list(self.card.class_names or [])
        self.waiting = collections.deque()  # (samples, arrival time)
        self.lock = threading.Lock()
        self.backlog = 0
        self.received = 0  # samples received (checked)
        self.beats = 0

    def ready(self) -> dict:
        from keras_ecg.deploy import live, live_rhythm

        lv = self.live
        return {"type": "ready", "model": self.served.name, "classes": self.names, "fs": lv.fs,
                "leads": lv.leads, "lead": lv.leads[lv.lead], "model_fs": lv.spec.fs,
                "lookahead_s": lv.lookahead_s, "step_s": lv.step_s,
                "latency_note": live.latency_note(lv.lookahead_s, lv.step_s) + "; a rhythm change about "
                f"{live_rhythm.SETTLE_S:g} s after its first beat"}

    def samples(self, msg) -> np.ndarray:
        """The samples of one message (bytes or parsed JSON), checked; a :class:`StreamError` if bad."""
        k = len(self.live.leads)
        if isinstance(msg, (bytes, bytearray)):
            if len(msg) % (4 * k):
                raise StreamError(f"a binary frame of {len(msg)} bytes is not whole samples of {k} little-endian "
                                  f"float32 value(s) ({4 * k} bytes each)")
            x = np.frombuffer(msg, dtype="<f4").reshape(-1, k)
        else:
            try:
                x = np.asarray(msg["samples"], dtype=np.float32)
            except (TypeError, ValueError):
                raise StreamError(f'"samples" must be a list of rows of {k} number(s)') from None
            if x.ndim == 1 and k == 1:
                x = x[:, None]
            if x.ndim != 2 or x.shape[1] != k or x.size == 0 and x.shape != (0, k):
                raise StreamError(f'"samples" must be a list of rows of {k} number(s) (one per lead); got shape '
                                  f"{x.shape}")
        try:
            x = self.live.check(x, self.received)
        except KerasECGError as e:
            raise StreamError(one_line(e)) from None
        self.received += len(x)
        return x

    def put(self, x, arrived: float):
        with self.lock:
            self.waiting.append((x, arrived))
            self.backlog += len(x)

    def _take(self):
        with self.lock:  # the event loop puts, the worker thread takes
            xs, arrived = [x for x, _ in self.waiting], (self.waiting[-1][1] if self.waiting else None)
            self.waiting.clear()
            self.backlog = 0
        return (np.concatenate(xs) if len(xs) > 1 else xs[0] if xs else None), arrived

    # in the worker thread -------------------------------------------------------------------------

    def prepare(self, final: bool = False):
        x, arrived = self._take()
        pending, segments = (None, [])
        if x is not None and len(x):
            pending, segments = self.live.feed(x)
        if final:
            p2, s2 = self.live.end()
            segments = segments + s2
            pending = _join(pending, p2)
        meta = (pending, segments, arrived, final)
        return meta, (pending.inputs if pending is not None else None)

    def finish(self, meta, outputs) -> list:
        from keras_ecg.deploy.annotate import beat_classes

        pending, segments, arrived, final = meta
        fs, msgs = self.live.fs, []
        if pending is not None:
            probs, classes, unsure = beat_classes(outputs, self.card)
            flags = np.zeros(len(classes), dtype=bool) if unsure is None else np.asarray(unsure, dtype=bool)
            for s, c, p, u in zip(pending.samples.tolist(), classes, probs, flags.tolist()):
                msgs.append({"type": "beat", "sample": s, "time": round(s / fs, 4), "label": c,
                             "probabilities": self._probs(p), "uncertain": u, "decided_at": pending.decided_at})
            self.beats += len(classes)
            msgs += self._rhythm(self.rhythm.add(pending.samples, probs, unsure))
        msgs += [{"type": "unreadable", "start": a, "end": b, "time": round(a / fs, 4), "reason": r}
                 for a, b, r in segments if r]
        if final:
            msgs += self._end()
        return [(m, arrived) for m in msgs]

    def _probs(self, p) -> dict:
        if len(p) == 1 and len(self.names) == 2:
            return {self.names[0]: round(1.0 - float(p[0]), 5), self.names[1]: round(float(p[0]), 5)}
        return {n: round(float(v), 5) for n, v in zip(self.names, p)}

    def _rhythm(self, changes) -> list:
        return [{"type": "rhythm", "start": int(s), "time": round(s / self.live.fs, 4), "label": lab}
                for s, lab in changes]

    def _end(self) -> list:
        from keras_ecg.deploy import record_rhythm, summary

        lv, rh = self.live, self.rhythm
        q = lv.quality()
        keep = q.readable_at(rh.samples / lv.fs) if q.reasons else np.ones(len(rh.samples), dtype=bool)
        changes, r, unsure = rh.end(keep)
        times = rh.samples[keep] / lv.fs
        duration = lv.n / lv.fs
        if r is None:
            summ = summary.summarize(times, [], duration, self.names)
        else:
            summ = summary.summarize(times, r.classes, duration, self.names, episodes=r.episodes, in_af=r.in_af,
                                     relabelled=r.relabelled)
        cal = self.card.calibration
        summ.update({"lead": lv.leads[lv.lead], "fs": lv.fs, "edge_beats_not_classified": lv.edge_skipped,
                     "uncertain_beats": int(np.sum(unsure)) if unsure is not None else 0,
                     "signal_quality": q.to_dict(), "beats_in_unreadable_segments": int((~keep).sum()),
                     "rhythm_config": record_rhythm.config(self.card).to_card(),
                     "uncertain_below": cal.uncertain_below if cal is not None else None})
        return self._rhythm(changes) + [{"type": "end", "beats": int(keep.sum()), "summary": summ}]


def _join(a, b):
    if a is None or b is None:
        return a if b is None else b
    from keras_ecg.deploy.live import Pending

    return Pending(np.concatenate([a.samples, b.samples]), [np.concatenate(p) for p in zip(a.inputs, b.inputs)],
                   b.decided_at)
