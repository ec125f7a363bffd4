"""The model card (``model_card.json``): a typed, versioned description of an exported model.

:func:`keras_ecg.export` writes it (last, atomically) beside the exported files;
predict reads it with :func:`read` to preprocess inputs exactly as in training.
Every field has one type; a card that is malformed, has a field of the wrong
type, an unknown field, or comes from another schema version raises
:class:`~keras_ecg.errors.CardError` naming the file and the field. Cards
written before ``card_version`` existed are refused with a message asking to
re-export the model: they lack the builder arguments, so they cannot be
completed safely.

Preprocessing is typed per input kind (:data:`PREPROCESSING`): one dataclass
each, whose fields are the keys. Adding a key is one line in that dataclass
(with a default, so version-1 cards without it still read).

This module imports neither keras nor numpy.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import types
import typing
from typing import Any

from keras_ecg import _atomic
from keras_ecg.card_calibration import Calibration
from keras_ecg.card_rhythm import RhythmConfig
from keras_ecg.errors import CardError

__all__ = [
    "CARD_VERSION",
    "CARD_NAME",
    "ModelCard",
    "InputSpec",
    "OutputSpec",
    "WaveformPreprocessing",
    "ImagePreprocessing",
    "TrainingData",
    "Release",
    "DataLicence",
    "ExportInfo",
    "FormatResult",
    "Calibration",
    "PREPROCESSING",
    "preprocessing_from",
    "read",
    "write",
    "find",
]

CARD_VERSION = 1
CARD_NAME = "model_card.json"


def _f(default=dataclasses.MISSING, help: str = "", factory=dataclasses.MISSING):  # noqa: A002
    """A dataclass field with one line of help."""
    return dataclasses.field(default=default, default_factory=factory, metadata={"help": help})


# ----------------------------------------------------------------------------- parts


@dataclasses.dataclass
class InputSpec:
    name: str = _f(help="the Keras input name (also the SavedModel/ONNX input name)")
    shape: list[int | None] = _f(help="shape with the batch axis first (null = any size)")
    dtype: str = _f("float32", help="dtype of the input tensor")


@dataclasses.dataclass
class OutputSpec:
    shape: list[int | None] = _f(help="shape with the batch axis first")
    kind: str = _f(help="'softmax' (class probabilities) or 'sigmoid' (risk of class_names[1])")


@dataclasses.dataclass
class WaveformPreprocessing:
    """How a beat (input kind ``waveform``) is cut from a recording and scaled."""

    fs: float = _f(help="sampling rate the model sees (Hz); recordings are resampled to it")
    before: int = _f(help="samples (at fs) before the R peak in a beat window")
    after: int = _f(help="samples (at fs) from the R peak to the end of the window")
    leads: list[str] = _f(help="leads, in channel order", factory=lambda: ["MLII"])
    filter: str | None = _f(None, help="filter applied to the recording before cutting ('bandpass' or null)")
    normalize: str | None = _f(None, help="per-beat normalisation (e.g. 'zscore'), or null")
    rr_features: list[str] = _f(help="names of the RR features of the second input, in order ([] = none)",
                                factory=list)
    rr_baseline_s: float | None = _f(None, help="seconds of preceding beats the RR features are relative to")
    rr_local_beats: int | None = _f(None, help="pre-RR intervals averaged into the local RR feature")
    rr_log: bool = _f(False, help="the model takes the natural log of the RR features")
    template_beats: int = _f(0, help="each lead also gets the mean of the previous N beats as a channel (0: no)")
    shape_features: list[str] = _f(help="names of the shape features after the RR features in the second input "
                                        "(keras_ecg.data.shape; [] = none)", factory=list)
    align_peaks: bool = _f(False, help="each R peak is moved to the detector's fiducial (largest 5-15 Hz "
                                       "deflection within 75 ms) before cutting (keras_ecg.data.signal.refine_peaks)")
    secondary_lead_fallback: bool = _f(False, help="a lead after the first that a record lacks is read from its "
                                                   "first unused lead (recorded in leads_used)")
    leads_used: dict | None = _f(None, help="training records -> the leads actually read (lead policy fallbacks)")
    format: str = _f("wfdb", help="'wfdb': beats cut around R peaks; 'kaggle_csv': rows of the Kaggle CSVs")
    mi_indices: list[int] | None = _f(None, help="window samples kept by mutual-information selection, or null")

    @property
    def window(self) -> int:
        """Samples per beat, at ``fs``."""
        return self.before + self.after

    @property
    def num_samples(self) -> int:
        """Samples per beat the model takes (after any mutual-information selection)."""
        return len(self.mi_indices) if self.mi_indices else self.window


@dataclasses.dataclass
class ImagePreprocessing:
    """How an ECG page becomes model input (input kinds ``image`` and ``panels``)."""

    preprocess: str = _f(help="'page', 'panels', 'grid_removed', 'crop', 'degrid', 'binary' or 'digitized' "
                              "(keras_ecg.data.images.preprocess_image)")
    image_size: int | None = _f(None, help="side of the square image (page, grid_removed)")
    panel_size: list[int] | None = _f(None, help="(height, width) of each lead panel (panels)")
    layout: str | None = _f(None, help="page layout the panels were cut from (e.g. '3x4+1'), if known")
    num_panels: int | None = _f(None, help="number of lead panels (panels)")


PREPROCESSING = {"waveform": WaveformPreprocessing, "image": ImagePreprocessing, "panels": ImagePreprocessing,
                 "digitized": ImagePreprocessing}  # digitized: 12 leads read off the page, (T, 12) mV


@dataclasses.dataclass
class TrainingData:
    source: str = _f(help="where the training data came from (dataset, folder, download)")
    synthetic: bool = _f(False, help="true when the model was trained on synthetic data (a pipeline demo)")
    split: str | None = _f(None, help="how train and test were split (e.g. inter-patient), or the test split's name")


@dataclasses.dataclass
class DataLicence:
    dataset: str = _f(help="the training data set")
    licence: str = _f(help="its licence (e.g. 'ODC-By 1.0', 'CC BY 4.0')")
    citations: list[str] = _f(help="the references its licence asks users to cite", factory=list)


@dataclasses.dataclass
class Release:
    """What a shipped (pretrained) model is for, what its figures mean, and the data's terms."""

    name: str = _f(help="the pretrained name (keras_ecg.pretrained(name), pretrained:NAME on the command line)")
    intended_use: str = _f(help="what the model is for")
    metrics_split: str = _f(help="the split the card's metrics were measured on")
    regenerate: str = _f(help="the command that retrains this model from scratch")
    limitations: list[str] = _f(help="known limits and shortcuts of the model and its data", factory=list)
    data_licences: list[DataLicence] = _f(help="licence and citations of each training data set", factory=list)
    check: dict[str, Any] = _f(help="a small real-data subset and the figures measured on it when the model was "
                                    "made ({data, items, accuracy, macro_f1, tolerance}); the tests re-measure them",
                               factory=dict)


