"""The served models: each MODEL loaded once (per worker) with :func:`keras_ecg.deploy.runtime.load`."""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from keras_ecg.errors import DataError


@dataclasses.dataclass
class Served:
    name: str  # the name a request gives (?model=NAME)
    source: str  # what was given on the command line
    model: object  # has keras.Model's predict(x, batch_size, verbose): what predict_paths calls
    card: object  # keras_ecg.card.ModelCard
    runtime: str  # "onnxruntime", "keras/<backend>", or a bundle's runtimes
    bundle: bool
    classifier: object = None  # keras_ecg.deploy.runtime.Classifier (or Bundle): what `keras-ecg annotate` runs
    _keras: object = None  # the Keras model for gradients (explain), loaded when first asked for

    def keras_model(self):
        """The Keras model (a bundle: its Keras members) `keras-ecg explain` loads: gradients need Keras, so an
        ONNX-served model loads its Keras twin once, at the first explanation."""
        if self._keras is None:
            if self.runtime.startswith("keras/") and not self.bundle:
                self._keras = self.model
            else:
                from keras_ecg.deploy import predict as P
                from keras_ecg.deploy.pretrained import resolve

                self._keras = P.load(resolve(self.source))[0]
        return self._keras

    def describe(self) -> dict:
        """The model's card as ``GET /v1/models`` gives it."""
        c = self.card
        cal = c.calibration
        return {"name": self.name, "class_names": list(c.class_names or []), "input_kind": c.input_kind,
                "binary": bool(c.binary), "metrics": dict(c.metrics or {}),
                "calibration": None if cal is None else {"method": cal.method, "ece": cal.ece_after,
                                                         "uncertain_below": cal.uncertain_below},
                "bundle": self.bundle, "runtime": self.runtime}


class _Adapter:
    """An ONNX Runtime :class:`keras_ecg.deploy.runtime.Classifier` behind keras.Model's ``predict``."""

    def __init__(self, clf):
        self.clf = clf

    def predict(self, x, batch_size=None, verbose=0):  # noqa: ARG002 - keras.Model's signature
        return np.asarray(self.clf.predict(list(x) if isinstance(x, (list, tuple)) else [x]), dtype=np.float64)


def name_of(source: str) -> str:
    """``pretrained:NAME`` -> NAME; a path -> its folder's name (a ``.keras`` file: the folder it is in)."""
    if source.startswith("pretrained:"):
        return source.split(":", 1)[1]
    p = pathlib.Path(source)
    if p.suffix == ".keras":
        p = p.parent
    return p.resolve().name or "model"


def load(source: str, runtime: str = "auto") -> Served:
    """One served model: with ``runtime="auto"`` the card's ONNX twin in onnxruntime when there is one, else
    Keras; ``"keras"``: the Keras model, as ``keras-ecg predict`` runs it (the same outputs to the last bit)."""
    from keras_ecg.deploy import bundle
    from keras_ecg.deploy import runtime as R

    got = R.load(source, runtime)
    if isinstance(got, bundle.Bundle):
        return Served(name_of(source), source, got, got.card, got.runtime, True, got)
    model = got.model if got.model is not None else _Adapter(got)  # Keras: the very model `keras-ecg predict` uses
    return Served(name_of(source), source, model, got.card, got.runtime, False, got)


def load_all(sources, runtime: str = "auto") -> dict:
    """``{name: Served}``; two models with the same name are an error naming both."""
    out = {}
    for s in sources:
        m = load(s, runtime)
        if m.name in out:
            raise DataError(f"{s}: a second model named {m.name!r} (first: {out[m.name].source}); "
                            "serve models from differently named folders")
        out[m.name] = m
    return out
