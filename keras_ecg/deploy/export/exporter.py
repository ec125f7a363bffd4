""":func:`export`: write every format into a staging folder, verify each, rename, write the card.

:func:`export` writes, into ``out_dir``:

* ``model.keras`` (``model.save``),
* ``saved_model/`` (``model.export(..., format="tf_saved_model")``),
* ``model.onnx`` (``model.export(..., format="onnx")``: tf2onnx on TensorFlow,
  jax2onnx on JAX, ``torch.onnx`` on PyTorch),
* ``model_card.json`` (:class:`keras_ecg.card.ModelCard`), written last: its
  presence marks a complete export.

Where the active backend cannot export a format, the ``.keras`` file is
exported under TensorFlow in a subprocess (:mod:`.tf_fallback`); the card
records which path each format took. Everything is written into a hidden
staging folder inside ``out_dir`` and renamed into place only once all formats
passed, so a failed or interrupted export leaves nothing under the final names.
"""

from __future__ import annotations

import datetime
import json
import pathlib
import time

import keras

from keras_ecg import _atomic
from keras_ecg import card as C
from keras_ecg.deploy.export import verify as V
from keras_ecg.deploy.export.writers import FILE_NAMES, FORMATS, export_one, known_failure, short
from keras_ecg.errors import CardError, ExportError

__all__ = ["export"]

