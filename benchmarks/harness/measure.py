"""Measurement: timed repeats, latency percentiles, throughput, ONNX Runtime.

Machine facts (CPU, load, roof, GPU) live in :mod:`machine`; re-exported here for older callers.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import numpy as np

from .machine import cpu_model, device_name, load_avg  # noqa: F401 - re-exported
from .machine import rss_mb as peak_rss_mb  # noqa: F401 - re-exported
from .settings import NUM_CLASSES, WAVEFORM


def versions():
    """Versions of python, keras_ecg, keras, numpy and of the frameworks and exporters this process imported."""
    from keras_ecg.versions import package_versions

    loaded = [m for m in ("tensorflow", "jax", "torch", "onnxruntime", "tf2onnx", "jax2onnx") if m in sys.modules]
    return package_versions(extra=loaded)


def make_data(shape, n: int, seed: int = 0):
    """Synthetic beats for waveform models, random arrays for images/panels."""
    if tuple(shape) == WAVEFORM:
        from keras_ecg.data import synthetic

        ds = synthetic.beats(n_per_class=max(1, -(-n // NUM_CLASSES)), seed=seed)
        x = np.asarray(ds.inputs[0], np.float32)[:n, :, None]
        y = np.asarray(ds.y, np.int32)[:n]
    else:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n,) + tuple(shape)).astype(np.float32)
        y = rng.integers(0, NUM_CLASSES, n).astype(np.int32)
    return x, y


def timed_repeats(step, batch: int, repeats: int, seconds: float, warmup: int, sync=lambda: None):
    """Samples/s of ``step(i)`` (one batch each): median and spread over repeats.

    ``sync()`` waits for queued device work; it runs before each clock reading.
    """
    for i in range(warmup):
        step(i)
    sync()
    t0 = time.perf_counter()
    step(warmup)
    sync()
    per_step = max(time.perf_counter() - t0, 1e-6)
    n_steps = max(1, min(200, int(round(seconds / per_step))))
    if n_steps == 1 and per_step > seconds:  # slow steps: keep the whole measurement near repeats*seconds
        repeats = max(3, min(repeats, int(repeats * seconds * 1.5 / per_step)))
    rates, k = [], warmup + 1
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n_steps):
            step(k)
            k += 1
        sync()
        rates.append(n_steps * batch / (time.perf_counter() - t0))
    med = statistics.median(rates)
    return {"median": med, "spread": (max(rates) - min(rates)) / med, "rates": rates,
            "steps_per_repeat": n_steps}


def latency(fn, x1, seconds: float, max_calls: int = 1000, min_calls: int = 20):
    """p50/p99 (ms) of ``fn(x1)``, time-capped."""
    for _ in range(3):
        fn(x1)
    times, t_end = [], time.perf_counter() + seconds
    while len(times) < max_calls and (len(times) < min_calls or time.perf_counter() < t_end):
        t0 = time.perf_counter()
        fn(x1)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99)), "calls": len(times)}


def throughput(fn, xb, repeats: int):
    fn(xb)
    rates = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn(xb)
        rates.append(len(xb) / (time.perf_counter() - t0))
    return statistics.median(rates)


def r(v, nd=3):
    return None if v is None else round(float(v), nd)


def onnx_session(path):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


def measure_onnx(model, x, cfg):
    """Export with keras_ecg.export (the backend's own exporter) and time onnxruntime."""
    out = {"onnx_p50_ms": None, "onnx_p99_ms": None, "onnx_samples_per_s": None,
           "onnx_export_s": None, "onnx_error": None}
    try:
        from keras_ecg import export
    except Exception as e:  # noqa: BLE001 - export module missing/in progress
        out["onnx_error"] = f"keras_ecg.export import failed: {type(e).__name__}: {e}"[:300]
        return out
    with tempfile.TemporaryDirectory(prefix="keras_ecg_bench_onnx_") as tmp:
        t0 = time.perf_counter()
        try:
            card = export(model, tmp, formats=("onnx",), sample_inputs=x[:4], fallback=False)
            path = card["paths"]["onnx"]
        except Exception as e:  # noqa: BLE001 - record any failure
            out["onnx_error"] = f"{type(e).__name__}: {e}"[:300]
            return out
        out["onnx_export_s"] = r(time.perf_counter() - t0, 2)
        out["onnx_export_path"] = card["export"]["formats"]["onnx"].get("path")
        fn = onnx_session(path)
        lat = latency(fn, x[:1], cfg.latency_seconds)
        out["onnx_p50_ms"], out["onnx_p99_ms"] = r(lat["p50"]), r(lat["p99"])
        xb = np.resize(x, (cfg.predict_batch,) + x.shape[1:])
        out["onnx_samples_per_s"] = r(throughput(fn, xb, cfg.predict_repeats), 1)
    return out
