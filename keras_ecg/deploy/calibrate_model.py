"""``keras-ecg calibrate MODEL DATA...``: fit a saved model's calibration and uncertainty threshold afterwards.

    keras-ecg calibrate MODEL ../shared/data/mitdb/205 ../shared/data/mitdb/220 --target-accuracy 0.95

For models trained before calibration existed, or calibrated on other data: the
labelled ``DATA`` (read as ``keras-ecg evaluate`` reads it) must be the model's
validation side, never the data its figures are reported on. The fit
(:func:`keras_ecg.evaluation.calibration.fit`) goes into the model card's
``calibration`` field; the card names the data.

Where the card goes: with ``--out DIR``, a calibrated copy (the model's files and the new card) in
``DIR``; without it, the card beside the model is rewritten. A shipped pretrained model (one under
:func:`keras_ecg.deploy.pretrained.root`, e.g. ``pretrained:NAME``) is never rewritten: it needs
``--out``, outside that folder. Either folder is locked and staged as the other commands' outputs
(:mod:`keras_ecg.deploy.output_folder`).

    keras-ecg calibrate pretrained:mitbih_beats ../shared/data/mitdb/205 --out calibrated/
"""

from __future__ import annotations

import pathlib
import shutil

from keras_ecg import card as C
from keras_ecg.deploy import pretrained as PT
from keras_ecg.deploy.evaluate_data import labelled
from keras_ecg.errors import DataError, RunError
from keras_ecg.evaluation import calibration as CAL

__all__ = ["calibrate"]


def _inside(path, folder) -> bool:
    return pathlib.Path(path).resolve().is_relative_to(pathlib.Path(folder).resolve())


def _target(classifier, card_path, out) -> pathlib.Path:
    """The folder the calibrated card goes to; a :class:`RunError` for one under the shipped models."""
    shipped = PT.root()
    if out is None and _inside(card_path, shipped):
        raise RunError(f"{classifier.path}: a shipped pretrained model (under {shipped}), never rewritten; give "
                       "--out DIR for a calibrated copy")
    if out is not None and _inside(out, shipped):
        raise RunError(f"--out {out}: inside the shipped pretrained models' folder {shipped}; choose a folder "
                       "outside it")
    return card_path.parent if out is None else pathlib.Path(out)


def _copy_model(classifier, card, stage: pathlib.Path) -> list:
    """The model file and the files its card names (ONNX twin, ...) copied into ``stage``."""
    path = pathlib.Path(classifier.path)
    names = dict.fromkeys([path.name, *card.files.values()])
    copied = []
    for name in names:
        src = path.with_name(name)
        if src.is_dir():
            shutil.copytree(src, stage / name)
        elif src.is_file():
            shutil.copyfile(src, stage / name)
        else:
            continue
        copied.append(stage / name)
    return copied


def calibrate(classifier, data, method: str = "temperature", target_accuracy: float | None = 0.95, out=None,
              log=print):
    """Fit on ``data`` (labelled paths); write the card beside ``classifier``'s model, or a calibrated copy of the
    model in ``out``; ``(calibration, card path, skipped items)``."""
    if method == "platt" and not classifier.card.binary:
        raise DataError(f"{classifier.path}: --method platt is for binary (one risk output) models; use temperature")
    card_path = C.find(classifier.path)
    target = _target(classifier, card_path, out)
    from keras_ecg.deploy.output_folder import writing

    with writing(target, "calibrate", log) as o:
        _, x, y, _, skipped, _ = labelled(classifier, data)
        where = ", ".join(str(d) for d in data)
        try:
            cal = CAL.fit(classifier(x), y, method, target_accuracy, fitted_on=f"{where} (keras-ecg calibrate)")
        except ValueError as e:
            raise DataError(f"{where}: {e}") from None
        card = C.read(card_path)
        card.calibration = cal
        if out is not None:
            o.add("model", _copy_model(classifier, card, o.stage))
        o.add("model", [C.write(o.stage / C.CARD_NAME, card)])
    return cal, target / C.CARD_NAME, skipped
