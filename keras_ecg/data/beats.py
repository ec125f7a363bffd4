"""The beat representation shared by training, predict and whole-record annotation.

A :class:`BeatSpec` says how a beat becomes model input: the rate, the window
around the R peak (by default 0.25 s before to 0.45 s after, so the P wave is
inside), the leads, the filter, the per-beat normalisation and the RR features
(:mod:`keras_ecg.data.rr`), and optionally the patient's own recent beats: with
``template_beats=K`` every lead gets a second channel holding the mean of the
K beats before this one (causal: past beats only, no labels), so the model can
compare a beat with the patient's usual beat rather than with other patients'.
With ``rr_log`` (the default) the model gets the natural log of the RR features
(intervals and ratios alike), which puts early and late beats symmetrically
around 0. With ``shape=True`` the second input also carries the shape features
of :mod:`keras_ecg.data.shape` (how the beat's P, QRS and T regions differ from
the patient's causal template, lead 0), after the RR features.
:func:`beat_inputs` applies it to a recording and a
list of R peaks: the training loader calls it with the reference annotations,
predict and annotate with detected peaks, so the inputs are built by the same
code in both places. The spec is stored in the model card's preprocessing
(:meth:`BeatSpec.to_dict`) and read back with :meth:`BeatSpec.from_dict`.

Lead policy (:func:`choose_leads`), for each lead the spec asks for, in this
order of preference: the lead of that exact name (case and spaces ignored);
else a known alias, in the order listed (``MLII`` -> ``II``, ``ML2``...;
``V1`` -> ``MLV1``, ``V1-V2``), so a 12-lead record gives lead II for MLII,
never lead I; else, for the first lead only, a generic single channel name
(``ECG``, ``ECG1``, ``ECG 1``, ``CH1``); else the closest-named lead: a name
that holds the wanted name as a word (``ECG MLII``, ``MLII (mV)``) or differs
from it by little (difflib ratio >= 0.8), never another standard lead (``III``
is not ``II``); else, where the caller allows it (``fallback=True``: the
MIT-BIH training loader, whose records 102/104 lack MLII, reported in
``meta["lead_fallback"]``), the recording's first unused lead; otherwise a
:class:`~keras_ecg.errors.DataError` naming the recording and its leads (predict
takes ``--lead NAME`` to choose one). With ``secondary_fallback`` (the card's
``secondary_lead_fallback``), a lead after the first that a recording lacks is
read from its first unused lead instead (MIT-BIH records 100, 103, 117, 123 have
V5 or V2 where most have V1); the first lead never falls back in predict. The
lead used is returned for every recording and reported.

Fiducial point: with ``align`` (the card's ``align_peaks``), every given peak,
reference or detected, is first moved to the detector's own fiducial
(:func:`keras_ecg.data.signal.refine_peaks`: the largest deflection of the
5-15 Hz band-passed first lead within 75 ms), so that a beat is cut at the same
point whether its position came from an annotation or from the detector; the RR
features are computed from the moved peaks.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_ecg.data import rr as _rr
from keras_ecg.data import shape as _shape
from keras_ecg.data import signal as _signal
from keras_ecg.errors import DataError

LEAD_ALIASES = {
    "MLII": ("MLII", "II", "ML2", "ML II", "LEAD II", "II+"),
    "II": ("II", "MLII", "ML2", "ML II", "LEAD II"),
    "V1": ("V1", "MLV1", "V1-V2"),
}
GENERIC_LEADS = ("ECG", "ECG1", "ECG 1", "ECG0", "CH1", "SIGNAL", "SIG0")
NORMALIZE = (None, "zscore")
FILTERS = (None, "bandpass")


@dataclasses.dataclass(frozen=True)
class BeatSpec:
    """How a beat becomes model input (see the module doc)."""

    fs: float = 360.0
    before_s: float = 0.25
    after_s: float = 0.45
    leads: tuple = ("MLII",)
    filter: str | None = "bandpass"
    normalize: str | None = "zscore"
    rr: bool = True
    template_beats: int = 0
    rr_log: bool = True
    local_beats: int = _rr.LOCAL_BEATS
    baseline_s: float = _rr.BASELINE_S
    shape: bool = False
    align: bool = False
    secondary_fallback: bool = False
    rr_context: bool = False  # the rhythm-context RR features too (rr.RR_CONTEXT_NAMES)

    def __post_init__(self):
        object.__setattr__(self, "leads", tuple(self.leads))
        if self.fs <= 0 or self.before_s < 0 or self.after_s <= 0:
            raise ValueError(f"beat spec: fs, after_s must be > 0 and before_s >= 0; got {self}.")
        if not self.leads:
            raise ValueError("beat spec: at least one lead is needed.")
        if self.normalize not in NORMALIZE:
            raise ValueError(f"beat spec: normalize must be one of {NORMALIZE}; got {self.normalize!r}.")
        if self.template_beats < 0:
            raise ValueError(f"beat spec: template_beats must be >= 0; got {self.template_beats}.")
        if self.filter not in FILTERS:
            raise ValueError(f"beat spec: filter must be one of {FILTERS}; got {self.filter!r}.")

    @property
    def before(self) -> int:
        """Samples before the R peak, at ``fs``."""
        return int(round(self.before_s * self.fs))

    @property
    def window(self) -> int:
        """Samples per beat, at ``fs``."""
        return self.before + int(round(self.after_s * self.fs))

    @property
    def input_shape(self) -> tuple:
        return (self.window, len(self.leads) * (2 if self.template_beats else 1))

    @property
    def rr_names(self) -> list:
        if not self.rr:
            return []
        return list(_rr.RR_FEATURE_NAMES) + (list(_rr.RR_CONTEXT_NAMES) if self.rr_context else [])

    @property
    def shape_names(self) -> list:
        return list(_shape.SHAPE_FEATURE_NAMES) if self.shape else []

    @property
    def extra_names(self) -> list:
        """Features of the second model input (named ``rr``): the RR features, then the shape features."""
        return self.rr_names + self.shape_names

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["leads"] = list(self.leads)
        d.update(window=self.window, before=self.before, rr_features=self.rr_names)
        return d

    def to_card(self) -> dict:
        """The model card's waveform preprocessing (:class:`keras_ecg.card.WaveformPreprocessing`) keys."""
        return {"fs": float(self.fs), "before": self.before, "after": self.window - self.before,
                "leads": list(self.leads), "filter": self.filter, "normalize": self.normalize,
                "rr_features": self.rr_names, "rr_baseline_s": float(self.baseline_s) if self.rr else None,
                "rr_local_beats": int(self.local_beats) if self.rr else None, "rr_log": bool(self.rr and self.rr_log),
                "template_beats": int(self.template_beats), "shape_features": self.shape_names,
                "align_peaks": bool(self.align), "secondary_lead_fallback": bool(self.secondary_fallback)}

    @classmethod
    def from_card(cls, prep) -> "BeatSpec":
        """The spec a model card's waveform preprocessing describes (the inverse of :meth:`to_card`)."""
        fs = float(prep.fs)
        rr = bool(prep.rr_features)
        context = rr and list(prep.rr_features) == list(_rr.RR_FEATURE_NAMES) + list(_rr.RR_CONTEXT_NAMES)
        if rr and not context and list(prep.rr_features) != list(_rr.RR_FEATURE_NAMES):
            raise ValueError(f"RR features {prep.rr_features} are not the ones this version computes "
                             f"({', '.join(_rr.RR_FEATURE_NAMES)}, optionally then {', '.join(_rr.RR_CONTEXT_NAMES)}).")
        shape = list(getattr(prep, "shape_features", None) or [])
        if shape and shape != list(_shape.SHAPE_FEATURE_NAMES):
            raise ValueError(f"shape features {shape} are not the ones this version computes "
                             f"({', '.join(_shape.SHAPE_FEATURE_NAMES)}).")
        return cls(fs=fs, before_s=prep.before / fs, after_s=prep.after / fs, leads=tuple(prep.leads),
                   filter=prep.filter, normalize=prep.normalize, rr=rr,
                   template_beats=int(getattr(prep, "template_beats", 0) or 0),
                   rr_log=bool(getattr(prep, "rr_log", False)),
                   local_beats=int(getattr(prep, "rr_local_beats", None) or _rr.LOCAL_BEATS),
                   baseline_s=float(getattr(prep, "rr_baseline_s", None) or _rr.BASELINE_S), shape=bool(shape),
                   align=bool(getattr(prep, "align_peaks", False)),
                   secondary_fallback=bool(getattr(prep, "secondary_lead_fallback", False)), rr_context=context)

    @classmethod
    def from_dict(cls, d: dict) -> "BeatSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _norm(name) -> str:
    return str(name).strip().upper()