# Card fields the caller may give; export fills in the rest from the model and the export itself.
CALLER_FIELDS = ("class_names", "binary", "input_kind", "preprocessing", "model", "model_args",
                 "training_data", "metrics", "recipe", "precision", "calibration", "rhythm")


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
        model: a built Keras model (its ``Input`` names become the input names
            of the SavedModel signature and the ONNX graph).
        out_dir: destination folder (created). Existing files of the same
            names are replaced only after the whole export succeeded.
        formats: any of ``"keras"``, ``"saved_model"``, ``"onnx"``.
        sample_inputs: inputs to verify on: an array ``(n, ...)`` (one input),
            a list of arrays or a dict by input name, or a Dataset (at most 16
            examples are used). Pass real test inputs; default: 4
            random-normal examples of the model's input shapes.
        card: the caller's part of the model card (:data:`CALLER_FIELDS`):
            ``class_names``, ``binary``, ``input_kind``, ``preprocessing`` (a
            dataclass of :mod:`keras_ecg.card` or a data loader's dict),
            ``model`` and ``model_args`` (the builder; ``input_shape`` and
            ``num_classes`` are filled in from the model when missing),
            ``training_data`` (``{source, synthetic, split}``), ``metrics``,
            ``recipe``, ``precision``. Any other key is a :class:`CardError`.
        atol: maximum absolute difference allowed between the Keras outputs
            and each exported artefact's outputs.
        fallback: when the backend's own exporter fails, export from the
            ``.keras`` file under TensorFlow in a subprocess.
        timeout: seconds allowed to the TensorFlow subprocess.

    Returns:
        The model card as written (``ModelCard.to_dict()``), plus ``paths``:
        ``{format: absolute path}``. ``card["export"]["formats"][fmt]`` holds
        ``status``, ``file``, ``path`` (``"native:<backend>"`` or
        ``"tensorflow-subprocess"``), ``max_abs_error``, ``batch_sizes``,
        ``seconds`` and, after a fallback, ``native_error``.

    Raises:
        ExportVerificationError: an artefact does not match the Keras outputs
            within ``atol`` (or lacks the named inputs / dynamic batch axis).
        ExportError: a format could not be exported on any path.
        CardError: ``card`` holds an unknown key, a wrong type, or disagrees
            with the model (class count, binary output).
        ImportError: an optional dependency is missing (names the extra).
    """
    formats = tuple(dict.fromkeys(formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"Unknown export format(s) {bad}; choose from {FORMATS}.")
    backend = keras.backend.backend()
    specs = V.model_inputs(model)
    names = [n for n, _, _ in specs]
    given = _caller_card(card, model)
    x, x_desc = V.sample_inputs(sample_inputs, specs)
    _card(model, given, specs, backend, (), {}, atol, x_desc, {}, 0.0)  # a bad card fails before any work
    ref = V.predict(model, x)
    model(x[0][:1] if len(x) == 1 else [a[:1] for a in x])  # some exporters need a model called once

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = _atomic.temp_path(out_dir / "export")
    stage.mkdir()
    t_start = time.perf_counter()
    try:
        results, sub_versions = _export_all(model, formats, stage, x, ref, atol, names, backend, fallback,
                                            timeout)
        card_out = _card(model, given, specs, backend, formats, results, atol, x_desc, sub_versions,
                         time.perf_counter() - t_start)
        # Everything verified: move into place, model card last.
        _atomic.remove(out_dir / C.CARD_NAME)
        paths = {}
        for fmt in formats:
            paths[fmt] = str(_atomic.replace(stage / FILE_NAMES[fmt], out_dir / FILE_NAMES[fmt]).resolve())
        C.write(out_dir / C.CARD_NAME, card_out)
    finally:
        _atomic.remove(stage)
    return {**card_out.to_dict(), "paths": paths}


def _export_all(model, formats, stage, x, ref, atol, names, backend, fallback, timeout):
    """``({format: result}, versions reported by the TensorFlow subprocess)``."""
    results = {}
    # .keras first: the other formats may need it for the fallback.
    if "keras" in formats or fallback:
        results["keras"] = dict(export_one(model, "keras", stage, x, ref, atol, names), path=f"native:{backend}")
    pending = []
    for fmt in formats:
        if fmt == "keras":
            continue
        reason = known_failure(model, fmt, backend)
        if reason is None:
            try:
                results[fmt] = dict(export_one(model, fmt, stage, x, ref, atol, names), path=f"native:{backend}")
                continue
            except ImportError:
                if not fallback:
                    raise
                reason = "native exporter failed: missing dependency"
            except Exception as e:  # noqa: BLE001 - any failure may fall back
                if not fallback:
                    raise
                reason = short(e)
        if not fallback:
            raise ExportError(f"{fmt}: {reason} (and fallback=False).")
        pending.append((fmt, reason))
    if not pending:
        return results, {}
    if backend == "tensorflow":  # already TensorFlow: the subprocess would fail the same way
        raise ExportError("; ".join(f"{fmt} export failed on tensorflow: {r}" for fmt, r in pending))
    from keras_ecg.deploy.export import tf_fallback

    sub = tf_fallback.run(stage / FILE_NAMES["keras"], stage, [f for f, _ in pending], x, ref, atol, names,
                          timeout)
    for fmt, reason in pending:
        r = sub["formats"].get(fmt, {"status": "error", "error": "not reported"})
        if r.get("status") != "ok":
            cls = V.ExportVerificationError if r.get("verification") else ExportError
            raise cls(f"{fmt}: native {backend} export: {reason}; TensorFlow fallback: "
                      f"{r.get('error', 'unknown error')}")
        results[fmt] = dict(r, path="tensorflow-subprocess", native_error=reason)
    return results, dict(sub.get("versions", {}))


def _caller_card(card, model) -> dict:
    """The caller's card fields, checked, with the builder's input_shape/num_classes completed."""
    given = dict(card or {})
    unknown = [k for k in given if k not in CALLER_FIELDS]
    if unknown:
        raise CardError(f"export card: field {unknown[0]}: not a field the caller gives (give "
                        f"{', '.join(CALLER_FIELDS)}; export fills in the rest)")
    prep = given.get("preprocessing")
    if isinstance(prep, dict):
        kind = given.get("input_kind")
        if kind is None:
            raise CardError("export card: field input_kind: needed with a preprocessing dict")
        given["preprocessing"] = C.preprocessing_from(kind, prep, source="export card")
    if given.get("model"):
        margs = dict(given.get("model_args") or {})
        margs.setdefault("input_shape", [None if d is None else int(d) for d in model.inputs[0].shape[1:]])
        width = int(model.outputs[0].shape[-1])
        names = given.get("class_names")
        margs.setdefault("num_classes", len(names) if names else max(width, 2))
        given["model_args"] = margs
    return given


def _card(model, given, specs, backend, formats, results, atol, x_desc, sub_versions, seconds) -> C.ModelCard:
    from keras_ecg.deploy.export.tf_fallback import exporter_versions

    def dims(shape):
        return [None if d is None else int(d) for d in shape]

    out_shape = dims(model.outputs[0].shape)
    versions = exporter_versions(backend)
    for k, v in sub_versions.items():  # e.g. tensorflow, tf2onnx used by the fallback
        versions.setdefault(k, v)
    facts = {
        "card_version": C.CARD_VERSION,
        "name": model.name,
        "inputs": [{"name": n, "shape": dims(s), "dtype": d} for n, s, d in specs],
        "output": {"shape": out_shape, "kind": "sigmoid" if out_shape[-1] == 1 else "softmax"},
        "binary": out_shape[-1] == 1,
        "backend": backend,
        "versions": versions,
        "files": {f: FILE_NAMES[f] for f in formats},
        "export": {
            "atol": atol,
            "verified_on": x_desc,
            "seconds": round(seconds, 2),
            "formats": {f: results[f] for f in formats},
        },
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    d = {**facts, **{k: _plain(v) for k, v in given.items()}}
    return C.ModelCard.from_dict(json.loads(json.dumps(d, default=_atomic._json_default)), source="export card")


def _plain(v):
    """Dataclasses (typed card parts) as dicts; other values as given."""
    import dataclasses

    return dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v