@dataclasses.dataclass
class FormatResult:
    status: str = _f(help="'ok'")
    file: str = _f(help="file name in the export folder")
    path: str = _f(help="'native:<backend>' or 'tensorflow-subprocess' (the TensorFlow fallback)")
    max_abs_error: float = _f(help="largest difference from the Keras outputs on the verification inputs")
    batch_sizes: list[int] = _f(help="batch sizes verified")
    seconds: float = _f(help="time to write and verify")
    native_error: str | None = _f(None, help="why the backend's own exporter was not used (after a fallback)")


@dataclasses.dataclass
class ExportInfo:
    atol: float = _f(help="tolerance every format was verified to")
    verified_on: str = _f(help="what the verification inputs were")
    seconds: float = _f(help="time of the whole export")
    formats: dict[str, FormatResult] = _f(help="per format: how it was written and verified", factory=dict)


@dataclasses.dataclass
class BundleMember:
    """One model of a bundle (:mod:`keras_ecg.deploy.bundle`), in its own sub-folder of the bundle."""

    name: str = _f(help="the member's model (a registry name, or a classical model of "
                        "keras_ecg.training.template_baseline)")
    folder: str = _f(help="its sub-folder: a Keras member's .keras, ONNX twin and card; a classical member's "
                          "model.skops")
    kind: str = _f(help="'keras' or 'classical'")
    input_kind: str = _f(help="what it reads off a page: 'image', 'panels' or 'digitized'")
    preprocessing: ImagePreprocessing = _f(help="how a page becomes its input")
    columns: list[int] = _f(help="a classical member: the class index of each of its probability columns",
                            factory=list)


