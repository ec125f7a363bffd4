"""Where a training step's time goes: torch.profiler over cnn_lstm steps, by layer kind.

    python benchmarks/profile_step.py                 # cnn_lstm, batch 256 (wrap in /work/bin/quiet)
    python benchmarks/profile_step.py --model cnn1d --steps 5

Profiles ``--steps`` ``train_on_batch`` calls of the keras model on the torch backend
and the same number of steps of plain PyTorch (benchmarks/reference_models.py), sums
the self time of each aten op into the layer kind it belongs to (convolution,
LSTM, batch norm, pooling, dense, element-wise, optimizer, other), and sets the
counted FLOPs of each kind (harness/flops.py) against its time. It also times the
matmul shapes the model is made of (one LSTM time step: batch x 64 @ 64 x 256) next
to the machine's roof (numpy 2048^3): small matmuls cannot reach the roof. Writes
benchmarks/results/profile_<model>.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from harness import flops, machine  # noqa: E402
from harness.measure import make_data  # noqa: E402
from harness.report import write_json  # noqa: E402
from harness.settings import RESULTS  # noqa: E402

KINDS = (  # (kind, substrings of aten op names), first match wins
    ("LSTM (fused kernel, forward + backward)", ("lstm", "rnn", "_thnn_fused", "tanh_backward", "sigmoid_backward")),
    ("convolution (forward + backward)", ("convolution", "conv1d", "conv2d", "mkldnn_conv")),
    ("batch norm", ("batch_norm", "var_mean")),
    ("max pooling", ("max_pool",)),
    ("dense (matmul)", ("addmm", "aten::mm", "aten::matmul", "aten::linear")),
    ("optimizer (Adam)", ("_foreach", "adam", "optimizer")),
    ("element-wise, copies, loss", ("mul", "add", "sub", "div", "copy", "relu", "threshold", "clamp", "fill",
                                    "sum", "mean", "pow", "sqrt", "neg", "log", "exp", "where", "bernoulli",
                                    "transpose", "permute", "contiguous", "zero", "softmax", "nll", "max", "cat")),
)


def kind_of(name: str) -> str:
    low = name.lower()
    for kind, keys in KINDS:
        if any(k in low for k in keys):
            return kind
    return "other"


def profile(step, steps):
    from torch.profiler import ProfilerActivity, profile as torch_profile

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    wall = (time.perf_counter() - t0) / steps
    by_kind, top = {}, []
    events = [e for e in prof.key_averages() if e.key.startswith("aten::") or "Optimizer" in e.key]
    for e in events:
        ms = e.self_cpu_time_total / 1e3 / steps
        by_kind[kind_of(e.key)] = by_kind.get(kind_of(e.key), 0.0) + ms
        top.append((e.key, ms, e.count // steps))
    top.sort(key=lambda t: -t[1])
    return {"wall_ms_per_step_profiled": round(wall * 1e3, 2),
            "self_ms_by_kind": {k: round(v, 2) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])},
            "top_ops": [{"op": k, "self_ms": round(v, 2), "calls": c} for k, v, c in top[:15]]}


def matmul_rates(batch):
    """GFLOP/s of the matmul shapes inside cnn_lstm, in torch, against the numpy roof."""
    import torch

    shapes = {f"LSTM step: ({batch} x 64) @ (64 x 256)": (batch, 64, 256),
              f"LSTM input projection, all 46 steps: ({batch * 46} x 64) @ (64 x 256)": (batch * 46, 64, 256),
              f"conv2 as GEMM: ({batch * 93} x 160) @ (160 x 64)": (batch * 93, 160, 64),
              "roof shape: (2048 x 2048) @ (2048 x 2048)": (2048, 2048, 2048)}
    out = {}
    for name, (m, k, n) in shapes.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        reps = max(3, int(2e9 / (2 * m * k * n)))
        out[name] = round(machine.best_rate(lambda: [a @ b for _ in range(reps)], 2.0 * m * k * n * reps, 5), 1)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="cnn_lstm", choices=("cnn_lstm", "cnn1d", "resnet1d"))
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    import keras
    import torch

    import keras_ecg
    import reference_models

    x, y = make_data((187, 1), args.batch)
    model = keras_ecg.build(args.model, (187, 1), 5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    counted = flops.count_model(model, x[:8], y[:8])
    trainer = reference_models.TorchTrainer(name=args.model)
    res = {"model": args.model, "batch": args.batch, "steps": args.steps, "cpu": machine.cpu_model(),
           "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "load_avg_before": machine.load_avg(),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "roof": machine.numpy_roof(), **counted,
           "keras_torch": profile(lambda: model.train_on_batch(x, y), args.steps),
           "plain_pytorch": profile(lambda: trainer.train_step(x, y), args.steps),
           "matmul_gflops": matmul_rates(args.batch), "load_avg_after": machine.load_avg()}
    out = pathlib.Path(args.out or RESULTS / f"profile_{args.model}.json")
    write_json(out, res)
    out.with_suffix(".md").write_text(render(res) + "\n")
    print(render(res))
    return 0


def render(res):
    b, roof = res["batch"], res["roof"]["gflops"]
    conv = sum(v for k, v in res["train_flops_by_op"].items() if "conv" in k) * b
    mm = res["train_flops_by_op"].get("mm", 0) * b
    lines = [f"# Where a {res['model']} training step goes (torch.profiler, batch {b})", "",
             f"- {res['date']}; CPU {res['cpu']} ({res['cpus']} cores, torch {res['torch_threads']} threads); "
             f"roof {roof} GFLOP/s ({res['roof']['method']}); load {res['load_avg_before']} before, "
             f"{res['load_avg_after']} after.",
             f"- Counted FLOPs per step: {res['flops_per_train_sample'] * b / 1e9:.2f} GFLOP "
             f"(convolutions {conv / 1e9:.2f}, matmuls {mm / 1e9:.2f} — for cnn_lstm almost all of the "
             "matmuls are the LSTM's).",
             f"- Self time of the aten ops, per step, summed by layer kind ({res['steps']} profiled steps; the "
             "profiler itself adds a little per op).", "",
             "| layer kind | keras_ecg torch backend ms | plain PyTorch ms |", "|---|---:|---:|"]
    kinds = list(dict.fromkeys(list(res["keras_torch"]["self_ms_by_kind"]) + list(res["plain_pytorch"]["self_ms_by_kind"])))
    for k in kinds:
        lines.append(f"| {k} | {res['keras_torch']['self_ms_by_kind'].get(k, 0):.1f} | "
                     f"{res['plain_pytorch']['self_ms_by_kind'].get(k, 0):.1f} |")
    lines.append(f"| **wall time per step (profiled)** | {res['keras_torch']['wall_ms_per_step_profiled']:.1f} | "
                 f"{res['plain_pytorch']['wall_ms_per_step_profiled']:.1f} |")
    lstm_ms = res["plain_pytorch"]["self_ms_by_kind"].get(KINDS[0][0])
    conv_ms = res["plain_pytorch"]["self_ms_by_kind"].get(KINDS[1][0])
    lines += ["", "GFLOP/s by kind (plain PyTorch, counted FLOPs ÷ self time):", ""]
    if lstm_ms:
        lines.append(f"- LSTM: {mm / 1e9:.2f} GFLOP in {lstm_ms:.1f} ms = {mm / lstm_ms / 1e6:.1f} GFLOP/s "
                     f"({100 * mm / lstm_ms / 1e6 / roof:.0f} % of the roof).")
    if conv_ms:
        lines.append(f"- convolutions: {conv / 1e9:.2f} GFLOP in {conv_ms:.1f} ms = {conv / conv_ms / 1e6:.1f} "
                     f"GFLOP/s ({100 * conv / conv_ms / 1e6 / roof:.0f} % of the roof).")
    lines += ["", "The matmul shapes of the model, timed alone in torch (GFLOP/s):", "",
              "| shape | GFLOP/s | % of roof |", "|---|---:|---:|"]
    for k, v in res["matmul_gflops"].items():
        lines.append(f"| {k} | {v} | {100 * v / roof:.0f} |")
    lines += ["", "Top aten ops (self ms per step), keras_ecg torch backend:", "",
              "| op | self ms | calls per step |", "|---|---:|---:|"]
    lines += [f"| {t['op']} | {t['self_ms']} | {t['calls']} |" for t in res["keras_torch"]["top_ops"][:10]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
