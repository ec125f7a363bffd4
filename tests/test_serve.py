"""``keras-ecg serve``: the FastAPI app answers as ``keras-ecg predict`` does, counts requests, refuses bad input.

Tiny untrained models (the point is the service around them), exported with their real model cards.
"""

import json

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from keras_ecg import cli  # noqa: E402
from keras_ecg.deploy import predict as P  # noqa: E402
from keras_ecg.serve import app as A  # noqa: E402
from keras_ecg.serve import models as M  # noqa: E402

WINDOW, FS = 64, 125


def _export(model, out, card):
    from keras_ecg import export

    export(model, out, formats=("keras",), card=card)
    return out / "model.keras"


@pytest.fixture(scope="module")
def beat_model(tmp_path_factory):
    from keras_ecg import registry

    out = tmp_path_factory.mktemp("models") / "beats"
    model = registry.build("cnn1d", (WINDOW, 1), 5, filters=(4,), dense_units=(4,))
    card = {"class_names": ["N", "S", "V", "F", "Q"], "binary": False, "input_kind": "waveform", "model": "cnn1d",
            "model_args": {"filters": [4], "dense_units": [4]}, "metrics": {"accuracy": 0.5},
            "preprocessing": {"fs": FS, "before": WINDOW // 2, "after": WINDOW - WINDOW // 2, "leads": ["MLII"],
                              "normalize": "zscore"}}
    return _export(model, out, card)


@pytest.fixture(scope="module")
def page_model(tmp_path_factory):
    from keras_ecg import registry

    out = tmp_path_factory.mktemp("models") / "pages"
    model = registry.build("cnn2d", (32, 32, 3), 2, filters=(4, 4), dense_units=(4,), binary=True)
    card = {"class_names": ["normal", "risky"], "binary": True, "input_kind": "image",
            "preprocessing": {"preprocess": "page", "image_size": 32}}
    return _export(model, out, card)


@pytest.fixture(scope="module")
def served(beat_model, page_model):
    return M.load_all([str(beat_model.parent), str(page_model)])


@pytest.fixture()
def client(served):
    return TestClient(A.create_app(served, max_upload_bytes=2_000_000))


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    from keras_ecg.data import synthetic_wfdb

    base = tmp_path_factory.mktemp("rec") / "rec7"
    synthetic_wfdb.write_record(base, minutes=0.3, seed=3)
    return base


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from PIL import Image

    from keras_ecg.data.images import synthetic_pages

    path = tmp_path_factory.mktemp("page") / "page1.png"
    Image.fromarray(synthetic_pages.render_page("normal", seed=2, width=400, height=284)).save(path)
    return path


def _files(*paths):
    return [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]


def _record_files(base):
    return _files(*(base.with_suffix(s) for s in (".hea", ".dat", ".atr")))


def test_models_lists_each_card(client):
    r = client.get("/v1/models")
    assert r.status_code == 200
    got = {m["name"]: m for m in r.json()["models"]}
    assert set(got) == {"beats", "pages"}
    assert got["beats"]["class_names"] == ["N", "S", "V", "F", "Q"] and got["beats"]["input_kind"] == "waveform"
    assert got["beats"]["metrics"] == {"accuracy": 0.5} and got["beats"]["bundle"] is False
    assert got["beats"]["runtime"].startswith("keras/")
    assert got["pages"]["binary"] is True and got["pages"]["input_kind"] == "image"
    assert got["pages"]["calibration"] is None
    assert client.get("/healthz").json() == {"status": "ok", "models": ["beats", "pages"]}
    assert "/v1/predict" in client.get("/openapi.json").json()["paths"]