STANDARD_LEADS = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6", "MLII", "MLIII",
                  "MLI", "ML2", "ML3", "MLV1", "MLV2", "MLV3", "MLV4", "MLV5", "MLV6")


def _closest(want: str, names, chosen) -> int | None:
    """The lead named closest to ``want`` (see the module doc), or None."""
    import difflib
    import re

    free = [(i, n) for i, n in enumerate(names) if i not in chosen and n not in STANDARD_LEADS]
    word = [i for i, n in free if want in re.split(r"[^A-Z0-9]+", n)]
    if word:
        return word[0]
    scored = [(difflib.SequenceMatcher(None, want, n).ratio(), -i, i) for i, n in free]
    best = max(scored, default=None)
    return best[2] if best and best[0] >= 0.8 else None


def choose_leads(available, wanted, where: str = "record", fallback: bool = False,
                 secondary_fallback: bool = False) -> list:
    """Indices into ``available`` for each lead in ``wanted`` (see the module doc's policy).

    ``fallback``: any lead may fall back to the first unused one; ``secondary_fallback``:
    only the leads after the first may (the first lead must be found)."""
    names = [" ".join(_norm(a).split()) for a in available]
    chosen = []
    for k, lead in enumerate(wanted):
        want = " ".join(_norm(lead).split())
        options = [want, *(_norm(a) for a in LEAD_ALIASES.get(want, ()))]
        if k == 0:
            options += list(GENERIC_LEADS)
        idx = next((names.index(o) for o in options if o in names and names.index(o) not in chosen), None)
        if idx is None:
            idx = _closest(want, names, chosen)
        if idx is None and (fallback or (secondary_fallback and k > 0)):
            idx = next((i for i in range(len(names)) if i not in chosen), None)
        if idx is None:
            raise DataError(f"{where}: no lead {lead!r} (nor an alias of it) among its leads "
                            f"{list(available)}; name the lead to use explicitly (predict: --lead NAME).")
        chosen.append(idx)
    return chosen


