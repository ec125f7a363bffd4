"""The service under property-based fuzzing: no request gets a 5xx, no stream an internal error.

schemathesis generates requests (valid and invalid) from the app's own ``/openapi.json`` and sends them through
the ASGI transport; the WebSocket, which OpenAPI does not describe, gets hypothesis-made first messages and
frames. Both are bounded (a few dozen examples each, well under a minute).
"""

import json
import pathlib
import sys

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
schemathesis = pytest.importorskip("schemathesis")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

from keras_ecg.serve import app as A  # noqa: E402
from keras_ecg.serve import models as M  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import tiny_beat_model  # noqa: E402

FUZZ = settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    model = tiny_beat_model.make(tmp_path_factory.mktemp("models") / "tiny")
    return A.create_app(M.load_all([str(model.parent)], "keras"), max_upload_bytes=200_000)


def test_openapi_operations_never_answer_5xx(app):
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ops = [op.ok() for op in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in ops} >= {("GET", "/healthz"), ("GET", "/v1/models"),
                                                             ("POST", "/v1/predict")}
    calls = []
    for op in ops:
        for mode in GenerationMode:
            @FUZZ
            @given(case=op.as_strategy(generation_mode=mode))
            def run(case):
                r = case.call()
                calls.append(r.status_code)
                assert r.status_code < 500, f"{case.method} {case.path}: {r.status_code} {r.text[:200]}"

            try:
                run()
            except Unsatisfiable:  # no invalid request exists for an operation without parameters (GET /healthz)
                assert mode == GenerationMode.NEGATIVE and not op.query and not op.body
    assert len(calls) > 30 and any(400 <= c < 500 for c in calls)  # it did send bad requests
    assert TestClient(app).get("/healthz").status_code == 200


_json = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                 max_size=4), max_leaves=12)
_first = st.one_of(
    st.sampled_from([{"fs": 360, "leads": ["MLII"]}, {"fs": 250.0, "leads": ["ECG", "V1"]}]).map(json.dumps),
    _json.map(json.dumps),
    st.fixed_dictionaries({"fs": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.text(
        max_size=4), st.booleans()), "leads": st.one_of(st.lists(st.text(max_size=6), max_size=3), _json)}).map(
        json.dumps),
    st.text(max_size=30))
_frame = st.one_of(st.binary(max_size=64), st.binary(min_size=4, max_size=4).map(lambda b: b * 600), _json.map(lambda v: json.dumps({"samples": v})), _json.map(json.dumps))


@FUZZ
@given(first=_first, frames=st.lists(_frame, max_size=3))
def test_stream_never_fails_internally(app, first, frames):
    with TestClient(app).websocket_connect("/v1/stream") as ws:
        ws.send_text(first)
        reply = ws.receive_json()
        assert reply["type"] in ("ready", "error"), reply
        if reply["type"] == "ready":
            for f in frames:
                (ws.send_bytes if isinstance(f, bytes) else ws.send_text)(f)
            ws.send_text(json.dumps({"end": True}))
            while reply["type"] not in ("end", "error"):
                reply = ws.receive_json()
        if reply["type"] == "error":
            assert reply["error"] != "internal error" and "\n" not in reply["error"]
