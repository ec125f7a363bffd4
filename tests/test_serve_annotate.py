"""``/v1/annotate``, ``/v1/explain``, ``/v1/results``: the same files and answers as ``keras-ecg annotate`` /
``explain`` / ``predict`` on the same input; uploads recognised by content; limits; CORS.

The beat model is the shipped ``saved_models/mitbih_beats`` (what the viewer serves); pages use test_serve's
tiny untrained page model.
"""

import json
import pathlib
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from keras_ecg import cli  # noqa: E402
from keras_ecg.deploy import predict as P  # noqa: E402
from keras_ecg.serve import app as A  # noqa: E402
from keras_ecg.serve import models as M  # noqa: E402
from keras_ecg.serve import results as R  # noqa: E402
from keras_ecg.serve import uploads as U  # noqa: E402
from test_serve import _files, beat_model, page, page_model  # noqa: E402,F401 - fixtures shared with test_serve

BEATS = pathlib.Path(__file__).resolve().parents[1] / "saved_models" / "mitbih_beats"


@pytest.fixture(scope="module")
def shipped():
    return M.load_all([str(BEATS)])


@pytest.fixture(scope="module")
def client(shipped):
    return TestClient(A.create_app(shipped))


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    from keras_ecg.data import synthetic_wfdb

    base = tmp_path_factory.mktemp("rec") / "r1"
    synthetic_wfdb.write_record(base, minutes=1.0, seed=5)
    return base


def _hea_dat(base):
    return _files(base.with_suffix(".hea"), base.with_suffix(".dat"))


def _cli_annotate(model, inp, out, *extra):
    assert cli.main(["annotate", str(model), str(inp), "--out", str(out), *extra]) == 0
    return out


def _same_summary(got, want_path, name):
    want = json.loads(pathlib.Path(want_path).read_text())
    for d in (got, want):
        d.pop("seconds")  # stage timings
    assert got.pop("record") == name and want.pop("record")
    assert got == want


@pytest.mark.backend_free
def test_annotate_gives_the_files_and_beats_of_the_command(client, rec, tmp_path):
    r = client.post("/v1/annotate", files=_hea_dat(rec))
    assert r.status_code == 200, r.text
    body = r.json()
    out = _cli_annotate(BEATS, rec, tmp_path / "cli")
    for kind, name in (("beats_csv", "r1_beats.csv"), ("annotations", "r1.ann"), ("episodes_csv", "r1_episodes.csv"),
                       ("summary_txt", "r1_summary.txt"), ("strip_chart", "r1_strip.png")):
        got = client.get(body["files"][kind])
        assert got.status_code == 200, kind
        if kind not in ("summary_txt", "strip_chart"):  # the text and picture name the (temporary) input path
            assert got.content == (out / name).read_bytes(), kind
    assert client.get(body["files"]["strip_chart"]).content[:8] == b"\x89PNG\r\n\x1a\n"
    for kind in ("summary_txt", "header", "summary_json"):  # no private server path in any file
        assert "keras-ecg-upload" not in client.get(body["files"][kind]).text, kind
    _same_summary(body["summary"], out / "r1_summary.json", "r1")
    rows = [ln.split(",") for ln in (out / "r1_beats.csv").read_text().splitlines()[1:]]
    assert [(b["sample"], b["label"], int(b["uncertain"])) for b in body["beats"]] == [
        (int(r[1]), r[2], int(r[-1])) for r in rows]
    assert [round(b["probabilities"]["V"], 5) for b in body["beats"]] == pytest.approx([float(r[6]) for r in rows],
                                                                                        abs=1e-5)
    assert len(body["beats"]) > 50 and body["fs"] == 360.0 and body["lead"] == "MLII"
    assert len(body["id"]) >= 43 and body["expires_in_s"] == R.TTL_S
    s = client.get(body["signal"], params={"start": 1, "end": 3}).json()
    assert s["start"] == 360 and len(s["samples"]) == 720
    assert client.get(body["signal"], params={"start": 0, "end": 500}).status_code == 422
    assert client.get(body["signal"], params={"start": "inf", "end": 1}).status_code == 422