def beat_inputs(signal, fs: float, peaks, spec: BeatSpec, lead_names=None, where: str = "record",
                fallback: bool = False):
    """Model inputs for the beats at ``peaks`` of one recording.

    Args:
        signal: (samples, leads) or (samples,) array in physical units at ``fs``.
        peaks: R-peak sample indices at ``fs`` (reference or detected), increasing.
        spec: the :class:`BeatSpec`.
        lead_names: names of the signal's leads (default ``spec.leads`` when the
            signal has exactly those leads).

    Returns ``(beats, rr, keep, leads_used)``: ``beats`` (m, window, channels) float32
    (channels: the leads, then with ``template_beats`` each lead's template),
    ``rr`` (m, features) float32 or None (the RR features, then with ``shape`` the
    shape features: :attr:`BeatSpec.extra_names`), ``keep`` the boolean mask of ``peaks`` whose
    window fits inside the recording (the RR features use every peak), and the
    names of the leads used.

    :func:`cut_beats` and :func:`finish_beats` are its two halves, which
    :mod:`keras_ecg.data.chunked` applies to a long recording piece by piece.
    """
    x = np.asarray(signal, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    if lead_names is None:
        lead_names = list(spec.leads) if x.shape[1] == len(spec.leads) else [f"ECG{i + 1}" for i in range(x.shape[1])]
    idx = choose_leads(lead_names, spec.leads, where, fallback, spec.secondary_fallback)
    x = x[:, idx]
    if not np.isfinite(x).all():
        bad = ~np.isfinite(x)
        raise DataError(f"{where}: {int(bad.sum())} non-finite samples, first at sample "
                        f"{int(np.argmax(bad.any(axis=1)))}.")
    peaks = np.asarray(peaks, dtype=np.int64)
    if spec.align:  # the detector's fiducial, on the first lead as recorded: reference and detected peaks agree
        peaks = _signal.refine_peaks(x[:, 0], fs, peaks)
    beats, keep = cut_beats(x, fs, peaks, spec)
    rr = rr_rows(peaks, fs, spec)
    beats, extra, _ = finish_beats(beats, None if rr is None else rr[keep], spec)
    return beats, extra, keep, [str(lead_names[i]) for i in idx]


def cut_beats(x, fs: float, peaks, spec: BeatSpec, offset: int = 0, total: int | None = None):
    """The spec's filtered (and resampled) windows around ``peaks``: ``(beats (m, window, leads) float32, keep)``.

    ``x`` (samples, leads) holds the spec's leads; it may be the piece of a recording of
    ``total`` samples that starts at sample ``offset`` (a multiple of the resampling's
    ``down``, :func:`keras_ecg.data.signal.resample_ratio`), with ``peaks`` counted from the
    recording's start: ``keep`` marks the peaks whose window fits inside the recording, and
    each of them must fit inside the piece.
    """
    total = len(x) if total is None else int(total)
    if spec.filter == "bandpass":
        x = _signal.bandpass(x, fs, axis=0)
    if fs != spec.fs:
        x = _signal.resample(x, fs, spec.fs, axis=0)
        r = _signal.resample_index(peaks, fs, spec.fs)
        up, down = _signal.resample_ratio(fs, spec.fs)
        if offset % down:
            raise ValueError(f"a piece of a recording must start at a multiple of {down} samples; got {offset}")
        offset, total = offset // down * up, -(-total * up // down)
    else:
        r = peaks
    start = r - spec.before
    keep = (start >= 0) & (start + spec.window <= total)
    first = start[keep] - offset
    if len(first) and (first.min() < 0 or first.max() + spec.window > len(x)):
        raise ValueError("a beat window runs past the piece of the recording it was cut from")
    return x[first[:, None] + np.arange(spec.window)], keep  # (m, window, leads)


def rr_rows(peaks, fs: float, spec: BeatSpec) -> np.ndarray | None:
    """The spec's RR features (with ``rr_context`` the context ones too; logged with ``rr_log``) of every one
    of ``peaks``, or None without ``rr``."""
    if not spec.rr:
        return None
    rr = _rr.rr_features(peaks, fs, spec.local_beats, spec.baseline_s)
    if spec.rr_context:
        rr = np.concatenate([rr, _rr.rr_context(peaks, fs)], axis=1)
    return np.log(rr) if spec.rr_log else rr


def finish_beats(beats, rr, spec: BeatSpec, history=None):
    """Cut beats (:func:`cut_beats`) as the model takes them: ``(beats, extra, history)``.

    Shape features (from the filtered beats), the per-beat normalisation and the template
    channels; ``rr`` holds the beats' RR rows (:func:`rr_rows`). The templates and shape
    features compare a beat with the beats before it: ``history`` (what the previous call
    returned, for the beats just before these ones; None at the start of a recording)
    carries them from one piece of a recording to the next.
    """
    old_raw, old_z = (None, None) if history is None else history
    k_shape = spec.template_beats or _shape.TEMPLATE_BEATS
    shape, raw0 = None, None
    if spec.shape:  # on the filtered beats before z-scoring: the amplitude ratio is part of the difference
        raw0 = beats[..., 0]
        shape = _shape.shape_features(raw0, _templates(raw0, old_raw, k_shape), spec.before, spec.fs)
    if spec.normalize == "zscore":
        beats = _signal.zscore(beats, axis=1)
    z = beats
    if spec.template_beats:
        beats = np.concatenate([beats, _templates(beats, old_z, spec.template_beats)], axis=-1)
    extra = []
    if rr is not None:
        extra.append(rr)
    if shape is not None:
        extra.append(shape)
    extra = np.concatenate(extra, axis=1).astype(np.float32) if extra else None
    history = (_last(raw0, old_raw, k_shape) if spec.shape else None,
               _last(z, old_z, spec.template_beats) if spec.template_beats else None)
    return beats.astype(np.float32), extra, history


def _templates(beats, before, k):
    """:func:`running_template` of ``beats`` continuing the beats ``before`` them (None: none)."""
    if before is None or len(before) == 0:
        return running_template(beats, k)
    return running_template(np.concatenate([before, beats]), k)[len(before):]


def _last(beats, before, k):
    """The last ``k`` beats of ``before`` followed by ``beats``."""
    both = beats if before is None or len(before) == 0 else np.concatenate([before, beats])
    return np.array(both[len(both) - min(int(k), len(both)):], dtype=np.float32)


def running_template(beats, k: int) -> np.ndarray:
    """The mean of the ``k`` beats before each beat (the first beat: itself), same shape as ``beats``."""
    beats = np.asarray(beats, dtype=np.float64)
    if len(beats) == 0:
        return beats.astype(np.float32)
    c = np.concatenate([np.zeros_like(beats[:1]), np.cumsum(beats, axis=0)])
    i = np.arange(len(beats))
    lo = np.maximum(i - int(k), 0)
    out = (c[i] - c[lo]) / np.maximum(i - lo, 1).reshape(-1, *([1] * (beats.ndim - 1)))
    out[0] = beats[0]
    return out.astype(np.float32)