def test_record_prediction_equals_predict_paths(client, served, beat_model, record):
    r = client.post("/v1/predict?model=beats", files=_record_files(record))
    assert r.status_code == 200, r.text
    body = r.json()
    model, card = P.load(beat_model)  # what `keras-ecg predict` loads
    want = P.predict_paths(model, card, [record])
    want[0]["input"] = "rec7"
    assert body["model"] == "beats" and body["class_names"] == card.class_names
    assert body["results"] == json.loads(json.dumps(want))  # classes, probabilities, uncertain flags, rhythm
    assert body["results"][0]["beats"] > 5 and body["results"][0]["beats_from"]


def test_page_prediction_equals_the_command_line(client, page_model, page, capsys):
    r = client.post("/v1/predict", params={"model": "pages"}, files=_files(page))
    assert r.status_code == 200, r.text
    assert cli.main(["predict", str(page_model), str(page), "--json"]) == 0
    want = json.loads(capsys.readouterr().out)
    want["results"][0]["input"] = "page1.png"
    assert r.json()["results"] == want["results"]
    assert r.json()["results"][0]["class"] in ("normal", "risky") and "risk" in r.json()["results"][0]


def test_bad_requests_are_4xx_and_the_service_goes_on(client, record, tmp_path):
    r = client.post("/v1/predict?model=nope", files=_record_files(record))
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    bad = tmp_path / "junk.png"
    bad.write_bytes(b"not an image at all")
    r = client.post("/v1/predict?model=pages", files=_files(bad))  # text that is no page, record or CSV
    assert r.status_code == 415 and r.json()["detail"].startswith("junk.png: not a recording or page")
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a PNG signature on a broken file: the reader refuses it
    r = client.post("/v1/predict?model=pages", files=_files(bad))
    assert r.status_code == 422
    assert "\n" not in r.json()["detail"] and str(tmp_path) not in r.json()["detail"]
    r = client.post("/v1/predict?model=beats", files=_files(record.with_suffix(".dat")))  # no .hea
    assert r.status_code == 422 and ".hea" in r.json()["detail"]
    r = client.post("/v1/predict?model=beats", files=[("files", ("x.bin", b"\0" * 3_000_000, "x/y"))])
    assert r.status_code == 413

    def chunked():  # no Content-Length: counted as it arrives
        yield b'--xx\r\nContent-Disposition: form-data; name="files"; filename="a.csv"\r\n\r\n'
        for _ in range(30):
            yield b"1," * 50_000
        yield b"\r\n--xx--\r\n"

    r = client.post("/v1/predict?model=beats", content=chunked(),
                    headers={"content-type": "multipart/form-data; boundary=xx"})
    assert r.status_code == 413 and "over 2000000 bytes" in r.json()["detail"]
    r = client.post("/v1/predict", files=_record_files(record))  # two models served: which one?
    assert r.status_code == 422 and "model" in r.json()["detail"]
    r = client.post("/v1/predict?model=beats", files=_record_files(record))  # still serving
    assert r.status_code == 200 and r.json()["results"][0]["type"] == "record"


def test_metrics_count_requests_and_beats(client, record):
    client.get("/healthz")
    r = client.post("/v1/predict?model=beats", files=_record_files(record))
    beats = r.json()["results"][0]["beats"]
    client.post("/v1/predict?model=nope", files=_record_files(record))
    text = client.get("/metrics").text
    assert 'keras_ecg_requests_total{method="GET",path="/healthz",status="200"} 1' in text
    assert 'keras_ecg_requests_total{method="POST",path="/v1/predict",status="200"} 1' in text
    assert 'keras_ecg_requests_total{method="POST",path="/v1/predict",status="404"} 1' in text
    assert f'keras_ecg_beats_classified_total{{model="beats"}} {beats}' in text
    assert 'keras_ecg_errors_total{kind="404"} 1' in text
    assert 'keras_ecg_request_seconds_count{path="/v1/predict"} 2' in text


