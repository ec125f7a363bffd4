"""Shipped pretrained models: ``saved_models/<name>/`` (a ``.keras`` file, its ONNX twin, ``model_card.json``).

    keras_ecg.list_pretrained()    # ['ecg_pages_4class', 'ecg_pages_5class', 'ecg_pages_risk', 'mitbih_beats']
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
# names of models no longer shipped -> what replaced them and why
RETIRED = {
    "ecg_images_panels": "ecg_pages_5class (the panel model never recognised MI, history of MI or COVID-19 on "
                         "pages it had not seen)",
    "ecg_risk": "ecg_pages_risk (a bundle with calibration, better on the grouped CV)",
}


def root() -> pathlib.Path:
    """The folder that holds the pretrained models."""
    env = os.environ.get("KERAS_ECG_PRETRAINED")
    return pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parents[2] / "saved_models"


def list_pretrained() -> list:
    """Names of the shipped models (sub-folders of :func:`root` with a model card)."""
    base = root()
    if not base.is_dir():
        return []
    from keras_ecg.deploy import bundle

    return sorted(p.name for p in base.iterdir()
                  if (p / C.CARD_NAME).is_file() and (any(p.glob("*.keras")) or bundle.is_bundle(p)))


def model_path(name: str) -> pathlib.Path:
    """The ``.keras`` file of the pretrained model ``name`` (a bundle: its folder); a :class:`DataError` names
    close matches, or what replaced a retired model."""
    from keras_ecg.deploy import bundle

    names = list_pretrained()
    if name in RETIRED and name not in names:
        raise DataError(f"pretrained:{name}: retired; use pretrained:{RETIRED[name]}")
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else (f"; shipped: {', '.join(names)}" if names else
                                                            f"; none found in {root()}")
        raise DataError(f"pretrained:{name}: no such pretrained model{hint}")
    folder = root() / name
    return folder if bundle.is_bundle(folder) else sorted(folder.glob("*.keras"))[0]


def resolve(model) -> str:
    """A model argument as the CLI takes it: ``pretrained:NAME`` becomes that model's path; others unchanged."""
    text = str(model)
    return str(model_path(text[len(PREFIX):])) if text.startswith(PREFIX) else text


def card(name: str) -> C.ModelCard:
    """The model card of the pretrained model ``name``."""
    path = model_path(name)
    return C.read(path / C.CARD_NAME if path.is_dir() else path.with_name(C.CARD_NAME))


def pretrained(name: str, compile: bool = False):  # noqa: A002 - keras's own keyword
    """The pretrained model ``name`` as a ``keras.Model`` (imports keras; the backend is chosen first); a bundle
    of several models as its :class:`keras_ecg.deploy.bundle.Bundle` (``predict_pages(files)``)."""
    path = model_path(name)
    if path.is_dir():
        from keras_ecg.deploy import bundle

        return bundle.load(path, "keras")
    from keras_ecg.models import load_model

    return load_model(str(path), compile=compile)
