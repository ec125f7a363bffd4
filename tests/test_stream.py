"""``/v1/stream``: beats streamed in pieces of any size agree with ``keras-ecg annotate`` on the whole record.

The model is small and untrained (the point is that both paths hand it the same inputs), with RR features,
template channels and a rate (125 Hz) the 360 Hz record is resampled to: every part of annotate's beat path.
"""

import asyncio
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from keras_ecg.data import signal_files, synthetic_wfdb  # noqa: E402
from keras_ecg.data.signal import match_pairs  # noqa: E402
from keras_ecg.deploy import annotate as AN  # noqa: E402
from keras_ecg.deploy import live, live_rhythm, record_rhythm, rhythm_files  # noqa: E402
from keras_ecg.deploy import runtime as R  # noqa: E402
from keras_ecg.serve import app as A  # noqa: E402
from keras_ecg.serve import heavy as H  # noqa: E402
from keras_ecg.serve import models as M  # noqa: E402

AGREEMENT = 0.995  # the bar: streamed beats that agree with annotate's (position and label)
TOLERANCE = 3  # samples


@pytest.fixture(scope="module")
def beat_model(tmp_path_factory):
    import keras

    from keras_ecg import export, registry
    from keras_ecg.data import beats, synthetic

    spec = beats.BeatSpec(fs=125.0, leads=("MLII",), rr=True, template_beats=4)
    keras.utils.set_random_seed(1)
    model = registry.build("cnn1d", spec.input_shape, 5, filters=(4,), dense_units=(8,), rr_features=8)
    card = {"class_names": list(synthetic.CLASSES), "binary": False, "input_kind": "waveform", "model": "cnn1d",
            "model_args": {"filters": [4], "dense_units": [8], "rr_features": 8}, "preprocessing": spec.to_card(),
            "training_data": {"source": "none (untrained)", "synthetic": True, "split": "none"}}
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(4, *spec.input_shape)).astype(np.float32), rng.normal(size=(4, 8)).astype(np.float32)]
    out = tmp_path_factory.mktemp("models") / "beats"
    export(model, out, formats=("keras",), sample_inputs=x, card=card)
    return out / "model.keras"


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    base = tmp_path_factory.mktemp("rec") / "synth"
    synthetic_wfdb.write_record(base, minutes=3, seed=5)
    return base


@pytest.fixture(scope="module")
def reference(beat_model, record):
    """annotate's beats of the whole record: (samples, classes)."""
    a = AN.annotate(R.load(str(beat_model), "keras"), record)
    assert len(a.samples) > 150
    return np.asarray(a.samples), list(a.classes)


@pytest.fixture(scope="module")
def client(beat_model):
    served = M.load_all([str(beat_model.parent)], "keras")
    return TestClient(A.create_app(served))


def agreement(reference, samples, labels) -> float:
    """Share of beats (of the larger count) at the same position (within TOLERANCE) with the same label."""
    ref_s, ref_c = reference
    ri, di = match_pairs(ref_s, np.asarray(samples), TOLERANCE)
    same = sum(ref_c[i] == labels[j] for i, j in zip(ri, di))
    return same / max(len(ref_s), len(samples))


def stream(client, signal, fs, leads, chunk, text=False, url="/v1/stream"):
    """Every message the server sends for ``signal`` streamed ``chunk`` samples at a time."""
    with client.websocket_connect(url) as ws:
        ws.send_text(json.dumps({"fs": fs, "leads": leads}))
        msgs = [ws.receive_json()]
        assert msgs[0]["type"] == "ready", msgs[0]
        x = np.asarray(signal, dtype="<f4")
        for i in range(0, len(x), chunk):
            if text:
                ws.send_text(json.dumps({"samples": x[i:i + chunk].tolist()}))
            else:
                ws.send_bytes(x[i:i + chunk].tobytes())
        ws.send_text(json.dumps({"end": True}))
        while msgs[-1]["type"] not in ("end", "error"):
            msgs.append(ws.receive_json())
    return msgs


def live_beats(clf, rec, chunk):
    """``(samples, labels, seconds from R peak to decision)`` of LiveBeats fed ``chunk`` samples at a time."""
    lv = live.LiveBeats(clf.card, rec.fs, rec.leads)
    samples, labels, delays = [], [], []

    def take(p):
        if p is not None:
            samples.extend(p.samples.tolist())
            labels.extend(AN.beat_classes(clf(p.inputs), clf.card)[1])
            assert (p.decided_at >= p.samples).all() and p.decided_at < lv.n
            delays.extend(((p.decided_at - p.samples) / rec.fs).tolist())

    for i in range(0, len(rec.signal), chunk):
        take(lv.feed(rec.signal[i:i + chunk])[0])
    take(lv.end()[0])
    return samples, labels, np.asarray(delays)


