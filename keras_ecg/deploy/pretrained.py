"""Shipped pretrained models: ``saved_models/<name>/`` (a ``.keras`` file, its ONNX twin, ``model_card.json``).

    keras_ecg.list_pretrained()                  # ['ecg_images_panels', 'ecg_risk', 'mitbih_beats']
    model = keras_ecg.pretrained("mitbih_beats")  # a keras.Model, offline, on any backend
    keras-ecg annotate pretrained:mitbih_beats record --out DIR

The folder is ``$KERAS_ECG_PRETRAINED`` when set, else ``saved_models/`` of the
checkout this package lives in. Everything here reads local files only.
``saved_models/make_pretrained.py`` regenerates each model from scratch.
"""

from __future__ import annotations

import difflib
import os
import pathlib

from keras_ecg import card as C
from keras_ecg.errors import DataError

PREFIX = "pretrained:"


def root() -> pathlib.Path:
    """The folder that holds the pretrained models."""
    env = os.environ.get("KERAS_ECG_PRETRAINED")
    return pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parents[2] / "saved_models"


def list_pretrained() -> list:
    """Names of the shipped models (sub-folders of :func:`root` with a model card)."""
    base = root()
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / C.CARD_NAME).is_file() and any(p.glob("*.keras")))


def model_path(name: str) -> pathlib.Path:
    """The ``.keras`` file of the pretrained model ``name``; a :class:`DataError` names close matches."""
    names = list_pretrained()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else (f"; shipped: {', '.join(names)}" if names else
                                                            f"; none found in {root()}")
        raise DataError(f"pretrained:{name}: no such pretrained model{hint}")
    return sorted((root() / name).glob("*.keras"))[0]


def resolve(model) -> str:
    """A model argument as the CLI takes it: ``pretrained:NAME`` becomes that model's path; others unchanged."""
    text = str(model)
    return str(model_path(text[len(PREFIX):])) if text.startswith(PREFIX) else text


def card(name: str) -> C.ModelCard:
    """The model card of the pretrained model ``name``."""
    return C.read(model_path(name).with_name(C.CARD_NAME))


def pretrained(name: str, compile: bool = False):  # noqa: A002 - keras's own keyword
    """The pretrained model ``name`` as a ``keras.Model`` (imports keras; the backend is chosen first)."""
    from keras_ecg.models import load_model

    return load_model(str(model_path(name)), compile=compile)
