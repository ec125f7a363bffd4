"""A 24-hour 3-lead ISHNE Holter file at 200 Hz annotated like ``long_record.py``'s WFDB record: time and peak memory.

    python benchmarks/ishne_long.py                 # 24 h, leads II, V1, V5 at 200 Hz, 1 repeat
    python benchmarks/ishne_long.py --hours 2 --out /tmp/ishne   # a quick look

The file (synthetic, ``keras_ecg.data.synthetic.record`` of 10 minutes, seed 0, repeated; 104 MB
for 24 h) is written once by :func:`keras_ecg.data.formats.ishne.write` into
``$KERAS_ECG_CACHE/long_record/`` (else ``$TMPDIR/keras_ecg_long_record/``), in a child process so
that this one stays small; its writing is not timed. Then ``long_record.py --record FILE``
annotates it in fresh processes (annotate reads the file in ranges through
``keras_ecg.data.record_file``): the same wall-time and peak-RSS figures and targets. Writes
``benchmarks/results/long_record_ishne_<device>.{json,md}`` (or ``--out BASE``). Run it alone on
the machine (on the shared 2-core box: under ``flock /tmp/keras_ecg_cpu.lock``).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import long_record  # noqa: E402
from harness import machine  # noqa: E402

WRITE = """
import sys
import numpy as np
from keras_ecg.data import synthetic, wfdb_io
from keras_ecg.data.formats import ishne
x, _, _ = synthetic.record(duration_s=600, fs=200, seed=0)
ten = np.stack([x, 0.6 * x, 0.8 * x], axis=1).astype(np.float32)
rec = wfdb_io.Record("holter", np.tile(ten, (int(sys.argv[2]) * 6, 1)), 200.0, ["II", "V1", "V5"])
ishne.write(sys.argv[1], rec, resolution_nv=1000)
"""


def ishne_path(hours: int) -> pathlib.Path:
    root = os.environ.get("KERAS_ECG_CACHE")
    folder = pathlib.Path(root) / "long_record" if root else pathlib.Path(tempfile.gettempdir()) / "keras_ecg_long_record"
    path = folder / f"synth_{hours}h_II-V1-V5_200hz_seed0.ecg"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"writing {path} ({hours} h; not timed)", flush=True)
        subprocess.run([sys.executable, "-c", WRITE, str(path), str(hours)], check=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=int, default=24)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--model", default="pretrained:mitbih_beats")
    p.add_argument("--out", default=None, help="results path without extension")
    args = p.parse_args(argv)
    out = args.out or str(HERE / "results" / f"long_record_ishne_{machine.device_name()}")
    return long_record.main(["--record", str(ishne_path(args.hours)), "--repeats", str(args.repeats),
                             "--model", args.model, "--out", out])


if __name__ == "__main__":
    sys.exit(main())
