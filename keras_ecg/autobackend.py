"""``--backend auto``: pick the fastest backend for a model on this machine.

Each installed backend trains the model for a few steps on random data in its
own process (a process can hold one backend only); the one with the highest
steady-state samples/s wins. Results are cached in
``$KERAS_ECG_CACHE/backend_choice.json`` (default ``~/.cache/keras_ecg``),
keyed by model, input shape, batch size, the machine (CPU model, core count,
visible GPUs) and the package versions, so the measurement runs once. A corrupt
cache file (not JSON, not an object, an entry without a backend) is named in one
line and rebuilt by measuring again.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

from keras_ecg.backend import BACKENDS

MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def installed_backends() -> list:
    return [b for b in BACKENDS if importlib.util.find_spec(MODULES[b]) is not None]


def _cache_file() -> pathlib.Path:
    from keras_ecg.data.cache import cache_dir

    return cache_dir() / "backend_choice.json"


def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    if pathlib.Path("/proc/driver/nvidia/gpus").exists():
        gpus += ";" + ",".join(sorted(os.listdir("/proc/driver/nvidia/gpus")))
    return {"cpu": cpu, "cores": os.cpu_count(), "gpus": gpus}


def _versions(backends) -> dict:
    from keras_ecg.versions import version

    return {name: version(name) for name in ("keras", *(MODULES[b] for b in backends))}


def _key(model, input_shape, batch_size, backends) -> str:
    spec = {"model": model, "input_shape": list(input_shape), "batch_size": batch_size,
            "machine": _machine(), "versions": _versions(backends)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def _read_cache(path, log) -> dict:
    """The cached choices in ``path``; a corrupt file is named in one line and rebuilt (starts empty)."""
    if not path.exists():
        return {}
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        log(f"--backend auto: {path}: corrupt cache ({type(e).__name__}); rebuilt from new measurements")
        return {}
    if not isinstance(cache, dict):
        log(f"--backend auto: {path}: corrupt cache (not a JSON object); rebuilt from new measurements")
        return {}
    return cache


def _valid_entry(entry) -> bool:
    return isinstance(entry, dict) and entry.get("choice") in BACKENDS


def measure(backend, model, input_shape, num_classes=5, batch_size=64, steps=8, timeout=300) -> float | None:
    """Steady-state training samples/s of ``model`` under ``backend`` (None if it fails)."""
    cmd = [sys.executable, "-m", "keras_ecg.autobackend", "--worker", model, json.dumps(list(input_shape)),
           str(num_classes), str(batch_size), str(steps)]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("samples_per_s="):
            return float(line.split("=", 1)[1])
    return None


def choose(model, input_shape, num_classes=5, batch_size=64, backends=None, refresh=False, log=print) -> str:
    """The fastest installed backend for ``model``; measured once, then cached."""
    backends = list(backends or installed_backends())
    if not backends:
        raise RuntimeError("no Keras backend is installed: pip install keras-ecg[jax] (or tensorflow, torch)")
    key = _key(model, input_shape, batch_size, backends)
    path = _cache_file()
    cache = _read_cache(path, log)
    entry = cache.get(key)
    if entry is not None and not _valid_entry(entry):
        log(f"--backend auto: {path}: corrupt entry for {model} (no backend choice); measured again")
        entry = None
    if entry is not None and not refresh:
        log(f"--backend auto: {entry['choice']} (cached measurement, samples/s {entry['samples_per_s']})")
        return entry["choice"]
    rates = {}
    for b in backends:
        log(f"--backend auto: measuring {model} on {b}...")
        rates[b] = measure(b, model, input_shape, num_classes, batch_size)
    ok = {b: r for b, r in rates.items() if r}
    if not ok:
        raise RuntimeError(f"--backend auto: no backend could train {model!r} ({rates})")
    choice = max(ok, key=ok.get)
    cache[key] = {"choice": choice, "samples_per_s": rates, "model": model, "input_shape": list(input_shape),
                  "batch_size": batch_size, "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(cache, indent=1))
    os.replace(tmp, path)
    log(f"--backend auto: {choice} (samples/s {', '.join(f'{b} {r}' for b, r in rates.items())})")
    return choice


def _worker(model, input_shape, num_classes, batch_size, steps):
    import keras
    import numpy as np

    import keras_ecg

    keras.utils.set_random_seed(0)
    net = keras_ecg.build(model, tuple(input_shape), num_classes)
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch_size * steps, *input_shape)).astype("float32")
    y = rng.integers(0, num_classes, size=len(x))
    net.fit(x[:batch_size * 2], y[:batch_size * 2], batch_size=batch_size, epochs=1, verbose=0)  # compile, warm up
    start = time.perf_counter()
    net.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    print(f"samples_per_s={len(x) / (time.perf_counter() - start):.1f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--worker", action="store_true")
    p.add_argument("model")
    p.add_argument("input_shape", type=json.loads)
    p.add_argument("num_classes", type=int, nargs="?", default=5)
    p.add_argument("batch_size", type=int, nargs="?", default=64)
    p.add_argument("steps", type=int, nargs="?", default=8)
    a = p.parse_args()
    if a.worker:
        _worker(a.model, a.input_shape, a.num_classes, a.batch_size, a.steps)
    else:
        print(choose(a.model, a.input_shape, a.num_classes, a.batch_size))