def test_annotate_csv_and_edf_and_predict_them_as_the_commands_do(client, shipped, rec, tmp_path, capsys):
    import wfdb
    from wfdb.io.convert.edf import wfdb_to_edf

    w = wfdb.rdrecord(str(rec))
    csv = tmp_path / "r2.csv"
    np.savetxt(csv, w.p_signal[:, :1], delimiter=",", header="MLII", comments="", fmt="%.5f")
    edf = tmp_path / "r3.edf"
    wfdb_to_edf(str(rec), output_filename=str(edf))
    r = client.post("/v1/annotate", files=_files(csv), data={"fs": "360"})
    assert r.status_code == 200, r.text
    out = _cli_annotate(BEATS, csv, tmp_path / "a", "--fs", "360")
    assert client.get(r.json()["files"]["beats_csv"]).content == (out / "r2_beats.csv").read_bytes()
    r = client.post("/v1/annotate", files=_files(edf))
    assert r.status_code == 200, r.text
    out = _cli_annotate(BEATS, edf, tmp_path / "b")
    assert client.get(r.json()["files"]["beats_csv"]).content == (out / "r3_beats.csv").read_bytes()
    assert r.json()["leads"] == ["MLII"]
    r = client.post("/v1/annotate", files=_files(csv))  # a CSV recording without its rate
    assert r.status_code == 422 and "fs" in r.json()["detail"]
    capsys.readouterr()
    for path, form, extra in ((csv, {"fs": "360"}, ["--fs", "360"]), (edf, {}, [])):
        r = client.post("/v1/predict", files=_files(path), data=form)
        assert r.status_code == 200, r.text
        assert cli.main(["predict", str(BEATS), str(path), "--json", *extra]) == 0
        want = json.loads(capsys.readouterr().out)["results"]
        want[0]["input"] = path.name
        got = r.json()["results"]
        assert [i["class"] for i in got[0]["items"]] == [i["class"] for i in want[0]["items"]]
        assert got[0]["beats"] == want[0]["beats"] > 50 and got[0]["beats_from"] == "detected R peaks"


def test_explain_a_page_and_beats_as_the_command_does(page_model, page, beat_model, tmp_path):
    from keras_ecg.deploy.explain_files import explain_paths

    served = M.load_all([str(page_model), str(beat_model.parent)])
    c = TestClient(A.create_app(served))
    r = c.post("/v1/explain?model=pages", files=_files(page))
    assert r.status_code == 200, r.text
    body = r.json()
    model, card = P.load(page_model)
    want = explain_paths(model, card, [page], tmp_path / "cli", log=lambda *_: None)
    assert [(e["class"], e["method"], e["uncertain"]) for e in body["items"]] == [
        (e["class"], e["method"], e["uncertain"]) for e in want]
    assert body["items"][0]["probability"] == pytest.approx(want[0]["probability"], abs=1e-6)
    att = np.load(tmp_path / "cli" / "page1_gradcam.npz")["attributions"]
    assert body["attributions"][0]["shape"] == list(att.shape)
    assert np.allclose(body["attributions"][0]["values"], att, atol=1e-4)
    png = c.get(body["attributions"][0]["picture"])
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    beats = tmp_path / "beats.csv"
    np.savetxt(beats, np.random.default_rng(4).normal(size=(3, 64)).astype(np.float32), delimiter=",")
    r = c.post("/v1/explain?model=beats", files=_files(beats), data={"method": "saliency", "max": "2"})
    assert r.status_code == 200, r.text
    assert [e["method"] for e in r.json()["items"]] == ["saliency"] * 2
    assert r.json()["attributions"][0]["shape"][:2] == [2, 64]
    r = c.post("/v1/explain?model=beats", files=_files(beats), data={"method": "gradcam"})
    assert r.status_code == 422 and "gradcam" in r.json()["detail"]


