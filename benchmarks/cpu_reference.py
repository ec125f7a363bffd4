"""One line that says how fast this machine is right now, printed by ``make test`` before each timed step.

    python benchmarks/cpu_reference.py

The suite's times are only comparable between runs when the machine ran at the same speed: a shared 2-core
VM ran the same commit's TensorFlow pass in 390 s and 517 s half an hour apart. Two probes of about half a
second each, medians rather than bests (a best hides a busy machine):

- numpy float32 1024 x 1024 matmul (every core, BLAS): GFLOP/s;
- a pure-Python loop (one core, the interpreter): million iterations per second;

and the CPU time stolen by the hypervisor (``steal`` in ``/proc/stat``) while they ran, with the load average.
"""

from __future__ import annotations

import os
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from harness.machine import cpu_model, load_avg  # noqa: E402

N = 1024
LOOP = 200_000


def _stat():
    """(steal, total) jiffies of all CPUs, or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def _median_rate(fn, work: float, seconds: float = 0.5) -> float:
    fn()
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return work / statistics.median(times)


def _loop():
    total = 0
    for i in range(LOOP):
        total += i & 7
    return total


def measure() -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((N, N), dtype=np.float32) for _ in range(2))
    before = _stat()
    gflops = _median_rate(lambda: a @ b, 2.0 * N ** 3) / 1e9
    mloops = _median_rate(_loop, LOOP) / 1e6
    after = _stat()
    steal = None
    if before and after and after[1] > before[1]:
        steal = 100.0 * (after[0] - before[0]) / (after[1] - before[1])
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "matmul_gflops": round(gflops, 1),
            "python_mloops_per_s": round(mloops, 1), "steal_pct": None if steal is None else round(steal, 1),
            "load_avg": load_avg()}


def line(m: dict) -> str:
    steal = "n/a" if m["steal_pct"] is None else f"{m['steal_pct']:.1f} %"
    return (f"CPU reference: {m['cpu']}, {m['cores']} cores: numpy matmul {m['matmul_gflops']} GFLOP/s, "
            f"Python {m['python_mloops_per_s']} M loops/s (medians), steal {steal}, load {m['load_avg']}")


if __name__ == "__main__":
    print(line(measure()))
