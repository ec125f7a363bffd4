"""Export a trained model to ``.keras``, TensorFlow SavedModel and ONNX, verified.

:func:`export` writes, into ``out_dir``:

* ``model.keras`` (``model.save``),
* ``saved_model/`` (``model.export(..., format="tf_saved_model")``),
* ``model.onnx`` (``model.export(..., format="onnx")``: tf2onnx on TensorFlow,
  jax2onnx on JAX, ``torch.onnx`` on PyTorch),
* ``model_card.json`` (classes, input spec, preprocessing, metrics, data,
  backend, versions and the verification results), written last: its
  presence marks a complete export.

Where the active backend cannot export a format (SavedModel on torch;
ONNX of Bidirectional/backward RNNs or Conv3D on JAX, Conv3D on torch; or any
exception or failed check), the ``.keras`` file is reloaded under TensorFlow
in a subprocess (``python -m keras_ecg.export``) which exports and verifies
it there. The result records which path was used.

Every artefact is verified before it gets its final name: it is reloaded
(``.keras``), run in onnxruntime (ONNX) or loaded with ``tf.saved_model.load``
and called through its ``serving_default`` signature (SavedModel), at batch
sizes 1 and N, and compared with the Keras outputs of the original model
(max abs error <= ``atol``). The graph's input must carry the Keras input
name and a dynamic batch axis. Everything is written into a hidden staging
folder inside ``out_dir`` and renamed into place only once all formats
passed, so a failed or interrupted export leaves nothing under the final
names.

``model_card.json`` keys:

=================  ===========================================================
key                meaning
=================  ===========================================================
``model_name``     ``model.name``
``classes``        class names (from ``card``), index = output column
``input``          ``{name, shape (null = batch), dtype}`` plus any keys the
                   caller gave in ``card["input"]`` (e.g. ``layout``)
``output``         ``{shape, kind}``: softmax probabilities or a sigmoid risk
``preprocessing``  from ``card`` (e.g. sampling rate, filtering, scaling)
``metrics``        from ``card`` (e.g. the test ``report.json`` figures)
``training_data``  from ``card`` (data source; say if synthetic)
``split``          from ``card`` (how train/val/test were split)
``backend``        Keras backend the model was exported from
``versions``       python, keras_ecg, keras, numpy, backend framework, and
                   tensorflow / tf2onnx / jax2onnx / onnx / onnxruntime used
``files``          ``{format: file name}``
``export``         ``{atol, verified_on, seconds, formats: {format: {status,
                   path, max_abs_error, batch_sizes, seconds[, native_error]}},
                   max_abs_error: {format: value}}``; ``path`` is
                   ``native:<backend>`` or ``tensorflow-subprocess``
``created``        UTC time of the export
=================  ===========================================================

Other keys of ``card`` are copied as given.

This module imports keras at the top: import it after choosing the backend.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

import keras
import numpy as np

from keras_ecg import _atomic

__all__ = ["export", "ExportError", "ExportVerificationError", "FORMATS", "FILE_NAMES"]

FORMATS = ("keras", "saved_model", "onnx")
FILE_NAMES = {"keras": "model.keras", "saved_model": "saved_model", "onnx": "model.onnx"}
CARD_NAME = "model_card.json"
MAX_VERIFY_EXAMPLES = 16
EXTRA_HINT = "pip install keras-ecg[export]"

# Layers whose ONNX export is known to fail on a backend (measured, Keras 3.15).
_KNOWN_ONNX_FAILURES = {
    "jax": ("Bidirectional", "Conv3D", "backward RNN"),
    "torch": ("Conv3D",),
}


class ExportError(RuntimeError):
    """An export failed on every path that was tried."""


class ExportVerificationError(ExportError):
    """An exported artefact does not reproduce the Keras outputs (or has a wrong signature)."""


# --------------------------------------------------------------------------
# Optional dependencies
# --------------------------------------------------------------------------


def _require(module: str, extra: str = "export"):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"keras_ecg.export needs {module!r} for this format: "
            f"pip install keras-ecg[{extra}]  ({e})"
        ) from e


def _dist_version(*names):
    from importlib import metadata

    for n in names:
        try:
            return metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return None


def _versions(backend: str) -> dict:
    import keras_ecg

    out = {
        "python": platform.python_version(),
        "keras_ecg": keras_ecg.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }
    names = {"tensorflow": ("tensorflow", "tensorflow-cpu"), "jax": ("jax",), "torch": ("torch",)}
    out[backend] = _dist_version(*names[backend])
    for pkg in ("tensorflow", "tf2onnx", "jax2onnx", "onnx", "onnxruntime"):
        if pkg in sys.modules and pkg not in out:
            out[pkg] = _dist_version(pkg, pkg + "-cpu")
    return out


# --------------------------------------------------------------------------
# Model facts
# --------------------------------------------------------------------------


def _single_input(model):
    inputs = model.inputs
    if not inputs or len(inputs) != 1:
        raise ValueError(
            f"keras_ecg.export handles models with one input; {model.name!r} has "
            f"{len(inputs or [])}."
        )
    t = inputs[0]
    name = getattr(t, "name", None) or "input"
    return name, tuple(t.shape), str(t.dtype)


def _iter_layers(model):
    for layer in getattr(model, "layers", []):
        yield layer
        if hasattr(layer, "layers"):
            yield from _iter_layers(layer)
        for attr in ("forward_layer", "backward_layer", "layer"):
            sub = getattr(layer, attr, None)
            if sub is not None and hasattr(sub, "get_config"):
                yield sub


def _known_onnx_failure(model, backend: str):
    """Name of a layer kind whose ONNX export is known to fail here, or None."""
    kinds = _KNOWN_ONNX_FAILURES.get(backend, ())
    for layer in _iter_layers(model):
        cls = type(layer).__name__
        if cls in kinds:
            return cls
        if "backward RNN" in kinds and getattr(layer, "go_backwards", False):
            return "backward RNN"
    return None


def _sample_inputs(sample_inputs, shape, dtype):
    """(x for verification with n >= 2, description)."""
    if sample_inputs is None:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(4, *[int(d) for d in shape[1:]])).astype(dtype)
        return x, "random normal inputs (seed 0), 4 examples"
    if hasattr(sample_inputs, "x") and hasattr(sample_inputs, "y"):  # a Dataset
        sample_inputs = sample_inputs.x
    x = np.asarray(sample_inputs)
    if x.dtype == object:
        raise ValueError("sample_inputs holds objects (file paths?); pass loaded arrays.")
    if x.ndim == len(shape) - 1:
        x = x[None]
    x = x[:MAX_VERIFY_EXAMPLES].astype(dtype)
    n = len(x)
    if n == 0:
        raise ValueError("sample_inputs is empty.")
    if n == 1:
        x = np.concatenate([x, x])
    return x, f"caller-provided inputs, {n} example(s)"


def _predict(model, x):
    out = model.predict(x, batch_size=len(x), verbose=0)
    if isinstance(out, (list, tuple)):
        out = out[0]
    return np.asarray(out)


def _load_keras(path):
    """Load a ``.keras`` file with keras_ecg's custom layers registered."""
    try:
        from keras_ecg.models import load_model
    except ImportError:
        with contextlib.suppress(ImportError):
            import keras_ecg.layers  # noqa: F401  (registers the custom layers)
        load_model = keras.saving.load_model
    return load_model(str(path))


