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

A session's state and messages are :class:`keras_ecg.serve.stream_session.Session`'s. The beats are
:class:`keras_ecg.deploy.live.LiveBeats`'s (annotate's functions, as the samples arrive), their
classes :func:`keras_ecg.deploy.annotate.beat_classes`, the rhythm :class:`keras_ecg.deploy.live_rhythm.LiveRhythm`.
Detection, cutting and the model run in the process's one worker thread
(:class:`keras_ecg.serve.heavy.HeavyQueue`), which classifies the beats of every stream waiting in one call.
"""

# no `from __future__ import annotations`: FastAPI reads the endpoint's annotations (WebSocket, imported in add_routes)

import asyncio
import hmac
import json
import time

from keras_ecg.errors import KerasECGError, one_line
from keras_ecg.serve.stream_session import POLICY, Session, StreamError, model_fn, pick_model

PATH = "/v1/stream"
FIRST_MESSAGE_S = 30.0  # the first message must come within this
BACKLOG_S = 600.0  # signal waiting to be processed, at most (then the server stops reading: TCP backpressure)
INTERNAL = 1011


class _Gone(Exception):
    """The client went away while the server was sending."""


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
    key, classify = served.name, model_fn(served)
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
