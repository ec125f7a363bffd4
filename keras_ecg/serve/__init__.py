"""``keras-ecg serve``: the saved models over HTTP (FastAPI on uvicorn).

    keras-ecg serve MODEL... [--host 127.0.0.1] [--port 8000] [--workers N] [--token-file F]

:mod:`.models` loads each model once per worker, :mod:`.app` builds the FastAPI app (``/healthz``,
``/v1/models``, ``/v1/predict``, ``/metrics``, the OpenAPI description at ``/openapi.json``, the viewer at ``/``
from ``static/``), :mod:`.analysis` adds ``/v1/annotate``, ``/v1/explain``, ``/v1/results`` and the demo record,
:mod:`.uploads` recognises uploads by content, :mod:`.results` keeps answers' files for a bounded time,
:mod:`.jobs` runs heavy requests one at a time within a time limit, :mod:`.metrics` counts requests in the
Prometheus text format, :mod:`.command` is the subcommand. The guide: docs/guide/serving.md.
Every prediction is :func:`keras_ecg.deploy.predict.predict_paths` on the uploaded files, the function
``keras-ecg predict`` calls, so both give the same answer on the same input.
"""
