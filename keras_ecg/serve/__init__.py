"""``keras-ecg serve``: the saved models over HTTP (FastAPI on uvicorn).

    keras-ecg serve MODEL... [--host 127.0.0.1] [--port 8000] [--workers N] [--token-file F]

:mod:`.models` loads each model once per worker, :mod:`.app` builds the FastAPI app (``/healthz``,
``/v1/models``, ``/v1/predict``, ``/metrics``, the OpenAPI description at ``/openapi.json``),
:mod:`.metrics` counts requests in the Prometheus text format, :mod:`.command` is the subcommand.
Every prediction is :func:`keras_ecg.deploy.predict.predict_paths` on the uploaded files, the function
``keras-ecg predict`` calls, so both give the same answer on the same input.
"""