def test_live_beats_piece_by_piece_agree_with_annotate(beat_model, record, reference):
    """One sample at a time, without the service: the transport-free core."""
    clf = R.load(str(beat_model), "keras")
    rec = signal_files.read(record, annotations=None)
    samples, labels, delays = live_beats(clf, rec, 1)
    assert agreement(reference, samples, labels) >= AGREEMENT
    assert np.median(delays) < 0.8 * 2 + live.LOOKAHEAD_S + live.STEP_S  # RR (< 1.6 s here) + look-ahead + step


@pytest.mark.parametrize("chunk,text", [(37, False), (1000, False), (997, True)])
def test_stream_agrees_with_annotate(client, record, reference, chunk, text):
    rec = signal_files.read(record, annotations=None)
    msgs = stream(client, rec.signal, rec.fs, rec.leads, chunk, text)
    beats = [m for m in msgs if m["type"] == "beat"]
    assert msgs[-1]["type"] == "end" and msgs[-1]["beats"] == len(beats)
    assert agreement(reference, [b["sample"] for b in beats], [b["label"] for b in beats]) >= AGREEMENT
    b = beats[len(beats) // 2]
    assert set(b["probabilities"]) == {"N", "S", "V", "F", "Q"} and abs(sum(b["probabilities"].values()) - 1) < 1e-3
    assert b["time"] == pytest.approx(b["sample"] / rec.fs, abs=1e-3) and b["decided_at"] > b["sample"]
    assert [m["label"] for m in msgs if m["type"] == "rhythm"][:1] == ["(N"]
    summ = msgs[-1]["summary"]
    assert summ["beats"] == len(beats) and summ["signal_quality"]["analysable_fraction"] == 1.0


def test_stream_of_another_rate_and_lead_name_agrees(client, beat_model, tmp_path):
    """A 250 Hz record whose lead is named 'ECG' (the lead policy's generic name), streamed as annotate reads it."""
    base = tmp_path / "r250"
    synthetic_wfdb.write_record(base, minutes=1.5, fs=250.0, seed=9, leads=("ECG",))
    a = AN.annotate(R.load(str(beat_model), "keras"), base)
    rec = signal_files.read(base, annotations=None)
    msgs = stream(client, rec.signal, 250.0, ["ECG"], 101)
    beats = [m for m in msgs if m["type"] == "beat"]
    assert msgs[0]["lead"] == "ECG" and msgs[0]["model_fs"] == 125.0
    assert agreement((np.asarray(a.samples), list(a.classes)), [b["sample"] for b in beats],
                     [b["label"] for b in beats]) >= AGREEMENT


def test_flat_segment_is_reported_unreadable(client, record):
    rec = signal_files.read(record, annotations=None)
    x = rec.signal[: int(60 * rec.fs)].copy()
    x[int(20 * rec.fs):int(30 * rec.fs)] = 0.0  # segment 2 (20-30 s): a lead off
    msgs = stream(client, x, rec.fs, rec.leads, 500)
    bad = [m for m in msgs if m["type"] == "unreadable"]
    assert [(m["start"], m["reason"]) for m in bad] == [(int(20 * rec.fs), "flat")]
    assert msgs[-1]["summary"]["signal_quality"]["unreadable_segments"]["flat"] == 1


def _refused(client, url, first=None, frames=(), code=1003):
    with client.websocket_connect(url) as ws:
        if first is not None:
            ws.send_text(first if isinstance(first, str) else json.dumps(first))
            reply = ws.receive_json()
            if reply["type"] == "ready":
                for f in frames:
                    (ws.send_bytes if isinstance(f, bytes) else ws.send_text)(f)
                reply = ws.receive_json()
                while reply["type"] not in ("error", "end"):
                    reply = ws.receive_json()
        else:
            reply = ws.receive_json()
        assert reply["type"] == "error" and "\n" not in reply["error"], reply
        with pytest.raises(WebSocketDisconnect) as e:
            ws.receive_json()
        assert e.value.code == code
        return reply["error"]


def test_bad_input_gets_one_line_and_a_close(client):
    ok = {"fs": 360, "leads": ["MLII"]}
    assert "JSON" in _refused(client, "/v1/stream", "not json")
    assert "fs" in _refused(client, "/v1/stream", {"leads": ["MLII"]})
    assert "outside the range" in _refused(client, "/v1/stream", {"fs": 20, "leads": ["MLII"]})
    assert "no lead 'MLII'" in _refused(client, "/v1/stream", {"fs": 360, "leads": ["V5"]})
    assert "7 bytes" in _refused(client, "/v1/stream", ok, [b"\0" * 7])
    nan = np.array([0.1, np.nan, 0.2], dtype="<f4").tobytes()
    assert "at sample 6" in _refused(client, "/v1/stream", ok, [np.zeros(5, "<f4").tobytes(), nan])
    assert "rows of 1" in _refused(client, "/v1/stream", ok, [json.dumps({"samples": [[1, 2], [3, 4]]})])
    assert "end" in _refused(client, "/v1/stream", ok, [json.dumps({"stop": 1})])
    assert "no model 'nope'" in _refused(client, "/v1/stream?model=nope", code=1008)
    assert client.get("/healthz").status_code == 200  # the service goes on


def test_token_is_required_when_set(beat_model, record):
    served = M.load_all([str(beat_model.parent)], "keras")
    c = TestClient(A.create_app(served, token="s3cret"))
    assert "token" in _refused(c, "/v1/stream", code=1008)
    assert "token" in _refused(c, "/v1/stream?token=wrong", code=1008)
    rec = signal_files.read(record, annotations=None)
    x = rec.signal[: int(20 * rec.fs)]
    assert stream(c, x, rec.fs, rec.leads, 400, url="/v1/stream?token=s3cret")[-1]["type"] == "end"
    with c.websocket_connect("/v1/stream", headers={"Authorization": "Bearer s3cret"}) as ws:
        ws.send_text(json.dumps({"fs": 360, "leads": ["MLII"]}))
        assert ws.receive_json()["type"] == "ready"


def test_heavy_queue_batches_jobs_and_runs_one_call_at_a_time():
    lock = threading.Lock()
    q = H.HeavyQueue(lock)
    running, seen, sizes = [0], [0], []

    def classify(inputs):
        running[0] += 1
        seen[0] = max(seen[0], running[0])
        time.sleep(0.01)
        running[0] -= 1
        sizes.append(len(inputs[0]))
        return inputs[0] * 2.0

    async def one(k):
        x = np.full((k % 3 + 1, 1), float(k))
        return await q.beats("m", classify, lambda: (k, [x]), lambda meta, out: (meta, out))

    async def main():
        with lock:  # another heavy job (a /v1/predict) holds the lock: every stream job waits, then goes in one call
            tasks = [asyncio.ensure_future(one(k)) for k in range(20)]
            await asyncio.sleep(0.2)
            assert not any(t.done() for t in tasks)
        return await asyncio.gather(*tasks)

    got = asyncio.run(main())
    for k, (meta, out) in enumerate(got):
        assert meta == k and out.shape == (k % 3 + 1, 1) and (out == 2.0 * k).all()  # each job its own rows
    assert seen[0] == 1 and max(sizes) > 3 and q.calls == len(sizes) < 20
    assert q.call(lambda a, b=0: a + b, 2, b=3) == 5  # a synchronous caller's work (/v1/predict), in the same thread
    assert q.call(threading.current_thread).name == "keras-ecg-heavy"
    with pytest.raises(ZeroDivisionError):
        q.call(lambda: 1 / 0)


@pytest.mark.parametrize("burst", [1, 97])
def test_rhythm_changes_as_they_come_match_the_whole_record(burst):
    """An irregular (AF-like) stretch between two regular ones: the changes the stream announces beat by beat are
    the ones annotate's files hold for the whole record."""
    rng = np.random.default_rng(0)
    rr = np.concatenate([np.full(90, 0.8), rng.uniform(0.4, 1.2, 200), np.full(90, 0.8)])
    fs = 360.0
    samples = np.round(np.cumsum(rr) * fs).astype(np.int64)
    probs = np.tile([0.9, 0.05, 0.03, 0.01, 0.01], (len(samples), 1))

    class Card:
        class_names = ["N", "S", "V", "F", "Q"]
        binary = False
        calibration = None

        def rhythm_config(self):
            from keras_ecg.rhythm import RhythmConfig

            return RhythmConfig()

    card = Card()
    r, _ = record_rhythm.analyze(samples / fs, probs, card)
    whole = rhythm_files.changes(samples, rhythm_files.beat_rhythms(samples / fs, r.classes, r.episodes))
    assert [lab for _, lab in whole] == ["(N", "(AFIB", "(N"]
    lr = live_rhythm.LiveRhythm(card, fs)
    got = []
    for i in range(0, len(samples), burst):
        got += lr.add(samples[i:i + burst], probs[i:i + burst])
    during = list(got)
    got += lr.end()[0]
    assert [lab for _, lab in got] == [lab for _, lab in whole]
    assert len(during) >= 2  # the AF onset was announced before the end
    for (s1, _), (s2, _) in zip(got, whole):
        assert abs(s1 - s2) <= 2 * fs  # within about two beats


@pytest.mark.backend_free
def test_benchmark_streams_through_a_real_uvicorn_server(tmp_path):
    """benchmarks/stream_latency.py in a tiny mode: uvicorn's WebSocket on 127.0.0.1, two streams at once."""
    root = pathlib.Path(__file__).resolve().parents[1]
    script = root / "benchmarks" / "stream_latency.py"
    if not script.exists():
        pytest.skip("benchmarks/ not in this checkout")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_ECG_DATA"}  # the synthetic record
    proc = subprocess.run([sys.executable, str(script), "--streams", "1,2", "--seconds", "3", "--speed", "20",
                           "--minutes", "1", "--out", str(tmp_path / "sl")], env=env, cwd=root, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    res = json.loads((tmp_path / "sl.json").read_text())
    assert [lv["streams"] for lv in res["levels"]] == [1, 2]
    for lv in res["levels"]:
        assert lv["errors"] == 0 and lv["beats_timed"] > 10 * lv["streams"]
        assert 0 < lv["server_ms"]["p50"] <= lv["server_ms"]["p99"]
        assert lv["after_peak_s"]["p50"] > 1.5 / 20  # at least the look-ahead, at x20
    assert "| 2 |" in (tmp_path / "sl.md").read_text()


@pytest.mark.backend_free
@pytest.mark.real_data
def test_record_100_piece_by_piece_agrees_with_annotate(mitdb_dir):
    clf = R.load("pretrained:mitbih_beats", "auto")
    a = AN.annotate(clf, mitdb_dir / "100")
    samples, labels, delays = live_beats(clf, signal_files.read(mitdb_dir / "100", annotations=None), 37)
    assert agreement((np.asarray(a.samples), list(a.classes)), samples, labels) >= AGREEMENT
    assert np.percentile(delays, 99) < 2.0 + live.LOOKAHEAD_S + live.STEP_S


@pytest.mark.backend_free
@pytest.mark.real_data
@pytest.mark.parametrize("chunk", [37, 1000])
def test_record_100_streams_as_annotate_annotates_it(mitdb_dir, chunk):
    clf = R.load("pretrained:mitbih_beats", "auto")
    a = AN.annotate(clf, mitdb_dir / "100")
    served = {"mitbih_beats": M.load("pretrained:mitbih_beats", "auto")}
    c = TestClient(A.create_app(served))
    rec = signal_files.read(mitdb_dir / "100", annotations=None)
    msgs = stream(c, rec.signal, rec.fs, rec.leads, chunk)
    beats = [m for m in msgs if m["type"] == "beat"]
    assert msgs[-1]["type"] == "end"
    assert agreement((np.asarray(a.samples), list(a.classes)), [b["sample"] for b in beats],
                     [b["label"] for b in beats]) >= AGREEMENT
    assert len(beats) > 2200


def test_a_client_that_leaves_midway_is_counted_and_the_service_goes_on(client, record):
    rec = signal_files.read(record, annotations=None)
    x = np.asarray(rec.signal[: int(30 * rec.fs)], dtype="<f4")
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({"fs": rec.fs, "leads": rec.leads}))
        assert ws.receive_json()["type"] == "ready"
        for i in range(0, len(x), 500):
            ws.send_bytes(x[i:i + 500].tobytes())
        assert ws.receive_json()["type"] in ("beat", "rhythm")
    deadline = time.time() + 30
    while 'outcome="gone"' not in client.get("/metrics").text:
        assert time.time() < deadline, client.get("/metrics").text
        time.sleep(0.2)
    assert "internal" not in client.get("/metrics").text
    assert stream(client, x, rec.fs, rec.leads, 1000)[-1]["type"] == "end"