# --------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------


def _batches(x):
    return (x[:1], x)


def _compare(fmt, outs, ref, atol):
    err = 0.0
    for o, r in zip(outs, _batches(ref)):
        o = np.asarray(o).reshape(r.shape)
        if not np.all(np.isfinite(o)):
            raise ExportVerificationError(f"{fmt}: the exported model returns NaN/inf.")
        err = max(err, float(np.max(np.abs(o.astype(np.float64) - r.astype(np.float64)))))
    if not err <= atol:
        raise ExportVerificationError(
            f"{fmt}: outputs differ from the Keras model by up to {err:.3g} (> atol={atol:g}) "
            f"on batch sizes 1 and {len(ref)}."
        )
    return err


def _verify_keras(path, x, ref, atol, input_name):
    reloaded = _load_keras(path)
    outs = [_predict(reloaded, b) for b in _batches(x)]
    return _compare("keras", outs, ref, atol)


def _verify_onnx(path, x, ref, atol, input_name):
    ort = _require("onnxruntime")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ins = sess.get_inputs()
    if len(ins) != 1:
        raise ExportVerificationError(f"onnx: graph has {len(ins)} inputs, expected 1.")
    if ins[0].name != input_name:
        raise ExportVerificationError(
            f"onnx: graph input is named {ins[0].name!r}, expected the Keras input name {input_name!r}."
        )
    if isinstance(ins[0].shape[0], int):
        raise ExportVerificationError(f"onnx: batch axis is fixed ({ins[0].shape}), expected dynamic.")
    outs = [sess.run(None, {input_name: b})[0] for b in _batches(x)]
    return _compare("onnx", outs, ref, atol)


