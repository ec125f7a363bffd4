"""``keras-ecg serve MODEL... [--host 127.0.0.1] [--port 8000] [--workers N] [--token-file F]``: flags only.

uvicorn runs :func:`keras_ecg.serve.app.app_from_env` in each worker (``--workers`` processes), so each worker
loads the models once; inside a worker one prediction runs at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib

from keras_ecg.backend import BACKENDS


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise SystemExit(f"{self.prog}: error: {message}")


def parse(argv):
    p = _Parser(prog="keras-ecg serve", description="Serve models over HTTP (FastAPI on uvicorn): /v1/models, "
                "/v1/predict, /healthz, /metrics, /docs.")
    p.add_argument("models", nargs="+", metavar="MODEL", help="a .keras file or its folder, a bundle folder, or "
                   "pretrained:NAME; requests name it by its folder's (or pretrained) name")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="worker processes, each with its own copy of the models")
    p.add_argument("--token-file", default=None, help="a file holding a bearer token every request but /healthz "
                   "must give (Authorization: Bearer TOKEN)")
    p.add_argument("--max-upload-mb", type=float, default=512.0, help="largest request body (413 above it; the "
                   "default takes a 24-hour 2-lead 360 Hz recording as WFDB, EDF or CSV)")
    p.add_argument("--max-hours", type=float, default=25.0, help="longest recording taken (413 above it)")
    p.add_argument("--request-timeout", type=float, default=300.0, help="seconds a predict/annotate/explain request "
                   "may take, waiting for its turn included (504 above it; the service goes on)")
    p.add_argument("--results-ttl", type=float, default=3600.0, help="seconds an answer's files stay downloadable "
                   "at /v1/results/ID/FILE")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN", help="let pages of this origin "
                   "(e.g. https://viewer.example.org) call the API from a browser; repeatable; default: CORS off")
    p.add_argument("--runtime", choices=("auto", "onnx", "keras"), default="auto",
                   help="auto: the card's ONNX file in onnxruntime when both exist (probabilities within float "
                        "rounding of keras-ecg predict's), else Keras; keras: exactly keras-ecg predict's outputs")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="Keras backend (default: $KERAS_BACKEND or jax)")
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error(f"--workers {args.workers} must be >= 1")
    for flag in ("max_upload_mb", "max_hours", "request_timeout", "results_ttl"):
        if not args.__dict__[flag] > 0:
            p.error(f"--{flag.replace('_', '-')} {args.__dict__[flag]:g} must be > 0")
    if args.token_file is not None:
        tf = pathlib.Path(args.token_file)
        if not tf.is_file() or not tf.read_text().strip():
            p.error(f"--token-file {tf}: no such file, or it is empty")
    return args


def serve(argv) -> int:
    args = parse(argv)
    try:
        import uvicorn
    except ImportError:
        raise SystemExit("keras-ecg serve: error: FastAPI and uvicorn are not installed "
                         "(pip install keras-ecg[serve])") from None
    from keras_ecg.serve import app as A
    from keras_ecg.serve import models as M

    os.environ["KERAS_ECG_SERVE"] = json.dumps({
        "models": args.models, "backend": args.backend, "runtime": args.runtime,
        "max_upload_bytes": int(args.max_upload_mb * 2**20), "max_duration_s": args.max_hours * 3600.0,
        "request_timeout_s": args.request_timeout, "results_ttl_s": args.results_ttl,
        "cors_origins": args.cors_origin,
        "token_file": str(pathlib.Path(args.token_file).resolve()) if args.token_file else None})
    if args.workers == 1:  # load here, so a bad MODEL is one line before anything listens
        app = A.app_from_env()
        print(f"keras-ecg serve: {', '.join(app.state.models)} on http://{args.host}:{args.port} (docs: /docs)",
              flush=True)
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    else:
        for m in args.models:  # fail early on a wrong MODEL; the workers load it again
            M.name_of(m)
        uvicorn.run("keras_ecg.serve.app:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level="info")
    return 0
