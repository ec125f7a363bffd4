"""The model card's ``rhythm`` part (:class:`RhythmConfig`); :mod:`keras_ecg.card` reads and writes it,
:func:`keras_ecg.rhythm.analyze` applies it.

This module imports neither keras nor numpy.
"""

from __future__ import annotations

import dataclasses

from keras_ecg.errors import CardError

__all__ = ["RhythmConfig", "AF_DETECTORS", "AF_RULES"]

AF_DETECTORS = ("irregularity", "cosen")
AF_RULES = ("no_s_in_af", "none")


def _f(default, help: str):  # noqa: A002
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True)
class RhythmConfig:
    """Whole-record rhythm analysis of a beat model: the AF detector, the beat rule in AF, episode limits."""

    af_detector: str = _f("irregularity", help="'irregularity' (lagged median RR irregularity) or 'cosen' "
                                               "(Lake & Moorman 2011)")
    af_threshold: float = _f(0.07, help="the detector's value above which a beat's window reads as AF")
    af_merge_s: float = _f(10.0, help="AF stretches closer than this many seconds are one episode")
    af_min_s: float = _f(30.0, help="AF stretches shorter than this are not reported")
    af_rule: str = _f("no_s_in_af", help="'no_s_in_af': beats inside AF are not called S (their S probability "
                                         "goes to N); 'none': the model's classes")
    pause_s: float = _f(2.0, help="an RR interval longer than this is a pause")
    brady_bpm: float = _f(50.0, help="sustained rate below this: bradycardia")
    tachy_bpm: float = _f(100.0, help="sustained rate above this: tachycardia")
    sustained_s: float = _f(30.0, help="how long a rate must last to be an episode")
    rate_beats: int = _f(8, help="RR intervals the rate is taken over")
    vt_bpm: float = _f(100.0, help="a run of 3+ V beats at this rate or more is ventricular tachycardia")
    pattern_cycles: int = _f(3, help="cycles in a row that make bigeminy or trigeminy")

    def check(self, source: str = "model card") -> None:
        if self.af_detector not in AF_DETECTORS:
            raise CardError(f"{source}: field rhythm.af_detector: {self.af_detector!r} is not one of "
                            f"{', '.join(AF_DETECTORS)}")
        if self.af_rule not in AF_RULES:
            raise CardError(f"{source}: field rhythm.af_rule: {self.af_rule!r} is not one of {', '.join(AF_RULES)}")
        for name in ("af_min_s", "pause_s", "brady_bpm", "tachy_bpm", "sustained_s", "vt_bpm"):
            if not getattr(self, name) > 0:
                raise CardError(f"{source}: field rhythm.{name}: must be > 0, got {getattr(self, name)!r}")
        if self.rate_beats < 1 or self.pattern_cycles < 1:
            raise CardError(f"{source}: field rhythm: rate_beats and pattern_cycles must be >= 1")

    def to_card(self) -> dict:
        return dataclasses.asdict(self)
