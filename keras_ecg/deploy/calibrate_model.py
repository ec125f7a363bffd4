"""``keras-ecg calibrate MODEL DATA...``: fit a saved model's calibration and uncertainty threshold afterwards.

    keras-ecg calibrate MODEL ../shared/data/mitdb/205 ../shared/data/mitdb/220 --target-accuracy 0.95

For models trained before calibration existed, or calibrated on other data: the
labelled ``DATA`` (read as ``keras-ecg evaluate`` reads it) must be the model's
validation side, never the data its figures are reported on. The fit
(:func:`keras_ecg.evaluation.calibration.fit`) goes into the model card's
``calibration`` field, which is rewritten atomically; the card names the data.
"""

from __future__ import annotations

from keras_ecg import card as C
from keras_ecg.deploy.evaluate_data import labelled
from keras_ecg.errors import DataError
from keras_ecg.evaluation import calibration as CAL

__all__ = ["calibrate"]


def calibrate(classifier, data, method: str = "temperature", target_accuracy: float | None = 0.95):
    """Fit on ``data`` (labelled paths), write the card beside ``classifier``'s model; ``(calibration, card path)``."""
    if method == "platt" and not classifier.card.binary:
        raise DataError(f"{classifier.path}: --method platt is for binary (one risk output) models; use temperature")
    _, x, y, _, skipped, _ = labelled(classifier, data)
    where = ", ".join(str(d) for d in data)
    try:
        cal = CAL.fit(classifier(x), y, method, target_accuracy, fitted_on=f"{where} (keras-ecg calibrate)")
    except ValueError as e:
        raise DataError(f"{where}: {e}") from None
    path = C.find(classifier.path)
    card = C.read(path)
    card.calibration = cal
    C.write(path, card)
    return cal, path, skipped
