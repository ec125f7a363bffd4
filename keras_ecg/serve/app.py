"""The FastAPI app of :func:`create_app`: the loaded models behind a versioned API.

    GET  /healthz              {"status": "ok", "models": [...]}, never behind the token
    GET  /v1/models            each model's card: classes, input kind, figures, calibration, runtime
    POST /v1/predict?model=N   multipart files: one page image, one CSV of beats, or one WFDB record's
                               .hea + .dat (+ .atr) files; the answer is `keras-ecg predict --json`'s results
    GET  /metrics              Prometheus text: requests, latencies, predictions, beats classified, errors
    GET  /openapi.json, /docs  the OpenAPI description

Uploads go to a private temporary folder (removed after the answer) and are predicted by
:func:`keras_ecg.deploy.predict.predict_paths`, as ``keras-ecg predict`` does; the temporary paths in the
answer are replaced by the uploaded file names. One lock per process: two predictions never run at once in
a worker, later requests wait their turn. Bad input is a 4xx with a one-line ``detail``; the service goes on.
"""

# no `from __future__ import annotations`: FastAPI reads the endpoints' annotations, imported in create_app

import hmac
import pathlib
import re
import shutil
import tempfile
import threading
import time

from keras_ecg.errors import KerasECGError, one_line

API_VERSION = "v1"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
_RECORD_SUFFIXES = (".hea", ".dat", ".atr")


class _BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes (by Content-Length, or as it streams) gets 413."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _plain(send, 413, f"request body over {self.limit} bytes")
        if declared is not None:  # the server stops reading at Content-Length
            return await self.app(scope, receive, send)
        # a body without a length (chunked): read it up to the limit first, then hand it on
        messages, seen = [], 0
        while True:
            msg = await receive()
            messages.append(msg)
            seen += len(msg.get("body", b""))
            if seen > self.limit:
                return await _plain(send, 413, f"request body over {self.limit} bytes")
            if msg["type"] != "http.request" or not msg.get("more_body"):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _plain(send, status: int, detail: str):
    import json

    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _strip_dir(obj, prefix: str):
    """``obj`` with every string under the temporary folder ``prefix`` given as the path inside it."""
    if isinstance(obj, str):
        return obj[len(prefix):] if obj.startswith(prefix) else obj
    if isinstance(obj, dict):
        return {k: _strip_dir(v, prefix) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_strip_dir(v, prefix) for v in obj]
    return obj


def upload_input(folder: pathlib.Path, names: list) -> pathlib.Path:
    """The input path ``predict_paths`` reads from the files ``names`` saved in ``folder``: the one file, or the
    one WFDB record (its path without extension) when the files are a record's .hea/.dat/.atr."""
    stems = {pathlib.Path(n).stem for n in names}
    if any(pathlib.Path(n).suffix in _RECORD_SUFFIXES for n in names):
        if len(stems) != 1 or any(pathlib.Path(n).suffix not in _RECORD_SUFFIXES for n in names):
            raise KerasECGError("a WFDB record is uploaded as its own .hea and .dat (and .atr) files, one record "
                                "a request")
        stem = stems.pop()
        if not (folder / f"{stem}.hea").is_file():
            raise KerasECGError(f"{stem}: the record's .hea file is missing from the upload")
        return folder / stem
    if len(names) != 1:
        raise KerasECGError(f"{len(names)} files uploaded: give one page image or CSV, or one WFDB record's files")
    return folder / names[0]