@dataclasses.dataclass
class Bundle:
    """Several models that read one page and are combined into one prediction (the mean of their outputs)."""

    members: list[BundleMember] = _f(help="the models, each in its sub-folder")
    combine: str = _f("mean", help="how the outputs are combined: 'mean' (equal weights; a binary task's risks)")
    validation: str = _f("", help="the validation side that chose the epochs and fitted the calibration")


@dataclasses.dataclass
class ModelCard:
    """Everything needed to use an exported model (see the model card table of docs/guide/export.md)."""

    name: str = _f(help="the Keras model's name")
    inputs: list[InputSpec] = _f(help="every named input of the model, in order")
    output: OutputSpec = _f(help="the output tensor")
    backend: str = _f(help="Keras backend the model was exported from")
    versions: dict[str, str | None] = _f(help="python, keras_ecg, keras, numpy, framework, exporters")
    files: dict[str, str] = _f(help="{format: file name}")
    export: ExportInfo = _f(help="verification results")
    created: str = _f(help="UTC time of the export")
    class_names: list[str] | None = _f(None, help="class names, index = output column (binary: [negative, positive])")
    binary: bool = _f(False, help="true when the model outputs one risk probability (sigmoid)")
    input_kind: str | None = _f(None, help="'waveform', 'image', 'panels' or 'digitized' (selects the "
                                           "preprocessing type)")
    preprocessing: WaveformPreprocessing | ImagePreprocessing | None = _f(
        None, help="how inputs are built from raw data; its type depends on input_kind")
    model: str | None = _f(None, help="registry builder name (keras_ecg.build(model, **model_args))")
    model_args: dict[str, Any] = _f(help="the builder's arguments, input_shape and num_classes included",
                                    factory=dict)
    training_data: TrainingData | None = _f(None, help="where the training data came from and how it was split")
    metrics: dict[str, float | None] = _f(help="test figures (e.g. accuracy, macro_f1)", factory=dict)
    recipe: str | None = _f(None, help="recipe that trained the model")
    precision: str | None = _f(None, help="training precision policy (e.g. float32, mixed_float16)")
    release: Release | None = _f(None, help="shipped models: intended use, limitations, data licences")
    calibration: Calibration | None = _f(None, help="calibration and uncertainty threshold fitted on the "
                                                    "validation side (null: raw outputs, nothing flagged)")
    rhythm: RhythmConfig | None = _f(None, help="whole-record rhythm analysis of a beat model: AF detector, the "
                                                "beat rule in AF, episode limits (null: the defaults, beat classes "
                                                "as the model gives them)")
    bundle: Bundle | None = _f(None, help="a bundle of several models read as one (null: one Keras model)")
    card_version: int = _f(CARD_VERSION, help="schema version of this card")

    def to_dict(self) -> dict:
        """The JSON object written to ``model_card.json`` (``card_version`` first)."""
        d = dataclasses.asdict(self)
        return {"card_version": d.pop("card_version"), **d}

    @classmethod
    def from_dict(cls, d, source: str = "model card") -> ModelCard:
        """A card from its JSON object; :class:`CardError` names ``source`` and the field on any problem."""
        if not isinstance(d, dict):
            raise CardError(f"{source}: expected a JSON object, got {type(d).__name__}")
        if "card_version" not in d:
            raise CardError(f"{source}: an unversioned model card from an older keras_ecg; re-export the model "
                            f"(rerun its recipe or call keras_ecg.export) to write a card_version {CARD_VERSION} "
                            "card")
        version = d["card_version"]
        if version != CARD_VERSION:
            if isinstance(version, int) and not isinstance(version, bool) and version > CARD_VERSION:
                raise CardError(f"{source}: card_version {version} was written by a newer keras_ecg; this one "
                                f"reads card_version {CARD_VERSION}: upgrade keras_ecg")
            raise CardError(f"{source}: field card_version: {version!r} is not a known schema version "
                            f"(this keras_ecg reads {CARD_VERSION})")
        kind = d.get("input_kind")
        if kind is not None and kind not in PREPROCESSING:
            raise CardError(f"{source}: field input_kind: {kind!r} is not one of {', '.join(PREPROCESSING)}")
        if d.get("preprocessing") is not None and kind is None:
            raise CardError(f"{source}: field input_kind: needed to read preprocessing "
                            f"({', '.join(PREPROCESSING)})")
        card = _build(cls, d, source, "")
        card._check(source)
        return card

    def _check(self, source: str) -> None:
        """Agreement between fields (the field types are already checked)."""
        if not self.inputs:
            raise CardError(f"{source}: field inputs: the model has no inputs")
        width = self.output.shape[-1] if self.output.shape else None
        if width is not None and self.binary != (width == 1):
            raise CardError(f"{source}: field binary: {self.binary} but the model outputs {width} column(s)")
        if self.class_names is not None and width is not None:
            want = 2 if self.binary else width
            if len(self.class_names) != want:
                raise CardError(f"{source}: field class_names: {len(self.class_names)} names for a model with "
                                f"{'one risk output (2 names)' if self.binary else f'{width} output columns'}")

        if self.calibration is not None:
            self.calibration.check(source, self.binary)
        if self.rhythm is not None:
            self.rhythm.check(source)
        if self.bundle is not None:
            if not self.bundle.members or self.bundle.combine != "mean":
                raise CardError(f"{source}: field bundle: needs members and combine 'mean'")
            for i, m in enumerate(self.bundle.members):
                if m.kind not in ("keras", "classical") or not m.folder or "/" in m.folder or m.folder.startswith("."):
                    raise CardError(f"{source}: field bundle.members[{i}]: kind {m.kind!r} (keras or classical) "
                                    f"in a plain sub-folder, not {m.folder!r}")

    def rhythm_config(self) -> RhythmConfig:
        """The card's rhythm analysis; without one, the defaults with the model's beat classes untouched."""
        return self.rhythm if self.rhythm is not None else RhythmConfig(af_rule="none")

    def require(self, *fields, source: str = "model card") -> None:
        """A :class:`CardError` naming the first of ``fields`` that is null or empty."""
        for f in fields:
            if getattr(self, f) in (None, [], {}):
                raise CardError(f"{source}: field {f}: missing (null); re-export the model with it")


