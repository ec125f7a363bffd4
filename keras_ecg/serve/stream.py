"""``/v1/stream``: a WebSocket that classifies the beats of samples sent as they are recorded.

    ws://127.0.0.1:8000/v1/stream?model=NAME          (?token=T or Authorization: Bearer T with --token-file)

Protocol (docs/guide/serving.md, "Real-time streaming"):

* client, first: a text message ``{"fs": 360, "leads": ["MLII"]}``: the rate (Hz) and the lead names (chosen
  and resampled as ``keras-ecg annotate`` chooses and resamples them);
* server: ``{"type": "ready", "model", "classes", "lead", "fs", "latency_note", ...}``;
* client: samples in mV, any number per message: binary frames of little-endian float32, sample-major
  (one value per lead per sample), or text ``{"samples": [[v0, v1, ...], ...]}``; then ``{"end": true}``;
* server, as they are decided: ``{"type": "beat", "sample", "time", "label", "probabilities", "uncertain",
  "decided_at", "server_ms"}`` (``sample`` and ``decided_at``: indices in the stream at its own rate;
  ``server_ms``: from the arrival of the message holding ``decided_at`` to this one's sending);
  ``{"type": "rhythm", "start", "time", "label"}`` when the rhythm changes (``label`` as in annotate's
  WFDB files: ``(N``, ``(AFIB``, ...); ``{"type": "unreadable", "start", "end", "time", "reason"}`` for a
  10 s segment the quality check rejects (annotate drops its beats; so does the summary);
* server, after the end: ``{"type": "end", "beats": n, "summary": {...}}`` (annotate's summary of the
  whole stream), then it closes (1000);
* bad input: ``{"type": "error", "error": "<one line>"}`` and a close with 1003 (bad data: first message,
  frame size, NaN, rate, leads) or 1008 (no or wrong token, unknown model).

The beats are :class:`keras_ecg.deploy.live.LiveBeats`'s (annotate's functions, as the samples arrive), their
classes :func:`keras_ecg.deploy.annotate.beat_classes`, the rhythm :class:`keras_ecg.deploy.live_rhythm.LiveRhythm`.
Detection, cutting and the model run in the process's one worker thread
(:class:`keras_ecg.serve.heavy.HeavyQueue`), which classifies the beats of every stream waiting in one call.
"""

# no `from __future__ import annotations`: FastAPI reads the endpoint's annotations (WebSocket, imported in add_routes)

import asyncio
import collections
import hmac
import json
import threading
import time

import numpy as np

from keras_ecg.errors import KerasECGError, one_line

PATH = "/v1/stream"
FIRST_MESSAGE_S = 30.0  # the first message must come within this
BACKLOG_S = 600.0  # signal waiting to be processed, at most (then the server stops reading: TCP backpressure)
BAD_DATA, POLICY, INTERNAL = 1003, 1008, 1011


class _Gone(Exception):
    """The client went away while the server was sending."""


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


def _classify(served):
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


def _token_ok(ws, token) -> bool:
    if token is None:
        return True
    got = ws.headers.get("authorization", "")
    if got and hmac.compare_digest(got.encode(), f"Bearer {token}".encode()):
        return True
    q = ws.query_params.get("token")
    return q is not None and hmac.compare_digest(q.encode(), token.encode())


