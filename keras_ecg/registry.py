"""Model registry: ``build(name, ...)``, ``list_models(pattern)``, ``register_model``.

Builders are plain functions registered under a name; their keyword arguments
are the model's whole configuration. Model modules are imported on first use,
so importing the registry does not import keras.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib

_MODEL_MODULES = (
    "keras_ecg.models.cnn",
    "keras_ecg.models.recurrent",
    "keras_ecg.models.hybrid",
    "keras_ecg.models.resnet",
    "keras_ecg.models.image",
    "keras_ecg.models.attention_vgg",
    "keras_ecg.models.multi_panel",
)

# The built-in models and their input kinds, known without importing keras (the
# backend is chosen after a recipe has checked its model names). A test checks
# that this table matches what the model modules register.
BUILTIN_KINDS = {
    "cnn1d": "waveform",
    "lstm": "waveform",
    "bilstm": "waveform",
    "gru": "waveform",
    "attention_lstm": "waveform",
    "cnn_lstm": "waveform",
    "cnn_bilstm": "waveform",
    "cnn_attention_lstm": "waveform",
    "resnet1d": "waveform",
    "cnn2d": "image",
    "cnn_lstm2d": "image",
    "attention_vgg": "image",
    "td_cnn": "panels",
    "panel_attention_lstm": "panels",
    "cnn3d": "panels",
}

_REGISTRY: dict = {}
_loaded = False


def register_model(name=None, *, input_kind="waveform"):
    """Decorator that registers a builder under ``name`` (default: its own name).

    ``input_kind`` is ``"waveform"`` (batch, T, C), ``"image"`` (batch, H, W, C)
    or ``"panels"`` (batch, L, H, W, C); it is used to check input ranks.
    """

    def wrap(fn):
        key = name or fn.__name__
        if key in _REGISTRY and _REGISTRY[key]["fn"] is not fn:
            raise ValueError(f"A model named {key!r} is already registered.")
        _REGISTRY[key] = {"fn": fn, "input_kind": input_kind}
        fn.model_name = key
        return fn

    return wrap


INPUT_RANKS = {"waveform": 2, "image": 3, "panels": 4}
INPUT_LAYOUTS = {"waveform": "(T, C)", "image": "(H, W, C)", "panels": "(L, H, W, C)"}


def _load():
    global _loaded
    if not _loaded:
        for mod in _MODEL_MODULES:
            importlib.import_module(mod)
        _loaded = True


def _kinds() -> dict:
    """``{name: input kind}`` of every model known so far, without importing keras."""
    return {**BUILTIN_KINDS, **{k: v["input_kind"] for k, v in _REGISTRY.items()}}


def list_models(pattern: str = "*", input_kind: str | None = None) -> list:
    """Sorted names of registered models matching a shell-style ``pattern`` (imports no keras)."""
    return sorted(
        k
        for k, v in _kinds().items()
        if fnmatch.fnmatch(k, pattern) and (input_kind is None or v == input_kind)
    )


def _unknown(name: str, known) -> KeyError:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return KeyError(f"Unknown model {name!r}.{hint} Known models: {', '.join(sorted(known))}.")


def input_kind(name: str) -> str:
    """The input kind (waveform, image or panels) of a registered model (imports no keras)."""
    kinds = _kinds()
    if name not in kinds:
        raise _unknown(name, kinds)
    return kinds[name]


def _entry(name: str) -> dict:
    _load()
    if name not in _REGISTRY:
        raise _unknown(name, _REGISTRY)
    return _REGISTRY[name]


def build(name: str, input_shape, num_classes: int = 2, **overrides):
    """Build registered model ``name`` as an uncompiled ``keras.Model``.

    Args:
        name: a name from :func:`list_models`.
        input_shape: shape of one example without the batch axis.
        num_classes: number of classes of the softmax head (ignored when
            ``binary=True``, which gives one sigmoid unit).
        **overrides: any other argument of the builder; ``members=N`` (N > 1)
            gives an ensemble of N copies whose outputs are averaged
            (:mod:`keras_ecg.models.ensemble`).
    """
    members = int(overrides.pop("members", 1) or 1)
    if members < 1:
        raise ValueError(f"Model {name!r}: members must be at least 1 (got {members}).")
    if members > 1:
        from keras_ecg.models.ensemble import average

        copies = [build(name, input_shape, num_classes, **overrides) for _ in range(members)]
        return average(copies, name=f"{copies[0].name}_x{members}")
    entry = _entry(name)
    kind = entry["input_kind"]
    input_shape = tuple(input_shape)
    if len(input_shape) != INPUT_RANKS[kind]:
        raise ValueError(
            f"Model {name!r} takes {kind} input of shape {INPUT_LAYOUTS[kind]} "
            f"(without the batch axis); got input_shape={input_shape} of rank {len(input_shape)}."
        )
    if any(d is not None and int(d) <= 0 for d in input_shape):
        raise ValueError(f"Model {name!r}: input_shape {input_shape} has a non-positive size.")
    if not overrides.get("binary") and int(num_classes) < 2:
        raise ValueError(
            f"Model {name!r}: num_classes must be at least 2 (got {num_classes}); "
            "use binary=True for a single risk probability."
        )
    return entry["fn"](input_shape=input_shape, num_classes=int(num_classes), **overrides)
