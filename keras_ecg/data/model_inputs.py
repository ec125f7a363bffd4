"""Model inputs from a WFDB record or a CSV of beats, as the model card's waveform preprocessing says.

The one input path of every command that feeds beats to a model (predict, evaluate,
calibrate, explain, annotate; the service when it exists): they all call these functions,
so a beat reaches the model as training cut and scaled it, whichever command reads it.
They live in the data layer, below every command, so any of them can reuse them as they are.

* :func:`record_inputs` ``(path, prep) -> RecordInputs``: every beat of a record (annotated
  beats when the record has an ``.atr`` file, else detected R peaks, or the ``peaks`` given)
  cut and scaled as in training;
* :func:`csv_inputs` ``(path, prep) -> list of arrays``: the rows of a CSV of beats
  (:func:`keras_ecg.data.beat_csv.read`); :func:`labelled_csv_inputs` ``(path, prep, names)``:
  the same inputs and the labels of a labelled CSV (:func:`keras_ecg.data.beat_csv.read_labelled`).
  The card's per-beat ``normalize`` is applied here, as in training, labelled or not;
* :func:`model_shape`: beats ``(m, window[, channels])`` as the model's first input (the
  card's ``mi_indices`` kept, float32, channels last); annotate's chunked path
  (:mod:`keras_ecg.deploy.beat_stream`) shapes its beats with it.

Non-finite samples (NaN, inf) are refused in every path, with the file and the first bad
sample or row: the same rule as the training loaders.

``prep`` is a :class:`keras_ecg.card.WaveformPreprocessing`. The inputs are a list of arrays
in the order of the card's ``inputs``.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from keras_ecg.errors import CardError, DataError

__all__ = ["RecordInputs", "record_inputs", "csv_inputs", "labelled_csv_inputs", "model_shape", "no_rr"]


@dataclasses.dataclass
class RecordInputs:
    inputs: list  # one array per model input, first axis = beats
    peaks: np.ndarray  # R-peak sample of each beat, at the record's rate
    fs: float  # the record's sampling rate
    name: str  # the record's name
    how: str  # how the beats were found ("annotated beats (.atr)" or "detected R peaks")
    leads_used: list = dataclasses.field(default_factory=list)  # the record's leads read (lead policy)


def model_shape(beats, prep):
    if prep.mi_indices:
        beats = beats[:, prep.mi_indices]
    return [beats[..., None].astype(np.float32) if beats.ndim == 2 else beats.astype(np.float32)]


def no_rr(prep, where):
    if prep.rr_features:
        raise DataError(f"{where}: this model takes RR features ({', '.join(prep.rr_features)}), which need R-peak "
                        "times: give a WFDB record instead of a CSV of beats")
    if getattr(prep, "template_beats", 0):
        raise DataError(f"{where}: this model compares each beat with the patient's previous beats, which a CSV "
                        "of beats does not give: give a WFDB record instead")


def _override_lead(leads, wanted, lead, where) -> list:
    """``--lead NAME``: the record's lead ``lead`` read as the card's first lead ``wanted``."""
    names = [str(n).strip().upper() for n in leads]
    if str(lead).strip().upper() not in names:
        raise DataError(f"{where}: --lead {lead}: no such lead; the record has {list(leads)}")
    i = names.index(str(lead).strip().upper())
    out = [f"{n} (unused)" if str(n).strip().upper() == str(wanted).strip().upper() else n for n in leads]
    out[i] = wanted
    return out


def _finite(x, where, leads) -> None:
    """The one non-finite rule of every path (record, CSV, training): refused, naming where."""
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"{where}: {int(bad.sum())} non-finite samples (NaN/inf), first at sample {int(row)} of "
                        f"lead {leads[col] if col < len(leads) else col}; keras_ecg refuses them (repair or cut "
                        "the record first)")


def record_inputs(path, prep, peaks=None, lead=None, fs=None) -> RecordInputs:
    """The model inputs for every beat of the recording at ``path`` (see the module doc): a WFDB record, a CSV
    of samples at rate ``fs``, or a file read by its content (:func:`keras_ecg.data.signal_files.read`: DICOM,
    EDF, ...).

    ``peaks`` (sample indices at the record's rate) overrides the beats: e.g.
    detected R peaks for a record that has reference annotations. ``lead``
    names the record's lead to read as the card's first lead (``--lead``).
    """
    from keras_ecg.data import beats as B
    from keras_ecg.data import mitbih, signal_files
    from keras_ecg.data import signal as S

    if prep.format == "kaggle_csv":
        raise DataError(f"{path}: this model was trained on Kaggle CSV beats; predict on a CSV of such beats")
    from keras_ecg.data import signal_files

    try:
        rec = signal_files.read(path, fs=fs, annotations="atr")
        spec = B.BeatSpec.from_card(prep)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: {str(e).splitlines()[0]}") from None
    where = rec.path or str(path)
    names = _override_lead(rec.leads, spec.leads[0], lead, where) if lead else list(rec.leads)
    idx = B.choose_leads(names, spec.leads, where, secondary_fallback=spec.secondary_fallback)
    _finite(rec.signal[:, idx], where, [rec.leads[i] for i in idx])
    lead0 = rec.signal[:, idx[0]]
    if peaks is not None:
        peaks, how = np.asarray(peaks, dtype=np.int64), "given R peaks"
    elif rec.ann_samples is not None:
        keep = np.isin(rec.ann_symbols, list(mitbih.AAMI_MAP))
        in_file = pathlib.Path(rec.path).is_file()  # a WFDB record's path is its name without extension
        peaks, how = rec.ann_samples[keep], "annotated beats (in the file)" if in_file else "annotated beats (.atr)"
    else:
        peaks, how = np.asarray(S.detect_r_peaks(lead0, rec.fs), dtype=np.int64), "detected R peaks"
    try:
        beats, rr, ok, _ = B.beat_inputs(rec.signal, rec.fs, peaks, spec, names, where=where)
    except DataError:
        raise
    except ValueError as e:  # e.g. a rate the resampler cannot reach
        raise DataError(f"{where}: {str(e).splitlines()[0]}") from None
    used = [str(rec.leads[i]) for i in idx]
    inputs = model_shape(beats, prep)
    if rr is not None:
        inputs.append(rr)
    return RecordInputs(inputs, peaks[ok], float(rec.fs), rec.name, how, used)


def _beat_rows(rows, prep, path) -> list:
    """The model inputs of beat windows read from a CSV: the card's per-beat normalisation, then the model's shape."""
    if prep.format != "kaggle_csv" and prep.normalize:  # as in training (the Kaggle rows come scaled)
        from keras_ecg.data import signal as S

        if prep.normalize not in ("zscore", "minmax"):
            raise CardError(f"{path}: model card field preprocessing.normalize: {prep.normalize!r} is not a "
                            "normalisation this version applies (zscore, minmax)")
        rows = S.normalize(rows, prep.normalize, axis=-1)
    return model_shape(rows, prep)


def csv_inputs(path, prep) -> list:
    """The model inputs for the rows of the CSV of beats at ``path`` (see the module doc)."""
    from keras_ecg.data import beat_csv

    no_rr(prep, path)
    return _beat_rows(beat_csv.read(path, prep.window), prep, path)


def labelled_csv_inputs(path, prep, names) -> tuple:
    """``(inputs, labels)`` of the labelled CSV of beats at ``path``: the inputs exactly as :func:`csv_inputs`
    builds them, and the labels as class indices into ``names``."""
    from keras_ecg.data import beat_csv

    no_rr(prep, path)
    rows, labels = beat_csv.read_labelled(path, prep.window, names)
    return _beat_rows(rows, prep, path), labels
