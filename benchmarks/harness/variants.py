"""Variants of a run, for the speed ablation: ``<backend>@<option>+<option>`` (``torch@compile+1thread``).

Each option changes one setting, applied in the fresh worker process (environment
variables before the framework is imported, the rest before the model is built).
``describe`` gives the line the results tables print for it.
"""

from __future__ import annotations

import re

# XLA CPU flag sets tried on JAX (``XLA_FLAGS``).
XLA_SETS = {
    "xnnpack": "--xla_cpu_use_xnnpack=true",
    "onednn": "--xla_cpu_use_onednn=true",
    "noeigenmt": "--xla_cpu_multi_thread_eigen=false",
    "vec512": "--xla_cpu_prefer_vector_width=512",
    "onednncc": "--xla_cpu_experimental_onednn_custom_call=true",
}
FIXED = {
    "1thread": "torch.set_num_threads(1)",
    "interop1": "torch.set_num_interop_threads(1)",
    "omppassive": "OMP_WAIT_POLICY=PASSIVE (OpenMP threads sleep instead of spin-waiting)",
    "compile": "jit_compile=True: torch.compile of the train step (plain PyTorch: of the module)",
    "nojit": "model.compile(jit_compile=False): eager/tf.function without XLA",
    "keraslstm": "FusedLSTM's fused torch kernel off: Keras's own LSTM loop",
}
PATTERNS = {
    r"batch(\d+)": "training batch {0}",
    r"threads(\d+)": "torch.set_num_threads({0})",
    r"xla_(\w+)": "XLA_FLAGS={xla}",
}


def split(backend: str):
    """``("torch", ["compile", "1thread"])`` from ``"torch@compile+1thread"``."""
    base, _, rest = backend.partition("@")
    return base, [o for o in rest.split("+") if o]


def bad_options(backend: str) -> list:
    return [o for o in split(backend)[1] if describe_option(o) is None]


def describe_option(opt: str):
    if opt in FIXED:
        return FIXED[opt]
    for pat, text in PATTERNS.items():
        m = re.fullmatch(pat, opt)
        if m:
            if pat.startswith("xla_"):
                flags = XLA_SETS.get(m.group(1))
                return None if flags is None else text.format(xla=flags)
            return text.format(*m.groups())
    return None


def describe(backend: str) -> str:
    opts = split(backend)[1]
    return "; ".join(describe_option(o) for o in opts) if opts else "defaults"


def option_value(opts, prefix: str):
    for o in opts:
        m = re.fullmatch(prefix + r"(\d+)", o)
        if m:
            return int(m.group(1))
    return None


def environment(backend: str) -> dict:
    """Environment variables the worker process must start with."""
    env = {}
    for o in split(backend)[1]:
        if o == "omppassive":
            env["OMP_WAIT_POLICY"] = "PASSIVE"
        elif o.startswith("xla_"):
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + XLA_SETS[o[4:]]).strip()
    return env


def apply(backend: str) -> dict:
    """Settings applied inside the worker before the model is built; returns what the model step needs."""
    opts = split(backend)[1]
    threads = 1 if "1thread" in opts else option_value(opts, "threads")
    if threads or "interop1" in opts:
        import torch

        if "interop1" in opts:
            torch.set_num_interop_threads(1)
        if threads:
            torch.set_num_threads(threads)
    if "keraslstm" in opts:
        from keras_ecg.layers import FusedLSTM

        FusedLSTM.FAST_BACKENDS = ()
    jit = True if "compile" in opts else False if "nojit" in opts else None
    return {"jit_compile": jit, "batch": option_value(opts, "batch")}