@pytest.mark.backend_free
def test_content_decides_not_the_name(client, rec, tmp_path):
    edf_as_csv = tmp_path / "x.csv"
    edf_as_csv.write_bytes(b"0       " + b" " * 176 + b"768     " + b" " * 60)
    r = client.post("/v1/annotate", files=_files(edf_as_csv), data={"fs": "360"})
    assert r.status_code == 415 and r.json()["detail"] == "x.csv: the name says .csv but the content is EDF"
    text_as_hea = tmp_path / "y.hea"
    text_as_hea.write_bytes(bytes(range(256)) * 4)
    r = client.post("/v1/annotate", files=_files(text_as_hea))
    assert r.status_code == 415 and r.json()["detail"].startswith("y.hea: not a recording or page")
    evil = tmp_path / "r1.hea"  # a header naming a signal file outside the upload
    evil.write_text(rec.with_suffix(".hea").read_text().replace("r1.dat", "../../etc/passwd"))
    r = client.post("/v1/annotate", files=_files(evil, rec.with_suffix(".dat")))
    assert r.status_code == 422 and "not a plain file name" in r.json()["detail"]
    r = client.post("/v1/annotate", files=_files(rec.with_suffix(".hea")))  # its .dat missing
    assert r.status_code == 422 and "r1.dat is not among the uploads" in r.json()["detail"]
    page = tmp_path / "p.png"
    page.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    r = client.post("/v1/annotate", files=_files(page))  # a page to the whole-recording route
    assert r.status_code == 415 and "p.png: this route takes" in r.json()["detail"]
    r = client.post("/v1/annotate", files=_hea_dat(rec), data={"fs": "fast"})
    assert r.status_code == 422 and r.json()["detail"].startswith("fs: ")
    assert client.post("/v1/annotate", files=_hea_dat(rec)).status_code == 200  # still serving


def test_sniff_knows_each_kind():
    assert U.sniff(b"\x89PNG\r\n\x1a\nxxxx") == "png" and U.sniff(b"\xff\xd8\xff\xe0") == "jpeg"
    assert U.sniff(b"100 2 360 650000\n100.dat 212 200 11 1024 995 -22131 0 MLII\n") == "wfdb"
    assert U.sniff(b"# comment\nrec 1 250\nrec.dat 16 200 16 0 0 0 0 I\n") == "wfdb"
    assert U.sniff(b"0       " + b" " * 176 + b"512     ") == "edf"
    assert U.sniff(b"MLII,V1\n0.1,0.2\n0.3,0.4\n") == "csv" and U.sniff(b"0.1\n0.25\n-0.3\n") == "csv"
    assert U.sniff(b"\0\1\2\3garbage") is None and U.sniff(b"hello world") is None


def test_duration_limit_reads_the_header(shipped, rec, tmp_path):
    c = TestClient(A.create_app(shipped, max_duration_s=30.0))
    r = c.post("/v1/annotate", files=_hea_dat(rec))  # a 1-minute record over a 30 s limit
    assert r.status_code == 413 and r.json()["detail"] == "r1: 0.02 h of recording, over the limit of 0.00833333 h"
    assert c.get("/healthz").status_code == 200


@pytest.mark.backend_free
def test_a_request_over_its_time_limit_is_504_and_the_service_goes_on(shipped, rec):
    app = A.create_app(shipped, request_timeout_s=0.05)
    c = TestClient(app)
    r = c.post("/v1/annotate", files=_hea_dat(rec))  # annotating a minute takes far more than 50 ms
    assert r.status_code == 504 and "over 0.05 s" in r.json()["detail"]
    assert c.get("/healthz").status_code == 200
    with app.state.jobs.lock:  # the abandoned job has finished; now hold the worker busy ourselves
        t0 = time.monotonic()
        r = c.post("/v1/predict", files=_hea_dat(rec))
        assert r.status_code == 503 and r.headers["retry-after"] == "5" and time.monotonic() - t0 < 5
    app.state.jobs.timeout_s = 300
    assert c.post("/v1/predict", files=_hea_dat(rec)).status_code == 200