# ----------------------------------------------------------------------------- typed conversion


def _type_name(tp) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type) and not typing.get_args(tp):
        return {"str": "a string", "int": "an integer", "float": "a number", "bool": "true/false",
                "list": "a list", "dict": "an object"}.get(tp.__name__, tp.__name__)
    return str(tp).replace("typing.", "")


def _where(source, path):
    return f"{source}: field {path}" if path else source


_SCALARS = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
}


def _convert(value, tp, source: str, path: str):
    """``value`` checked against the annotation ``tp`` (dataclasses built, lists and dicts walked)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1 and options[0] in _SCALARS and not _SCALARS[options[0]](value):
            raise CardError(f"{_where(source, path)}: expected {_type_name(options[0])} or null, got {value!r}")
        errors = []
        for a in options:
            try:
                return _convert(value, a, source, path)
            except CardError as e:
                errors.append(e)
        if len(options) == 1:
            raise errors[0]
        raise CardError(f"{_where(source, path)}: expected {' or '.join(_type_name(a) for a in args)}, "
                        f"got {value!r}")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, source, path)
    if tp in (list, dict):  # a bare annotation: any JSON list or object
        if not isinstance(value, (list, tuple) if tp is list else dict):
            raise CardError(f"{_where(source, path)}: expected {_type_name(tp)}, got {value!r}")
        return list(value) if tp is list else dict(value)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise CardError(f"{_where(source, path)}: expected a list, got {value!r}")
        return [_convert(v, args[0], source, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise CardError(f"{_where(source, path)}: expected an object, got {value!r}")
        return {_convert(k, args[0], source, path): _convert(v, args[1], source, f"{path}.{k}")
                for k, v in value.items()}
    ok = _SCALARS.get(tp)
    if ok is None:  # pragma: no cover - a field type this module does not handle
        raise TypeError(f"card field {path}: unsupported annotation {tp!r}")
    if not ok(value):
        raise CardError(f"{_where(source, path)}: expected {_type_name(tp)}, got {value!r}")
    return float(value) if tp is float else value


def _build(cls, d, source: str, path: str):
    """An instance of dataclass ``cls`` from the dict ``d``: unknown, missing or mistyped fields raise."""
    if not isinstance(d, dict):
        raise CardError(f"{_where(source, path)}: expected an object, got {d!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in d if k not in fields]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], list(fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(fields)})"
        raise CardError(f"{_where(source, _join(path, unknown[0]))}: unknown field for {cls.__name__}{hint}")
    kw = {}
    for name, f in fields.items():
        where = _join(path, name)
        if name not in d:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise CardError(f"{_where(source, where)}: missing")
            continue
        tp = hints[name]
        if cls is ModelCard and name == "preprocessing" and d[name] is not None:
            tp = PREPROCESSING[d["input_kind"]]
        kw[name] = _convert(d[name], tp, source, where)
    return cls(**kw)


def _join(path, name):
    return f"{path}.{name}" if path else name


# ----------------------------------------------------------------------------- producers' dicts

# Keys the data loaders put in their preprocessing dict that the card stores elsewhere or derives.
_NOT_PREPROCESSING = ("input_kind", "classes", "binary", "mi_top")


def preprocessing_from(input_kind: str, prep: dict | None, source: str = "preprocessing"):
    """The typed preprocessing of ``input_kind`` from a data loader's dict (``Data.preprocessing``).

    Waveform dicts may use the loader's older names: ``window`` and ``r_offset``
    (-> ``before``/``after``) and ``lead`` (-> ``leads``). Unknown keys raise
    :class:`CardError`: add the key to the preprocessing dataclass.
    """
    if input_kind not in PREPROCESSING:
        raise CardError(f"{source}: input kind {input_kind!r} is not one of {', '.join(PREPROCESSING)}")
    if prep is None:
        return None
    d = {k: v for k, v in dict(prep).items() if k not in _NOT_PREPROCESSING}
    if input_kind == "waveform":
        if "lead" in d:
            d.setdefault("leads", [d.pop("lead")])
        if "window" in d:
            window = int(d.pop("window"))
            before = int(d.pop("r_offset", d.get("before", window // 2)))
            d.setdefault("before", before)
            d.setdefault("after", window - before)
    return _build(PREPROCESSING[input_kind], d, source, "preprocessing")


# ----------------------------------------------------------------------------- files


def find(model_path) -> pathlib.Path:
    """The card of a model file: beside it, or in the run folder above (``<run>/<model>/x.keras``)."""
    model_path = pathlib.Path(model_path)
    candidates = (model_path.with_name(CARD_NAME), model_path.parent.parent / CARD_NAME)
    for cand in candidates:
        if cand.is_file():
            return cand
    raise CardError(f"{candidates[0]}: model card missing; it tells how to preprocess inputs (re-export the model)")


def read(path) -> ModelCard:
    """The card in the JSON file ``path``; :class:`CardError` names the file and the field on any problem."""
    path = pathlib.Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CardError(f"{path}: model card missing") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CardError(f"{path}: cannot read the model card ({type(e).__name__}: {e})") from None
    except ValueError as e:
        raise CardError(f"{path}: not valid JSON ({e})") from None
    return ModelCard.from_dict(raw, source=str(path))


def write(path, card: ModelCard) -> pathlib.Path:
    """Write ``card`` to ``path`` atomically (after checking it reads back as the same card)."""
    d = card.to_dict()
    ModelCard.from_dict(json.loads(json.dumps(d)), source=str(path))
    return _atomic.write_json(path, d)
