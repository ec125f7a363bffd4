"""The TensorFlow fallback: export a ``.keras`` file under TensorFlow in a child process.

Used where the active backend cannot export a format (SavedModel on torch; ONNX
of Bidirectional/backward RNNs or Conv3D on JAX, Conv3D on torch; or any
exception or failed check): the ``.keras`` file is reloaded under TensorFlow
(``python -m keras_ecg.deploy.export.tf_fallback``), exported and verified
there against the parent's reference outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

from keras_ecg import _atomic
from keras_ecg.errors import ExportError

MODULE = "keras_ecg.deploy.export.tf_fallback"
EXPORTERS = ("tensorflow", "tf2onnx", "jax2onnx", "onnx", "onnxruntime")


def exporter_versions(backend: str) -> dict:
    """Package versions plus those of the exporters this process has imported."""
    from keras_ecg.versions import package_versions

    return package_versions(backend, extra=[p for p in EXPORTERS if p in sys.modules])


def _save_inputs(path, x, ref):
    np.savez(path, ref=ref, **{f"x_{i}": a for i, a in enumerate(x)})


def _load_inputs(path):
    data = np.load(path)
    x = [data[f"x_{i}"] for i in range(sum(k.startswith("x_") for k in data.files))]
    return x, data["ref"]


def run(keras_file, stage, formats, x, ref, atol, names, timeout) -> dict:
    """Export ``formats`` from ``keras_file`` under TensorFlow in a child process; its result dict."""
    inputs = stage / ".verify_inputs.npz"
    result = stage / ".subprocess_result.json"
    _save_inputs(inputs, x, ref)
    env = dict(os.environ)
    env["KERAS_BACKEND"] = "tensorflow"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = str(pathlib.Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [
        sys.executable, "-m", MODULE,
        "--keras", str(keras_file), "--out", str(stage), "--formats", *formats,
        "--inputs", str(inputs), "--atol", repr(atol), "--input-names", *names,
        "--result", str(result),
    ]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise ExportError(f"TensorFlow export subprocess timed out after {timeout} s") from e
    finally:
        inputs.unlink(missing_ok=True)
    if not result.exists():
        tail = (proc.stderr or proc.stdout or "")[-2000:]
        raise ExportError(f"TensorFlow export subprocess failed (exit {proc.returncode}):\n{tail}")
    res = json.loads(result.read_text())
    result.unlink(missing_ok=True)
    res["_seconds"] = round(time.perf_counter() - t0, 2)
    return res


def main(argv=None) -> int:
    import keras

    from keras_ecg.deploy.export import verify as V
    from keras_ecg.deploy.export.writers import FORMATS, export_one, short

    p = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="Export a .keras file (under the current KERAS_BACKEND, normally "
        "tensorflow) to SavedModel/ONNX and verify it against reference outputs.",
    )
    p.add_argument("--keras", required=True, help=".keras file to load")
    p.add_argument("--out", required=True, help="folder to write the formats into")
    p.add_argument("--formats", nargs="+", default=["saved_model", "onnx"], choices=FORMATS)
    p.add_argument("--inputs", help="npz with x_0, x_1, ... (inputs) and ref (expected outputs); "
                   "without it, random inputs and the reloaded model's outputs")
    p.add_argument("--atol", type=float, default=1e-4)
    p.add_argument("--input-names", nargs="+", default=None)
    p.add_argument("--result", help="write per-format results here (JSON)")
    args = p.parse_args(argv)

    model = V.load_keras(args.keras)
    specs = V.model_inputs(model)
    names = [n for n, _, _ in specs]
    if args.input_names and args.input_names != names:
        print(f"warning: reloaded input names {names} != {args.input_names}", file=sys.stderr)
        names = args.input_names
    if args.inputs:
        x, ref = _load_inputs(args.inputs)
    else:
        x, _ = V.sample_inputs(None, specs)
        ref = V.predict(model, x)
    model(x[0][:1] if len(x) == 1 else [a[:1] for a in x])
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {"backend": keras.backend.backend(), "formats": {}}
    for fmt in args.formats:
        try:
            res["formats"][fmt] = export_one(model, fmt, out, x, ref, args.atol, names)
        except Exception as e:  # noqa: BLE001 - reported to the parent
            res["formats"][fmt] = {
                "status": "error",
                "error": short(e, 1000),
                "verification": isinstance(e, V.ExportVerificationError),
            }
    res["versions"] = exporter_versions(keras.backend.backend())
    text = json.dumps(res, indent=2, default=_atomic._json_default)
    if args.result:
        _atomic.write_text(args.result, text)
    else:
        print(text)
    return 0 if all(r["status"] == "ok" for r in res["formats"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