def _verify_saved_model(path, x, ref, atol, input_name):
    tf = _require("tensorflow", "tensorflow")
    loaded = tf.saved_model.load(str(path))
    if "serving_default" not in loaded.signatures:
        raise ExportVerificationError("saved_model: no 'serving_default' signature.")
    fn = loaded.signatures["serving_default"]
    specs = fn.structured_input_signature[1]
    if list(specs) != [input_name]:
        raise ExportVerificationError(
            f"saved_model: signature inputs {list(specs)}, expected [{input_name!r}]."
        )
    if specs[input_name].shape[0] is not None:
        raise ExportVerificationError(
            f"saved_model: batch axis is fixed ({specs[input_name].shape}), expected dynamic."
        )
    outs = []
    for b in _batches(x):
        res = fn(**{input_name: tf.constant(b)})
        outs.append(next(iter(res.values())).numpy())
    return _compare("saved_model", outs, ref, atol)


_VERIFY = {"keras": _verify_keras, "onnx": _verify_onnx, "saved_model": _verify_saved_model}


# --------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------


def _write(model, fmt, path):
    if fmt == "keras":
        model.save(str(path))
    elif fmt == "saved_model":
        if keras.backend.backend() == "torch":
            raise NotImplementedError("SavedModel export is not supported on the torch backend.")
        _require("tensorflow", "tensorflow")
        model.export(str(path), format="tf_saved_model", verbose=False)
    elif fmt == "onnx":
        _require("onnx")
        _require({"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "torch"}[keras.backend.backend()])
        model.export(str(path), format="onnx", verbose=False)
    else:  # pragma: no cover - checked earlier
        raise ValueError(fmt)


def _export_one(model, fmt, stage, x, ref, atol, input_name):
    """Write ``fmt`` under a temporary name in ``stage``, verify, rename. Returns facts."""
    final = stage / FILE_NAMES[fmt]
    t0 = time.perf_counter()
    with _atomic.atomic_path(final) as tmp:
        _write(model, fmt, tmp)
        err = _VERIFY[fmt](tmp, x, ref, atol, input_name)
    return {
        "status": "ok",
        "file": FILE_NAMES[fmt],
        "max_abs_error": err,
        "batch_sizes": [1, int(len(x))],
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _short(e: BaseException, n: int = 400) -> str:
    s = f"{type(e).__name__}: {e}".strip().replace("\n", " ")
    return s if len(s) <= n else s[: n - 3] + "..."


def _run_tf_subprocess(keras_file, stage, formats, x, ref, atol, input_name, timeout):
    """Export ``formats`` from ``keras_file`` under TensorFlow in a child process."""
    inputs = stage / ".verify_inputs.npz"
    result = stage / ".subprocess_result.json"
    np.savez(inputs, x=x, ref=ref)
    env = dict(os.environ)
    env["KERAS_BACKEND"] = "tensorflow"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = str(pathlib.Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [
        sys.executable, "-m", "keras_ecg.export",
        "--keras", str(keras_file), "--out", str(stage), "--formats", *formats,
        "--inputs", str(inputs), "--atol", repr(atol), "--input-name", input_name,
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
        raise ExportError(
            f"TensorFlow export subprocess failed (exit {proc.returncode}):\n{tail}"
        )
    res = json.loads(result.read_text())
    result.unlink(missing_ok=True)
    res["_seconds"] = round(time.perf_counter() - t0, 2)
    return res


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def export(
    model,
    out_dir,
    formats=FORMATS,
    sample_inputs=None,
    card: dict | None = None,
    atol: float = 1e-4,
    *,
    fallback: bool = True,
    timeout: float = 600,
) -> dict:
    """Export ``model`` to ``out_dir`` in ``formats``, verify each file, write ``model_card.json``.

    Args:
        model: a built Keras model with one input (its ``Input`` name becomes
            the input name of the SavedModel signature and the ONNX graph).
        out_dir: destination folder (created). Existing files of the same
            names are replaced only after the whole export succeeded.
        formats: any of ``"keras"``, ``"saved_model"``, ``"onnx"``.
        sample_inputs: inputs to verify on (an array ``(n, ...)`` or a
            Dataset; at most 16 are used). Pass real test inputs; default:
            4 random-normal examples of the model's input shape.
        card: dataset-specific parts of the model card: ``classes``,
            ``preprocessing``, ``metrics``, ``training_data``, ``split``, any
            other JSON-able keys (kept as given; ``input`` is merged).
        atol: maximum absolute difference allowed between the Keras outputs
            and each exported artefact's outputs.
        fallback: when the backend's own exporter fails, export from the
            ``.keras`` file under TensorFlow in a subprocess.
        timeout: seconds allowed to the TensorFlow subprocess.

    Returns:
        The model card (also written to ``out_dir/model_card.json``), with
        ``paths``: ``{format: absolute path}``. ``card["export"][fmt]`` holds
        ``status``, ``path`` (``"native:<backend>"`` or
        ``"tensorflow-subprocess"``), ``max_abs_error``, ``batch_sizes``,
        ``seconds`` and, after a fallback, ``native_error``.

    Raises:
        ExportVerificationError: an artefact does not match the Keras outputs
            within ``atol`` (or lacks the named input / dynamic batch axis).
        ExportError: a format could not be exported on any path.
        ImportError: an optional dependency is missing (names the extra).
    """
    formats = tuple(dict.fromkeys(formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"Unknown export format(s) {bad}; choose from {FORMATS}.")
    backend = keras.backend.backend()
    input_name, input_shape, dtype = _single_input(model)
    x, x_desc = _sample_inputs(sample_inputs, input_shape, dtype)
    if len(x.shape) != len(input_shape) or any(
        d is not None and int(d) != s for d, s in zip(input_shape[1:], x.shape[1:])
    ):
        raise ValueError(f"sample_inputs have shape {x.shape[1:]}, the model takes {input_shape[1:]}.")
    ref = _predict(model, x)
    model(x[:1])  # some exporters need a model that has been called once

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = _atomic.temp_path(out_dir / "export")
    stage.mkdir()
    results = {}
    t_start = time.perf_counter()
    try:
        # .keras first: the other formats may need it for the fallback.
        need_keras = "keras" in formats or fallback
        if need_keras:
            results["keras"] = dict(_export_one(model, "keras", stage, x, ref, atol, input_name),
                                    path=f"native:{backend}")
        pending = []
        for fmt in formats:
            if fmt == "keras":
                continue
            reason = None
            if fmt == "saved_model" and backend == "torch":
                reason = "skipped: the torch backend cannot export a TF SavedModel"
            elif fmt == "onnx":
                known = _known_onnx_failure(model, backend)
                if known:
                    reason = f"skipped: {known} layers do not export to ONNX on {backend}"
            if reason is None:
                try:
                    results[fmt] = dict(_export_one(model, fmt, stage, x, ref, atol, input_name),
                                        path=f"native:{backend}")
                    continue
                except ImportError:
                    if not fallback:
                        raise
                    reason = "native exporter failed: missing dependency"
                except Exception as e:  # noqa: BLE001 - any failure may fall back
                    if not fallback:
                        raise
                    reason = _short(e)
            if not fallback:
                raise ExportError(f"{fmt}: {reason} (and fallback=False).")
            pending.append((fmt, reason))
        if pending:
            if backend == "tensorflow":
                # Already TensorFlow: the subprocess would fail the same way.
                raise ExportError(
                    "; ".join(f"{fmt} export failed on tensorflow: {r}" for fmt, r in pending)
                )
            sub = _run_tf_subprocess(stage / FILE_NAMES["keras"], stage, [f for f, _ in pending],
                                     x, ref, atol, input_name, timeout)
            for fmt, reason in pending:
                r = sub["formats"].get(fmt, {"status": "error", "error": "not reported"})
                if r.get("status") != "ok":
                    err = r.get("error", "unknown error")
                    cls = ExportVerificationError if r.get("verification") else ExportError
                    raise cls(f"{fmt}: native {backend} export: {reason}; TensorFlow fallback: {err}")
                results[fmt] = dict(r, path="tensorflow-subprocess", native_error=reason)
            for k, v in sub.get("versions", {}).items():
                results.setdefault("_subprocess_versions", {})[k] = v
        sub_versions = results.pop("_subprocess_versions", {})

        card_out = _card(model, card, backend, input_name, input_shape, dtype, formats,
                         results, atol, x_desc, sub_versions, time.perf_counter() - t_start)
        # Everything verified: move into place, model card last.
        _atomic.remove(out_dir / CARD_NAME)
        paths = {}
        for fmt in formats:
            paths[fmt] = str(_atomic.replace(stage / FILE_NAMES[fmt], out_dir / FILE_NAMES[fmt]).resolve())
        _atomic.write_json(out_dir / CARD_NAME, card_out)
    finally:
        _atomic.remove(stage)
    card_out["paths"] = paths
    return card_out


def _card(model, card, backend, input_name, input_shape, dtype, formats, results, atol,
          x_desc, sub_versions, seconds):
    card = dict(card or {})
    out_shape = [None if d is None else int(d) for d in model.outputs[0].shape]
    input_spec = {
        "name": input_name,
        "shape": [None if d is None else int(d) for d in input_shape],
        "dtype": dtype,
    }
    if isinstance(card.get("input"), dict):
        input_spec = {**card.pop("input"), **input_spec}
    versions = _versions(backend)
    for k, v in sub_versions.items():  # e.g. tensorflow, tf2onnx used by the fallback
        versions.setdefault(k, v)
    out = {
        "model_name": model.name,
        "classes": card.pop("classes", None),
        "input": input_spec,
        "output": {
            "shape": out_shape,
            "kind": "binary risk (sigmoid)" if out_shape[-1] == 1 else "class probabilities (softmax)",
        },
        "preprocessing": card.pop("preprocessing", None),
        "metrics": card.pop("metrics", None),
        "training_data": card.pop("training_data", None),
        "split": card.pop("split", None),
        "backend": backend,
        "versions": versions,
        "files": {f: FILE_NAMES[f] for f in formats},
        "export": {
            "atol": atol,
            "verified_on": x_desc,
            "seconds": round(seconds, 2),
            "formats": {f: results[f] for f in formats},
            "max_abs_error": {f: results[f]["max_abs_error"] for f in formats},
        },
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    for k, v in card.items():
        out.setdefault(k, v)
    return json.loads(json.dumps(out, default=_atomic._json_default))


# --------------------------------------------------------------------------
# Subprocess entry point: python -m keras_ecg.export
# --------------------------------------------------------------------------


def _main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m keras_ecg.export",
        description="Export a .keras file (under the current KERAS_BACKEND, normally "
        "tensorflow) to SavedModel/ONNX and verify it against reference outputs.",
    )
    p.add_argument("--keras", required=True, help=".keras file to load")
    p.add_argument("--out", required=True, help="folder to write the formats into")
    p.add_argument("--formats", nargs="+", default=["saved_model", "onnx"], choices=FORMATS)
    p.add_argument("--inputs", help="npz with x (inputs) and ref (expected outputs); "
                   "without it, random inputs and the reloaded model's outputs")
    p.add_argument("--atol", type=float, default=1e-4)
    p.add_argument("--input-name", default=None)
    p.add_argument("--result", help="write per-format results here (JSON)")
    args = p.parse_args(argv)

    model = _load_keras(args.keras)
    input_name, shape, dtype = _single_input(model)
    if args.input_name and args.input_name != input_name:
        print(f"warning: reloaded input name {input_name!r} != {args.input_name!r}", file=sys.stderr)
        input_name = args.input_name
    if args.inputs:
        data = np.load(args.inputs)
        x, ref = data["x"], data["ref"]
    else:
        x, _ = _sample_inputs(None, shape, dtype)
        ref = _predict(model, x)
    model(x[:1])
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {"backend": keras.backend.backend(), "formats": {}}
    for fmt in args.formats:
        try:
            res["formats"][fmt] = _export_one(model, fmt, out, x, ref, args.atol, input_name)
        except Exception as e:  # noqa: BLE001 - reported to the parent
            res["formats"][fmt] = {
                "status": "error",
                "error": _short(e, 1000),
                "verification": isinstance(e, ExportVerificationError),
            }
    res["versions"] = _versions(keras.backend.backend())
    text = json.dumps(res, indent=2, default=_atomic._json_default)
    if args.result:
        _atomic.write_text(args.result, text)
    else:
        print(text)
    return 0 if all(r["status"] == "ok" for r in res["formats"].values()) else 1


class _CallableModule(type(sys)):
    """``keras_ecg.export`` is both this module and the function: importing the
    submodule rebinds the package attribute to the module, so the module itself
    forwards calls to :func:`export`."""

    def __call__(self, *args, **kwargs):
        return export(*args, **kwargs)


if __name__ == "__main__":
    sys.exit(_main())
else:
    sys.modules[__name__].__class__ = _CallableModule
