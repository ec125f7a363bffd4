"""A model bundle: several models that read one page, shipped and used as ONE model (one folder, one card).

    keras-ecg predict pretrained:ecg_pages_5class page.jpg        # or a bundle folder of --bundle
    b = keras_ecg.pretrained("ecg_pages_5class"); b.predict_pages(["page.jpg"])

The folder holds ``model_card.json`` (with its ``bundle`` part, :class:`keras_ecg.card.Bundle`) and one
sub-folder per member: a Keras member's ``.keras``, its verified ONNX twin and its own card; a classical
member's ``model.skops`` (scikit-learn, loaded by skops with only the trusted types of
:data:`keras_ecg.training.template_baseline.TRUSTED`: no pickle runs). Every member reads the page through its
own preprocessing (:func:`page_inputs`: the page image; the 12 leads digitised once and shared by every
member that reads them), its outputs are put in one form (a binary task's risk) and averaged with equal
weights, and the card's calibration and uncertainty threshold, fitted on the mean on the validation side,
apply to that mean exactly as to a single model's outputs. :class:`Bundle` answers ``predict(inputs)`` like a
Keras model or a :class:`keras_ecg.deploy.runtime.Classifier`, so predict, evaluate, calibrate and explain take
it where they take a model.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from keras_ecg import card as C
from keras_ecg.errors import DataError


def card_path(path) -> pathlib.Path | None:
    """The bundle card of ``path`` (a bundle folder or its ``model_card.json``), or None when it is no bundle."""
    p = pathlib.Path(path)
    cand = p / C.CARD_NAME if p.is_dir() else p if p.name == C.CARD_NAME else None
    if cand is None or not cand.is_file():
        return None
    try:
        import json

        return cand if isinstance(json.loads(cand.read_text(encoding="utf-8")).get("bundle"), dict) else None
    except (OSError, ValueError, AttributeError):
        return None


def member_files(folder, members) -> dict:
    """The card's ``files`` of a bundle in ``folder``: ``{"<member>/<keras|onnx|skops|card>": "<member>/<file>"}``."""
    folder, files = pathlib.Path(folder), {}
    for m in members:
        for f in sorted((folder / m.folder).iterdir()):
            if f.suffix in (".keras", ".onnx", ".skops") or f.name == C.CARD_NAME:
                files[f"{m.folder}/{'card' if f.name == C.CARD_NAME else f.suffix.lstrip('.')}"] = f"{m.folder}/{f.name}"
    return files


def is_bundle(path) -> bool:
    return card_path(path) is not None


def _digitized(paths, orientation: str = "auto") -> np.ndarray:
    from keras_ecg.data.images import preprocess_image

    return np.stack([preprocess_image(str(p), preprocess="digitized", orientation=orientation) for p in paths])


def page_inputs(paths, card, orientation: str = "auto") -> list:
    """One array per member of ``card``'s bundle for the pages ``paths``: each member's own input (a classical
    member's feature rows); the digitised leads are read once (``orientation``: as in
    :func:`keras_ecg.data.images.digitize.digitize_page`)."""
    from keras_ecg.data.images import preprocess_image
    from keras_ecg.data.images.preprocess import DIGITIZED_FS
    from keras_ecg.training import template_baseline as TB

    digitized = None
    out = []
    for m in card.bundle.members:
        prep = m.preprocessing
        if m.kind == "classical" or prep.preprocess == "digitized":
            if digitized is None:
                try:
                    digitized = _digitized(paths, orientation)
                except (OSError, ValueError) as e:
                    raise DataError(str(e).splitlines()[0]) from None
            out.append(TB.features(digitized, DIGITIZED_FS, m.name) if m.kind == "classical" else digitized)
            continue
        kw = {k: v for k, v in (("image_size", prep.image_size),
                                ("panel_size", tuple(prep.panel_size) if prep.panel_size else None)) if v}
        try:
            out.append(np.stack([preprocess_image(str(p), preprocess=prep.preprocess, **kw) for p in paths]))
        except (OSError, ValueError) as e:
            raise DataError(str(e).splitlines()[0]) from None
    return out


def _classical(path, member, num_classes):
    from keras_ecg.training import template_baseline as TB

    model = TB.load(path / member.folder / "model.skops")
    cols = list(member.columns)

    def run(inputs, batch=None):
        x = np.asarray(inputs[0], np.float32)
        full = np.zeros((len(x), num_classes), np.float64)
        if len(x):
            full[:, cols] = model.predict_proba(x)
        return full

    return run


@dataclasses.dataclass
class Bundle:
    """A loaded bundle: ``predict(inputs)`` -> the raw mean of its members (calibrate with the card)."""

    card: C.ModelCard
    path: pathlib.Path  # the bundle folder
    runs: list  # one callable per member: [member input] -> probabilities
    runtime: str
    keras_models: dict = dataclasses.field(default_factory=dict)  # member name -> keras.Model (keras runtime)
    graph: str = ""

    def member_outputs(self, inputs) -> list:
        """Each member's outputs in the one form they are averaged in."""
        if len(inputs) != len(self.runs):
            raise DataError(f"{self.path}: {len(inputs)} inputs for a bundle of {len(self.runs)} members")
        from keras_ecg.evaluation.calibration import as_one_form

        return [as_one_form(run([x]), self.card.binary) for run, x in zip(self.runs, inputs)]

    def predict(self, inputs, batch_size=None, verbose=0) -> np.ndarray:  # noqa: ARG002 - keras.Model's signature
        return np.mean(self.member_outputs(list(inputs)), axis=0)

    __call__ = predict

    def predict_pages(self, paths) -> np.ndarray:
        """Calibrated probabilities (a binary task: the risk) of the page files ``paths``."""
        from keras_ecg.evaluation.calibration import calibrated

        return calibrated(self.predict(page_inputs(list(paths), self.card)), self.card.calibration)[0]

    def page_member(self):
        """``(index, keras.Model, member)`` of the first member reading the page image (for Grad-CAM)."""
        for i, m in enumerate(self.card.bundle.members):
            if m.kind == "keras" and m.input_kind in ("image", "panels") and m.name in self.keras_models:
                return i, self.keras_models[m.name], m
        raise DataError(f"{self.path}: this bundle has no page-image member loaded with Keras to explain")


def load(path, runtime: str = "keras") -> Bundle:
    """The bundle at ``path``; Keras members run on the active backend (``keras``) or in ONNX Runtime where
    their card lists an ONNX twin (``auto``, ``onnx``)."""
    from keras_ecg.deploy import runtime as R

    cpath = card_path(path)
    if cpath is None:
        raise DataError(f"{path}: not a model bundle (no model_card.json with a bundle part)")
    card = C.read(cpath)
    card.require("class_names", "input_kind", source=str(cpath))
    folder = cpath.parent
    runs, models, used = [], {}, set()
    for m in card.bundle.members:
        sub = folder / m.folder
        if not sub.is_dir():
            raise DataError(f"{sub}: member {m.name} of the bundle {folder} is missing")
        if m.kind == "classical":
            runs.append(_classical(folder, m, len(card.class_names) if not card.binary else 2))
            used.add("scikit-learn")
            continue
        clf = R.load(sub, "keras" if runtime == "keras" else runtime)
        runs.append(clf.predict)
        used.add(clf.runtime)
        if clf.runtime.startswith("keras"):
            models[m.name] = clf.model
    return Bundle(card, folder, runs, " + ".join(sorted(used)), models)
