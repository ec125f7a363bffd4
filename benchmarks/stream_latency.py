"""Per-beat latency of ``/v1/stream``: a record replayed at real speed x10 through a real uvicorn server.

    python benchmarks/stream_latency.py                       # synthetic record; 1 and 50 streams
    KERAS_ECG_DATA=../shared/data python benchmarks/stream_latency.py     # MIT-BIH record 100
    python benchmarks/stream_latency.py --streams 1 --seconds 20 --out /tmp/sl    # a quick look

``keras-ecg serve MODEL`` (default ``pretrained:mitbih_beats``, ONNX Runtime; one worker) runs in a child
process on 127.0.0.1; this process is the clients (``websockets``, one asyncio loop). Each stream sends the
record's samples as binary float32 frames of ``--chunk-s`` seconds of signal, each frame at the wall time
its last sample is due at ``--speed`` times real speed (streams start spread over one frame period), for
``--seconds`` of wall time, then ``{"end": true}``. Per beat:

* ``server_ms``: the processing latency the server measures, from the arrival of the frame holding the
  sample that decided the beat (``decided_at``) to the sending of the beat's message;
* ``client_ms``: the same as the client sees it, from sending that frame to receiving the message;
* ``after_peak_s``: from sending the beat's R-peak sample to receiving its message (wall seconds, at x speed:
  the look-ahead the beat needs, divided by the speed, plus the processing).

Writes ``benchmarks/results/stream_latency.json`` and ``.md`` (or ``--out BASE``): p50 and p99 of each per
level, beats, errors, the CPU model, cores and load average before and after. Target: ``server_ms`` p99
<= 50 ms with one stream on the 2-core box. Run it under ``flock /tmp/keras_ecg_cpu.lock``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from harness import machine  # noqa: E402

TARGET_P99_MS = 50.0


def record(args):
    """``(signal, fs, leads, name)`` of the record replayed."""
    from keras_ecg.data import signal_files, synthetic_wfdb

    data = os.environ.get("KERAS_ECG_DATA")
    if data and (pathlib.Path(data) / "mitdb" / "100.hea").exists():
        path, name = pathlib.Path(data) / "mitdb" / "100", "MIT-BIH record 100"
    else:
        path = pathlib.Path(tempfile.mkdtemp(prefix="stream-latency-")) / "synth"
        synthetic_wfdb.write_record(path, minutes=args.minutes, seed=0)
        name = f"synthetic record (keras_ecg.data.synthetic_wfdb, {args.minutes:g} min, seed 0)"
    rec = signal_files.read(path, annotations=None)
    return np.asarray(rec.signal, dtype="<f4"), rec.fs, list(rec.leads), name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model, port):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    code = f"import sys; from keras_ecg.cli import main; sys.exit(main(['serve', {model!r}, '--port', '{port}']))"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    import urllib.request

    t0 = time.time()
    while time.time() - t0 < 180:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stdout.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not start within 180 s")


async def one_stream(url, signal, fs, leads, args, delay, out):
    import websockets

    chunk = max(int(round(args.chunk_s * fs)), 1)
    n = min(len(signal), int(args.seconds * args.speed * fs))
    sent_at = np.full(n, np.nan)  # wall time each sample was sent (its frame's)
    await asyncio.sleep(delay)
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"fs": fs, "leads": leads}))
        ready = json.loads(await ws.recv())
        if ready.get("type") != "ready":
            out["errors"].append(ready)
            return

        async def send():
            t0 = time.perf_counter()
            for i in range(0, n, chunk):
                j = min(i + chunk, n)
                due = t0 + j / fs / args.speed
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                await ws.send(signal[i:j].tobytes())
                sent_at[i:j] = time.perf_counter()
            await ws.send(json.dumps({"end": True}))

        sender = asyncio.ensure_future(send())
        async for raw in ws:
            now = time.perf_counter()
            m = json.loads(raw)
            if m["type"] == "beat":
                d, s = m["decided_at"], m["sample"]
                final = d >= n - 1 and sender.done()  # decided by the end message, not by a sample
                out["beats"] += 1
                if not final and np.isfinite(sent_at[d]):
                    out["server_ms"].append(m["server_ms"])
                    out["client_ms"].append(1000.0 * (now - sent_at[d]))
                    out["after_peak_s"].append(now - sent_at[s])
            elif m["type"] == "error":
                out["errors"].append(m)
            elif m["type"] == "end":
                break
        await sender


async def level(url, signal, fs, leads, args, streams):
    out = {"beats": 0, "server_ms": [], "client_ms": [], "after_peak_s": [], "errors": []}
    period = args.chunk_s / args.speed
    t0 = time.perf_counter()
    await asyncio.gather(*[one_stream(url, signal, fs, leads, args, period * k / streams, out) for k in range(streams)])
    wall = time.perf_counter() - t0

    def pct(v, q, nd=1):
        return round(float(np.percentile(v, q)), nd) if len(v) else None

    return {"streams": streams, "wall_s": round(wall, 1), "beats": out["beats"], "beats_timed": len(out["server_ms"]),
            "errors": len(out["errors"]), "first_error": out["errors"][0] if out["errors"] else None,
            "server_ms": {"p50": pct(out["server_ms"], 50), "p99": pct(out["server_ms"], 99),
                          "max": pct(out["server_ms"], 100)},
            "client_ms": {"p50": pct(out["client_ms"], 50), "p99": pct(out["client_ms"], 99),
                          "max": pct(out["client_ms"], 100)},
            "after_peak_s": {"p50": pct(out["after_peak_s"], 50, 3), "p99": pct(out["after_peak_s"], 99, 3)}}


def markdown(res) -> str:
    lines = [f"# /v1/stream per-beat latency ({res['record']}, x{res['speed']:g} real speed)", "",
             f"CPU: {res['cpu']} ({res['cores']} cores); load average before {res['load_before']}, after "
             f"{res['load_after']}; model {res['model']}; frames of {res['chunk_s']:g} s of signal; "
             f"{res['seconds']:g} s of wall time per level; {res['date']}.", "",
             "| streams | beats (timed) | server p50 / p99 ms | client p50 / p99 ms | R peak to message p50 / p99 s "
             "| errors |", "|---|---|---|---|---|---|"]
    for r in res["levels"]:
        lines.append(f"| {r['streams']} | {r['beats']} ({r['beats_timed']}) | {r['server_ms']['p50']} / "
                     f"{r['server_ms']['p99']} | {r['client_ms']['p50']} / {r['client_ms']['p99']} | "
                     f"{r['after_peak_s']['p50']} / {r['after_peak_s']['p99']} | {r['errors']} |")
    one = next((r for r in res["levels"] if r["streams"] == 1), None)
    if one and one["server_ms"]["p99"] is not None:
        met = one["server_ms"]["p99"] <= TARGET_P99_MS
        lines += ["", f"Target (server p99 <= {TARGET_P99_MS:g} ms, one stream): "
                      f"{'met' if met else 'MISSED'} ({one['server_ms']['p99']} ms)."]
    lines += ["", "server: from the arrival of the frame holding the deciding sample to the beat's message; client: "
                  "from sending that frame to receiving the message (same machine); R peak to message: wall time "
                  "from sending the beat's R-peak sample, which includes the look-ahead the beat needs "
                  "(next R peak + 1.5 s of signal, divided by the speed). Beats decided by the end message are "
                  "not timed.", ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="pretrained:mitbih_beats")
    p.add_argument("--streams", default="1,50", help="comma-separated concurrency levels")
    p.add_argument("--speed", type=float, default=10.0)
    p.add_argument("--seconds", type=float, default=60.0, help="wall seconds of streaming per level")
    p.add_argument("--chunk-s", type=float, default=0.25, help="seconds of signal per frame")
    p.add_argument("--minutes", type=float, default=30.0, help="the synthetic record's length")
    p.add_argument("--out", default=str(HERE / "results" / "stream_latency"))
    args = p.parse_args(argv)
    signal, fs, leads, name = record(args)
    port = free_port()
    load_before = machine.load_avg()
    server = start_server(args.model, port)
    try:
        url = f"ws://127.0.0.1:{port}/v1/stream"
        levels = []
        for k in [int(v) for v in args.streams.split(",")]:
            print(f"{k} stream(s) ...", flush=True)
            levels.append(asyncio.run(level(url, signal, fs, leads, args, k)))
            print(json.dumps(levels[-1]), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    res = {"record": name, "model": args.model, "speed": args.speed, "seconds": args.seconds,
           "chunk_s": args.chunk_s, "cpu": machine.cpu_model(), "cores": os.cpu_count(),
           "load_before": load_before, "load_after": machine.load_avg(),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "target_p99_ms": TARGET_P99_MS, "levels": levels}
    from keras_ecg import _atomic

    base = pathlib.Path(args.out)
    _atomic.write_json(base.with_suffix(".json"), res)
    _atomic.write_text(base.with_suffix(".md"), markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
