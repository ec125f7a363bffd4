"""The machine: CPU model, cores, load, the float32 matrix-multiply roof, GPU device and memory."""

from __future__ import annotations

import os
import platform
import resource
import shutil
import subprocess
import sys
import time

ROOF_SIZE = 2048  # square float32 matmul for the roof: 2 * n^3 = 17.2 GFLOP per product
ROOF_REPEATS = 5


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_avg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def gpu_names() -> list:
    """Names of the NVIDIA GPUs (``nvidia-smi -L``), [] when there are none."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split(":", 1)[1].split("(")[0].strip() for line in out.splitlines() if line.startswith("GPU")]


def device_name() -> str:
    """``cpu-<n>core``, or ``gpu-<model>`` on a machine with an NVIDIA GPU (the results file's name)."""
    gpus = gpu_names()
    if gpus:
        return "gpu-" + gpus[0].replace("NVIDIA ", "").replace(" ", "_").lower()
    return f"cpu-{os.cpu_count()}core"


def rss_mb() -> float:
    """High-water resident set size of this process so far: ``ru_maxrss``, what ``/usr/bin/time -v`` reports."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # kB on Linux


def current_rss_mb() -> float | None:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return None


def best_rate(fn, flops: float, repeats: int = ROOF_REPEATS) -> float:
    """GFLOP/s of the fastest of ``repeats`` calls of ``fn`` (one warm-up call first)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return flops / best / 1e9


def numpy_roof(n: int = ROOF_SIZE, repeats: int = ROOF_REPEATS) -> dict:
    """The machine's float32 matmul roof: numpy (its BLAS, every core) on n x n, best of ``repeats``."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    return {"gflops": round(best_rate(lambda: a @ b, 2.0 * n ** 3, repeats), 1), "n": n, "repeats": repeats,
            "method": f"numpy float32 {n}x{n} @ {n}x{n}, best of {repeats}"}


def framework_roof(backend: str, n: int = ROOF_SIZE, repeats: int = ROOF_REPEATS):
    """The same matmul in the worker's own framework, on the device it trains on (GFLOP/s)."""
    flops = 2.0 * n ** 3
    if backend in ("torch", "plain_pytorch"):
        import torch

        dev = "cuda" if torch.cuda.is_available() else "cpu"
        a, b = (torch.randn(n, n, device=dev) for _ in range(2))

        def fn():
            a @ b
            synchronize(backend)
        return round(best_rate(fn, flops, repeats), 1)
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        a, b = (jax.random.normal(jax.random.key(i), (n, n), jnp.float32) for i in range(2))
        f = jax.jit(jnp.matmul)
        return round(best_rate(lambda: f(a, b).block_until_ready(), flops, repeats), 1)
    if backend in ("tensorflow", "plain_tensorflow"):
        import tensorflow as tf

        a, b = (tf.random.normal((n, n)) for _ in range(2))
        return round(best_rate(lambda: tf.matmul(a, b).numpy(), flops, repeats), 1)
    return None


def accelerator(backend: str):
    """``(device, name)`` the worker's framework trains on: ``("cpu", None)`` or ``("cuda", "<GPU name>")``."""
    if backend in ("torch", "plain_pytorch") and "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            return "cuda", torch.cuda.get_device_name(0)
    if backend == "jax":
        import jax

        d = jax.devices()[0]
        if d.platform == "gpu":
            return "cuda", d.device_kind
    if backend in ("tensorflow", "plain_tensorflow"):
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return "cuda", tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return "cpu", None


def synchronize(backend: str, model=None):
    """Wait for queued device work before reading the clock (on JAX: the model's variables)."""
    if backend in ("torch", "plain_pytorch") and "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    elif backend == "jax" and model is not None:
        import jax

        jax.block_until_ready([v.value for v in model.variables])


def gpu_peak_mb(backend: str):
    """The device memory high-water mark (MB) on a GPU, ``None`` on CPU."""
    if accelerator(backend)[0] != "cuda":
        return None
    if backend in ("torch", "plain_pytorch"):
        import torch

        return round(torch.cuda.max_memory_allocated() / 2 ** 20, 1)
    if backend == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        return round(stats.get("peak_bytes_in_use", 0) / 2 ** 20, 1) or None
    if backend in ("tensorflow", "plain_tensorflow"):
        import tensorflow as tf

        return round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2 ** 20, 1)
    return None