def add_routes(app, models: dict, queue, metrics=None, token: str | None = None) -> None:
    """Register ``/v1/stream`` on the FastAPI ``app`` serving ``models``; model calls go through ``queue``."""
    from fastapi import WebSocket

    if metrics is not None:
        metrics.help.setdefault("keras_ecg_streams_total", ("counter", "WebSocket streams by outcome"))

    def count(outcome, model="-"):
        if metrics is not None:
            metrics.inc("keras_ecg_streams_total", outcome=outcome, model=model)

    @app.websocket(PATH)
    async def stream(ws: WebSocket):
        await ws.accept()
        try:
            if not _token_ok(ws, token):
                raise StreamError("a bearer token is required (Authorization: Bearer TOKEN, or ?token=TOKEN)",
                                  POLICY)
            served = pick_model(models, ws.query_params.get("model"))
            try:
                msg = await asyncio.wait_for(ws.receive(), FIRST_MESSAGE_S)
            except asyncio.TimeoutError:
                raise StreamError(f"no first message within {FIRST_MESSAGE_S:g} s") from None
            if msg["type"] == "websocket.disconnect":
                return count("gone")
            try:
                first = json.loads(msg.get("text") or "")
                session = Session(served, first)
            except json.JSONDecodeError:
                raise StreamError('the first message is JSON text {"fs": <Hz>, "leads": [<name>, ...]}') from None
            except KerasECGError as e:
                raise StreamError(one_line(e)) from None
            await ws.send_json(session.ready())
            done = await _run(ws, session, served, queue)
            if done:
                if metrics is not None and session.beats:
                    metrics.inc("keras_ecg_beats_classified_total", session.beats, model=served.name)
                count("ok", served.name)
                await ws.close(1000)
            else:
                count("gone", served.name)
        except StreamError as e:
            count("refused")
            await _refuse(ws, str(e), e.code)
        except Exception:  # noqa: BLE001 - one line to the client, the service goes on
            import logging

            logging.getLogger("keras_ecg.serve").exception("stream failed")
            count("internal")
            if metrics is not None:
                metrics.inc("keras_ecg_errors_total", kind="stream")
            await _refuse(ws, "internal error", INTERNAL)


async def _refuse(ws, text, code):
    try:
        await ws.send_json({"type": "error", "error": text})
        await ws.close(code)
    except Exception:  # noqa: BLE001 - the client is gone
        pass


async def _run(ws, session, served, queue) -> bool:
    """Receive samples until the end message; True when the stream ended properly (False: the client left)."""
    key, classify = served.name, _classify(served)
    state = {"task": None, "error": None, "gone": False}
    fs = session.live.fs

    async def job(final=False):
        sent = await queue.beats(key, classify, lambda: session.prepare(final), session.finish)
        for m, arrived in sent:
            if m["type"] == "beat" and arrived is not None:
                m["server_ms"] = round(1000.0 * (time.perf_counter() - arrived), 3)
            try:
                await ws.send_json(m)
            except Exception:  # noqa: BLE001 - the client is gone (the next receive says so)
                raise _Gone() from None

    async def drain():
        try:
            while session.waiting and state["error"] is None:
                await job()
        except _Gone:
            state["gone"] = True
        except KerasECGError as e:
            state["error"] = StreamError(one_line(e))
        except Exception as e:  # noqa: BLE001 - raised in the receiving loop
            state["error"] = e
        finally:
            state["task"] = None

    def kick():
        if state["task"] is None:
            state["task"] = asyncio.ensure_future(drain())

    try:
        while True:
            msg = await ws.receive()
            arrived = time.perf_counter()
            if msg["type"] == "websocket.disconnect" or state["gone"]:
                return False
            if state["error"] is not None:
                raise state["error"]
            if msg.get("bytes") is not None:
                x = session.samples(msg["bytes"])
            else:
                try:
                    body = json.loads(msg.get("text") or "")
                except json.JSONDecodeError:
                    raise StreamError("a text message must be JSON: {\"samples\": [[...], ...]} or "
                                      "{\"end\": true}") from None
                if isinstance(body, dict) and body.get("end") is True:
                    break
                if not isinstance(body, dict) or "samples" not in body:
                    raise StreamError('a text message is {"samples": [[...], ...]} or {"end": true}')
                x = session.samples(body)
            if len(x):
                session.put(x, arrived)
                kick()
            if session.backlog > BACKLOG_S * fs and state["task"] is not None:
                await state["task"]  # stop reading until the worker catches up
        if state["task"] is not None:
            await state["task"]
        if state["error"] is not None:
            raise state["error"]
        try:
            await job(final=True)
        except _Gone:
            return False
        except KerasECGError as e:
            raise StreamError(one_line(e)) from None
        return not state["gone"]
    finally:
        t = state["task"]
        if t is not None and not t.done():
            t.cancel()
