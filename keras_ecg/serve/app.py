"""The FastAPI app of :func:`create_app`: the loaded models behind a versioned API.

    GET  /healthz              {"status": "ok", "models": [...]}, never behind the token
    GET  /v1/models            each model's card: classes, input kind, figures, calibration, runtime
    POST /v1/predict?model=N   multipart files: one page image, one CSV of beats, one WFDB record's .hea + .dat
                               (+ .atr) files, one EDF file, or one CSV recording with form field fs; the answer
                               is `keras-ecg predict --json`'s results (`--fs` for the CSV recording)
    POST /v1/annotate, /v1/explain, GET /v1/results/..., /v1/demo/record: :mod:`keras_ecg.serve.analysis`
    GET  /                     the web viewer (static files of keras_ecg/serve/static/, no token: they hold no data)
    GET  /metrics              Prometheus text: requests, latencies, predictions, beats classified, errors
    GET  /openapi.json, /docs  the OpenAPI description

Uploads are recognised from their content (:mod:`keras_ecg.serve.uploads`), go to a private temporary folder
(removed after the answer) and are predicted by :func:`keras_ecg.deploy.predict.predict_paths`, as
``keras-ecg predict`` does; the temporary paths in the answer are replaced by the uploaded file names. One lock
per process: two heavy jobs never run at once in a worker, later requests wait their turn, each within the
request time limit (:mod:`keras_ecg.serve.jobs`). Bad input is a 4xx with a one-line ``detail``; the service
goes on. CORS is off unless ``cors_origins`` are given.
"""

# no `from __future__ import annotations`: FastAPI reads the endpoints' annotations, imported in create_app

import hmac
import os
import pathlib
import shutil
import tempfile
import threading
import time

API_VERSION = "v1"
MAX_UPLOAD_BYTES = 512 * 2**20  # a 24-hour 2-lead 360 Hz recording: WFDB 212 93 MB, EDF 124 MB, CSV ~450 MB
MAX_DURATION_S = 25 * 3600.0  # a 24-hour Holter recording and a margin
STATIC = pathlib.Path(__file__).with_name("static")


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


def create_app(models: dict, *, max_upload_bytes: int = MAX_UPLOAD_BYTES, token: str | None = None,
               batch_size: int = 64, max_duration_s: float | None = MAX_DURATION_S,
               request_timeout_s: float | None = None, results_ttl_s: float | None = None,
               results_max_bytes: int | None = None, cors_origins=()):
    """The FastAPI app serving ``models`` (``{name: keras_ecg.serve.models.Served}``).

    ``token``: when given, every endpoint but ``/healthz`` and the viewer's static files wants
    ``Authorization: Bearer TOKEN`` (else 401). ``max_duration_s``: the longest recording taken (413 above);
    ``request_timeout_s``: a heavy request's time limit (504 above; default :data:`keras_ecg.serve.jobs.
    REQUEST_TIMEOUT_S`); ``results_ttl_s``, ``results_max_bytes``: how long and how much of the answers' files are
    kept (:mod:`keras_ecg.serve.results`); ``cors_origins``: origins other sites' pages may call from (none: CORS
    off).
    """
    from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
    from fastapi.staticfiles import StaticFiles

    from keras_ecg.deploy import predict as P
    from keras_ecg.serve import analysis, heavy as H, jobs as J, results as R, stream, uploads
    from keras_ecg.serve.metrics import Metrics

    metrics = Metrics()
    heavy = threading.Lock()  # one prediction at a time per process; the others queue here
    jobs = J.Jobs(J.REQUEST_TIMEOUT_S if request_timeout_s is None else request_timeout_s, heavy)
    results = R.Results(results_ttl_s or R.TTL_S, results_max_bytes or R.MAX_BYTES)
    app = FastAPI(title="keras-ecg", version=API_VERSION,
                  description="ECG classifiers behind the same functions as `keras-ecg predict`.")
    app.state.models, app.state.metrics, app.state.results, app.state.jobs = models, metrics, results, jobs
    app.router.on_shutdown.append(results.close)  # every kept result file goes with the service
    if max_upload_bytes:
        app.add_middleware(_BodyLimit, limit=max_upload_bytes)  # inside the counting below: 413s are counted
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization"])

    @app.exception_handler(RequestValidationError)
    async def one_line_422(request, exc):  # FastAPI's default is a list of dicts: one line naming the field
        errs = exc.errors()
        first = errs[0] if errs else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or "request"
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}"}, status_code=422)

    @app.middleware("http")
    async def count(request: Request, call_next):
        t0 = time.perf_counter()
        route = request.url.path if request.url.path in _PATHS else "other"
        try:
            response = await call_next(request)
        except Exception:  # an unexpected failure: counted, answered 500, the service goes on
            metrics.inc("keras_ecg_errors_total", kind="internal")
            response = JSONResponse({"detail": "internal error"}, status_code=500)
        response.headers["x-keras-ecg-worker"] = str(os.getpid())  # which worker answered (--workers N)
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

    def pick_model(model):
        if model is None:
            if len(models) != 1:
                raise HTTPException(422, f"say which model: ?model= one of {', '.join(sorted(models))}")
            model = next(iter(models))
        if model not in models:
            raise HTTPException(404, f"no model {model!r}; served: {', '.join(sorted(models))}")
        return models[model]

    @app.post(f"/{API_VERSION}/predict", dependencies=[Depends(authorised)])
    async def predict(files: list[UploadFile] = File(..., description="one page image, CSV of beats, EDF file or "
                                                                        "CSV recording (with fs), or one WFDB "
                                                                        "record's .hea, .dat (and .atr) files"),
                      fs: float | None = Form(None, description="sampling rate (Hz) of a CSV recording; without "
                                                                "it a CSV is a CSV of beats"),
                      model: str | None = Query(None, description="the model's name (GET /v1/models); may be left "
                                                                   "out when one model is served")):
        served = pick_model(model)
        folder = pathlib.Path(tempfile.mkdtemp(prefix="keras-ecg-serve-"))  # mode 0700: this user only

        def job():
            try:
                up = uploads.save(files, folder, fs=fs, max_duration_s=max_duration_s)
                got = P.predict_paths(served.model, served.card, [up.path], batch_size,
                                      fs=fs if up.kind == "csv" else None)
                return [{**r, "input": up.name} if r.get("input") == str(up.path) else r for r in got]
            finally:
                shutil.rmtree(folder, ignore_errors=True)

        results = _strip_dir(await jobs.run(job, hide=(folder,)), str(folder) + "/")
        beats = sum(r.get("beats", 0) for r in results)
        metrics.inc("keras_ecg_predictions_total", len(results), model=served.name)
        if beats:
            metrics.inc("keras_ecg_beats_classified_total", beats, model=served.name)
        return {"model": served.name, "class_names": list(served.card.class_names),
                "binary": bool(served.card.binary), "results": results}

    analysis.add_routes(app, models, results, jobs, authorised, pick_model, max_duration_s, metrics)

    @app.get("/", include_in_schema=False)
    def viewer():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

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
    return create_app(served, max_upload_bytes=cfg.get("max_upload_bytes", MAX_UPLOAD_BYTES), token=token,
                      max_duration_s=cfg.get("max_duration_s", MAX_DURATION_S),
                      request_timeout_s=cfg.get("request_timeout_s"), results_ttl_s=cfg.get("results_ttl_s"),
                      cors_origins=cfg.get("cors_origins") or ())