def test_token_is_required_when_configured(served, record):
    c = TestClient(A.create_app(served, token="s3cret"))
    assert c.get("/healthz").status_code == 200
    assert c.get("/v1/models").status_code == 401
    assert c.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.post("/v1/predict?model=beats", files=_record_files(record)).status_code == 401
    ok = c.get("/v1/models", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and len(ok.json()["models"]) == 2


def test_serve_flags_default_to_this_machine_only(tmp_path):
    from keras_ecg.serve import command

    args = command.parse(["m.keras"])
    assert (args.host, args.port, args.workers, args.token_file) == ("127.0.0.1", 8000, 1, None)
    with pytest.raises(SystemExit, match="token-file"):
        command.parse(["m.keras", "--token-file", str(tmp_path / "missing")])
    assert "serve" in cli.COMMANDS


def test_two_models_with_one_name_are_refused(beat_model):
    from keras_ecg.errors import DataError

    with pytest.raises(DataError, match="second model named 'beats'"):
        M.load_all([str(beat_model), str(beat_model.parent)])


def test_onnx_twin_is_served_and_agrees_with_predict(record):
    """A card with an ONNX file runs in onnxruntime: the same classes and uncertainty flags as ``keras-ecg
    predict`` (Keras), probabilities within float rounding; ``--runtime keras`` gives them to the last bit."""
    import pathlib

    pytest.importorskip("onnxruntime")
    folder = pathlib.Path(__file__).resolve().parents[1] / "saved_models" / "mitbih_beats"
    served = M.load_all([str(folder)])
    assert served["mitbih_beats"].runtime == "onnxruntime"
    r = TestClient(A.create_app(served)).post("/v1/predict", files=_record_files(record))  # one model: no ?model=
    assert r.status_code == 200, r.text
    got = r.json()["results"][0]
    model, card = P.load(folder)
    want = P.predict_paths(model, card, [record])[0]
    assert [i["class"] for i in got["items"]] == [i["class"] for i in want["items"]]
    assert [i["uncertain"] for i in got["items"]] == [i["uncertain"] for i in want["items"]]
    for a, b in zip(got["items"], want["items"]):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)
    keras_served = M.load_all([str(folder)], runtime="keras")
    r = TestClient(A.create_app(keras_served)).post("/v1/predict", files=_record_files(record))
    want["input"] = "rec7"
    assert r.json()["results"][0] == json.loads(json.dumps(want))


@pytest.mark.backend_free
def test_the_command_serves_on_this_machine(tmp_path):
    """``keras-ecg serve`` itself: listens on 127.0.0.1, loads the model, answers /healthz and /v1/models."""
    import os
    import pathlib
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = pathlib.Path(__file__).resolve().parents[1] / "saved_models" / "mitbih_beats"
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder.parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from keras_ecg import cli; sys.exit(cli.main())",
                             "serve", str(folder), "--port", str(port), "--token-file", str(token)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, health = time.time() + 120, None
        while time.time() < deadline and proc.poll() is None:
            try:
                health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read())
                break
            except OSError:
                time.sleep(0.5)
        assert health == {"status": "ok", "models": ["mitbih_beats"]}, proc.poll()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": "Bearer t0ken"})
        assert json.loads(urllib.request.urlopen(req, timeout=10).read())["models"][0]["runtime"] == "onnxruntime"
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_csv_of_beats_equals_predict_paths_and_a_wrong_kind_is_422(client, beat_model, page, tmp_path):
    path = tmp_path / "beats.csv"
    np.savetxt(path, np.random.default_rng(4).normal(size=(3, WINDOW)).astype(np.float32), delimiter=",")
    r = client.post("/v1/predict?model=beats", files=_files(path))
    assert r.status_code == 200, r.text
    model, card = P.load(beat_model)
    want = P.predict_paths(model, card, [path])
    want[0]["input"] = "beats.csv"
    assert r.json()["results"] == json.loads(json.dumps(want)) and r.json()["results"][0]["beats"] == 3
    r = client.post("/v1/predict?model=beats", files=_files(page))  # a page to a beat model
    assert r.status_code == 422 and "waveform" in r.json()["detail"] and str(page.parent) not in r.json()["detail"]
