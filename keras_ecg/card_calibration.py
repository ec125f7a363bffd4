"""The model card's ``calibration`` part (:class:`Calibration`); :mod:`keras_ecg.card` reads and writes it.

This module imports neither keras nor numpy.
"""

from __future__ import annotations

import dataclasses

from keras_ecg.errors import CardError

__all__ = ["Calibration", "METHODS"]

METHODS = ("temperature", "platt", "none")


def _f(default, help: str):  # noqa: A002
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class Calibration:
    """How raw outputs become calibrated probabilities, and when an output is flagged uncertain.

    Fitted on the validation side after training (never the test side);
    :func:`keras_ecg.evaluation.calibration.calibrated` applies it.
    """

    method: str = _f("temperature", help="'temperature' (softmax(log p / T), sigmoid(logit r / T)), 'platt' "
                                         "(binary: sigmoid(a logit r + b)) or 'none'")
    temperature: float = _f(1.0, help="the temperature T (method temperature)")
    platt: list[float] | None = _f(None, help="[a, b] of Platt scaling (method platt)")
    fitted_on: str = _f("validation", help="the data the calibration and the threshold were fitted on")
    fitted_items: int = _f(0, help="number of outputs they were fitted on")
    ece_before: float | None = _f(None, help="expected calibration error (15 bins) on fitted_on, raw outputs")
    ece_after: float | None = _f(None, help="the same after calibration")
    brier_before: float | None = _f(None, help="Brier score on fitted_on, raw outputs")
    brier_after: float | None = _f(None, help="the same after calibration")
    uncertain_below: float | None = _f(None, help="outputs whose calibrated confidence (probability of the "
                                                  "predicted class) is below this are flagged uncertain; null: none")
    target_accuracy: float | None = _f(None, help="accuracy on kept outputs the threshold was chosen for")
    target_met: bool = _f(False, help="whether the threshold reached target_accuracy on fitted_on")
    kept_fraction: float | None = _f(None, help="fraction of fitted_on outputs kept (not uncertain)")
    kept_accuracy: float | None = _f(None, help="accuracy of the kept outputs on fitted_on")

    def check(self, source: str, binary: bool) -> None:
        """A :class:`CardError` naming ``source`` and the field when the values disagree."""
        if self.method not in METHODS:
            raise CardError(f"{source}: field calibration.method: {self.method!r} is not one of "
                            f"{', '.join(METHODS)}")
        if self.method == "platt" and (not binary or not self.platt or len(self.platt) != 2):
            raise CardError(f"{source}: field calibration.platt: Platt scaling needs a binary model and [a, b]")
        if not self.temperature > 0:
            raise CardError(f"{source}: field calibration.temperature: {self.temperature} is not positive")
        if self.uncertain_below is not None and not 0 <= self.uncertain_below <= 1:
            raise CardError(f"{source}: field calibration.uncertain_below: {self.uncertain_below} is not in [0, 1]")