def create_app(models: dict, *, max_upload_bytes: int = MAX_UPLOAD_BYTES, token: str | None = None,
               batch_size: int = 64):
    """The FastAPI app serving ``models`` (``{name: keras_ecg.serve.models.Served}``).

    ``token``: when given, every endpoint but ``/healthz`` wants ``Authorization: Bearer TOKEN`` (else 401).
    """
    from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
    from fastapi.responses import JSONResponse, PlainTextResponse

    from keras_ecg.deploy import predict as P
    from keras_ecg.serve import heavy as H
    from keras_ecg.serve import stream
    from keras_ecg.serve.metrics import Metrics

    metrics = Metrics()
    heavy = threading.Lock()  # one prediction at a time per process; the others queue here
    app = FastAPI(title="keras-ecg", version=API_VERSION,
                  description="ECG classifiers behind the same functions as `keras-ecg predict`.")
    app.state.models, app.state.metrics = models, metrics
    if max_upload_bytes:
        app.add_middleware(_BodyLimit, limit=max_upload_bytes)  # inside the counting below: 413s are counted

    @app.middleware("http")
    async def count(request: Request, call_next):
        t0 = time.perf_counter()
        route = request.url.path if request.url.path in _PATHS else "other"
        try:
            response = await call_next(request)
        except Exception:  # an unexpected failure: counted, answered 500, the service goes on
            metrics.inc("keras_ecg_errors_total", kind="internal")
            response = JSONResponse({"detail": "internal error"}, status_code=500)
        metrics.inc("keras_ecg_requests_total", path=route, method=request.method, status=response.status_code)
        metrics.observe("keras_ecg_request_seconds", time.perf_counter() - t0, path=route)
        if response.status_code >= 400:
            metrics.inc("keras_ecg_errors_total", kind=str(response.status_code))
        return response

    def authorised(request: Request):
        if token is None:
            return
        got = request.headers.get("authorization", "")
        if not hmac.compare_digest(got.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, "a bearer token is required (Authorization: Bearer TOKEN)",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "models": sorted(models)}

    @app.get(f"/{API_VERSION}/models", dependencies=[Depends(authorised)])
    def list_models():
        return {"models": [m.describe() for m in models.values()]}

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(authorised)])
    def prometheus():
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.post(f"/{API_VERSION}/predict", dependencies=[Depends(authorised)])
    def predict(files: list[UploadFile] = File(..., description="one page image or CSV of beats, or one WFDB "
                                                                  "record's .hea, .dat (and .atr) files"),
                model: str | None = Query(None, description="the model's name (GET /v1/models); may be left "
                                                             "out when one model is served")):
        if model is None:
            if len(models) != 1:
                raise HTTPException(422, f"say which model: ?model= one of {', '.join(sorted(models))}")
            model = next(iter(models))
        if model not in models:
            raise HTTPException(404, f"no model {model!r}; served: {', '.join(sorted(models))}")
        served = models[model]
        names = [pathlib.PurePath(f.filename or "").name for f in files]
        for n in names:
            if not _SAFE_NAME.match(n):
                raise HTTPException(422, f"{n!r}: file names are letters, digits, '.', '_' and '-'")
        if len(set(names)) != len(names):
            raise HTTPException(422, "two uploaded files have the same name")
        folder = pathlib.Path(tempfile.mkdtemp(prefix="keras-ecg-serve-"))  # mode 0700: this user only
        try:
            for f, n in zip(files, names):
                with open(folder / n, "wb") as out:
                    shutil.copyfileobj(f.file, out)
            try:
                inp = upload_input(folder, names)
                results = app.state.heavy.call(P.predict_paths, served.model, served.card, [inp], batch_size)
            except KerasECGError as e:
                raise HTTPException(422, _strip_dir(one_line(e), str(folder) + "/")) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        results = _strip_dir(results, str(folder) + "/")
        beats = sum(r.get("beats", 0) for r in results)
        metrics.inc("keras_ecg_predictions_total", len(results), model=model)
        if beats:
            metrics.inc("keras_ecg_beats_classified_total", beats, model=model)
        return {"model": model, "class_names": list(served.card.class_names), "binary": bool(served.card.binary),
                "results": results}

    app.state.heavy = H.HeavyQueue(heavy)  # the worker thread of /v1/stream's model calls, under the same lock
    stream.add_routes(app, models, app.state.heavy, metrics, token)

    _PATHS = {r.path for r in app.routes}
    return app


def app_from_env():
    """The app of ``keras-ecg serve``'s settings in ``$KERAS_ECG_SERVE`` (JSON): what each uvicorn worker runs,
    so every worker loads the models once."""
    import json
    import os

    from keras_ecg import backend as kb
    from keras_ecg.serve import models as M

    cfg = json.loads(os.environ["KERAS_ECG_SERVE"])
    kb.use(cfg.get("backend") or kb.default())
    token = None
    if cfg.get("token_file"):
        token = pathlib.Path(cfg["token_file"]).read_text().strip()
    served = M.load_all(cfg["models"], cfg.get("runtime", "auto"))
    return create_app(served, max_upload_bytes=cfg.get("max_upload_bytes", MAX_UPLOAD_BYTES), token=token)