def test_cors_is_off_unless_an_origin_is_given(shipped):
    ask = {"Origin": "https://viewer.example.org", "Access-Control-Request-Method": "POST"}
    off = TestClient(A.create_app(shipped)).options("/v1/annotate", headers=ask)
    assert "access-control-allow-origin" not in off.headers
    on = TestClient(A.create_app(shipped, cors_origins=["https://viewer.example.org"])).options("/v1/annotate",
                                                                                                headers=ask)
    assert on.headers["access-control-allow-origin"] == "https://viewer.example.org"
    other = TestClient(A.create_app(shipped, cors_origins=["https://viewer.example.org"])).get(
        "/healthz", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in other.headers


def test_results_expire_are_bounded_and_go_with_the_service(tmp_path):
    now = [0.0]
    store = R.Results(ttl_s=10, max_entries=2, clock=lambda: now[0])
    try:
        ids = []
        for k in range(3):
            rid, folder = store.new_folder()
            (folder / "a.txt").write_text(str(k))
            store.keep(rid, folder, {"a.txt": folder / "a.txt"})
            ids.append(rid)
        assert len(set(ids)) == 3 and all(len(i) == 43 for i in ids)
        assert store.get(ids[0], "a.txt") is None and not (store.root / ids[0]).exists()  # the oldest went
        assert store.get(ids[2], "a.txt").read_text() == "2"
        assert store.get(ids[2], "../" + ids[1] + "/a.txt") is None and store.get("nope", "a.txt") is None
        now[0] = 10.5
        assert store.get(ids[2], "a.txt") is None and not (store.root / ids[2]).exists()  # expired
    finally:
        store.close()
    assert not store.root.exists()


@pytest.mark.backend_free
def test_results_are_404_after_their_time(shipped, rec):
    app = A.create_app(shipped, results_ttl_s=0.3)
    with TestClient(app) as c:
        body = c.post("/v1/annotate", files=_hea_dat(rec)).json()
        assert c.get(body["files"]["beats_csv"]).status_code == 200
        time.sleep(0.5)
        assert c.get(body["files"]["beats_csv"]).status_code == 404
        root = app.state.results.root
        assert root.exists()
    assert not root.exists()  # the shutdown removed every result


def test_the_viewer_files_need_no_token_the_data_does(shipped):
    c = TestClient(A.create_app(shipped, token="s3cret"))
    assert c.get("/").status_code == 200 and c.get("/static/viewer.css").status_code == 200
    assert c.get("/v1/demo/record").status_code == 401 and c.get("/v1/results/x/y").status_code == 401


def test_viewer_and_demo_record_are_served(client):
    r = client.get("/")
    assert r.status_code == 200 and "keras-ecg viewer" in r.text and 'src="/static/viewer.js"' in r.text
    js = client.get("/static/viewer.js").text
    assert "beat-label" in js and "http://" not in js.replace("http://www.w3.org/2000/svg", "")
    demo = client.get("/v1/demo/record").json()
    assert demo["fs"] == 360.0 and len(demo["samples"]) == 120 * 360 and demo["leads"] == ["MLII"]
    assert {b["label"] for b in demo["reference"]} <= {"N", "S", "V", "F", "Q"}


def test_concurrent_requests_all_answer(client, rec):
    out = []

    def one():
        out.append(client.post("/v1/predict", files=_hea_dat(rec)).status_code)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [200, 200, 200]


@pytest.mark.backend_free
def test_recordings_read_by_content_through_the_service_as_the_commands_read_them(client, rec, tmp_path):
    """An ISHNE Holter and a DICOM waveform upload are annotated as `keras-ecg annotate` annotates them; their
    patient fields never reach an answer or a served file; a name claiming another format is a 415."""
    import datetime

    from keras_ecg.data import wfdb_io
    from keras_ecg.data.formats import dicom, ishne

    w = wfdb_io.load_record(rec, annotations=None)
    one = wfdb_io.Record("r", w.signal[:, :1], w.fs, ["II"])
    secret = {"first_name": "JANE", "last_name": "DOE", "name": "DOE^JANE", "id": "MRN-777123", "sex": "F",
              "birth_date": datetime.date(1951, 3, 17)}
    made = {"holter.ecg": ishne.write(tmp_path / "holter.ecg", one, identifiers=secret),
            "ecg.dcm": dicom.write(tmp_path / "ecg.dcm", one, identifiers={**secret, "birth_date": "19510317"})}
    for name, path in made.items():
        r = client.post("/v1/annotate", files=_files(path))
        assert r.status_code == 200, (name, r.text)
        body = r.json()
        assert body["input"] == name, body.get("input")
        out = _cli_annotate(BEATS, path, tmp_path / f"cli_{path.stem}")
        assert client.get(body["files"]["beats_csv"]).content == (out / f"{path.stem}_beats.csv").read_bytes()
        served = r.text + "".join(client.get(u).text for k, u in body["files"].items() if k != "strip_chart")
        for s in ("DOE", "JANE", "MRN-777123", "1951"):
            assert s not in served, (name, s)
        p = client.post("/v1/predict", files=_files(path))
        assert p.status_code == 200 and p.json()["results"][0]["beats"] > 50, p.text
    wrong = tmp_path / "holter.dcm"  # ISHNE content named as DICOM
    wrong.write_bytes(made["holter.ecg"].read_bytes())
    r = client.post("/v1/annotate", files=_files(wrong))
    assert r.status_code == 415 and "holter.dcm" in r.json()["detail"] and "ISHNE" in r.json()["detail"]
    assert client.get("/healthz").status_code == 200
