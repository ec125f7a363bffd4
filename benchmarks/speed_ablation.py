"""The speed run behind the docs (docs/evaluation/speed.md): the default benchmark and every setting tried, in ONE run.

    python benchmarks/speed_ablation.py            # wrap in /work/bin/quiet (or an idle machine)
    python benchmarks/speed_ablation.py --quick    # smoke

Runs ``benchmarks/backends.py`` for a few groups of (backend variant, models) with
one shared date and output file, so every ratio in the tables (backend ÷ plain PyTorch,
setting ÷ default) comes from the same run on the same machine. The variants are
described in harness/variants.py; the results land in benchmarks/results/<device>.json
(+ .md with the ablation table, + .png).
"""

from __future__ import annotations

import argparse
import datetime
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import backends  # noqa: E402

SPEED = "cnn_lstm,cnn1d,resnet1d"
# (backends, models, extra arguments): the first group is the benchmark proper (with ONNX).
GROUPS = [
    ("tensorflow,jax,torch,plain_pytorch,plain_tensorflow,pipeline", SPEED, []),
    ("torch@compile", SPEED, ["--no-onnx", "--worker-timeout", "300"]),
    ("plain_pytorch@compile", "cnn_lstm", ["--no-onnx", "--worker-timeout", "300"]),
]
# --all: every setting tried (benchmarks/results/ablation_cpu-2core.md was this list, plus two layer
# changes since removed, see the notes there).
ABLATION = [
    ("plain_pytorch@1thread,jax@xla_xnnpack", SPEED, ["--no-onnx"]),
    ("plain_pytorch@omppassive,torch@omppassive,torch@1thread,torch@keraslstm,jax@xla_onednn,"
     "plain_pytorch@batch512,torch@batch512,jax@batch512", "cnn_lstm", ["--no-onnx"]),
]
SHORT = ["--repeats", "5", "--repeat-seconds", "0.5", "--latency-seconds", "0.4", "--predict-repeats", "2"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/<device>.json)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--all", action="store_true", help="also every other setting tried (the ablation)")
    args = p.parse_args(argv)
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    out = args.out or str(backends.RESULTS / f"{backends.device_name()}.json")
    rc = 0
    for i, (b, models, extra) in enumerate(GROUPS + (ABLATION if args.all else [])):
        common = ["--backends", b, "--models", models, "--date", date, "--out", out] + SHORT + extra
        common += ["--quick"] if args.quick else []
        common += ["--no-merge"] if i == 0 else []  # a fresh file: nothing from older runs
        rc |= backends.main(common)
    return rc


if __name__ == "__main__":
    sys.exit(main())
