"""Model inputs from a WFDB record or a CSV of beats, as the card's waveform preprocessing says.

Predict calls exactly two functions here, through one import line, so the
data side can take them over (same names and returns) without touching
predict's logic:

* :func:`record_inputs` ``(path, prep) -> RecordInputs``: every beat of a
  record (annotated beats when the record has an ``.atr`` file, else detected
  R peaks) cut and scaled as in training;
* :func:`csv_inputs` ``(path, prep) -> list of arrays``: the rows of a CSV of
  beats (a trailing label column, as in the Kaggle CSVs, is dropped).

``prep`` is a :class:`keras_ecg.card.WaveformPreprocessing`. Both return the
model's inputs as a list of arrays in the order of the card's ``inputs``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_ecg.errors import DataError

__all__ = ["RecordInputs", "record_inputs", "csv_inputs"]


@dataclasses.dataclass
class RecordInputs:
    inputs: list  # one array per model input, first axis = beats
    peaks: np.ndarray  # R-peak sample of each beat, at the record's rate
    fs: float  # the record's sampling rate
    name: str  # the record's name
    how: str  # how the beats were found ("annotated beats (.atr)" or "detected R peaks")


def _model_shape(beats, prep):
    if prep.mi_indices:
        beats = beats[:, prep.mi_indices]
    return [beats[..., None].astype(np.float32) if beats.ndim == 2 else beats.astype(np.float32)]


def _no_rr(prep, where):
    if prep.rr_features:
        raise DataError(f"{where}: this model takes RR features ({', '.join(prep.rr_features)}), which predict "
                        "cannot build yet")


def record_inputs(path, prep) -> RecordInputs:
    """The model inputs for every beat of the WFDB record at ``path`` (see the module doc)."""
    from keras_ecg.data import mitbih
    from keras_ecg.data import signal as S

    if prep.format == "kaggle_csv":
        raise DataError(f"{path}: this model was trained on Kaggle CSV beats; predict on a CSV of such beats")
    _no_rr(prep, path)
    try:
        rec = mitbih.load_record(path)
    except (OSError, ValueError) as e:
        raise DataError(str(e).splitlines()[0]) from None
    try:
        x = rec.lead(prep.leads[0])
    except ValueError:
        x = rec.signal[:, 0]
    if rec.ann_samples is not None:
        keep = np.isin(rec.ann_symbols, list(mitbih.AAMI_MAP))
        peaks, how = rec.ann_samples[keep], "annotated beats (.atr)"
    else:
        peaks, how = np.asarray(S.detect_r_peaks(x, rec.fs), dtype=np.int64), "detected R peaks"
    if prep.filter == "bandpass":
        x = S.bandpass(x, rec.fs)
    elif prep.filter is not None:
        raise DataError(f"{path}: unknown filter {prep.filter!r} in the model card's preprocessing")
    if rec.fs != prep.fs:
        x = S.resample(x, rec.fs, prep.fs)
        r = S.resample_index(peaks, rec.fs, prep.fs)
    else:
        r = peaks
    start = r - prep.before
    ok = (start >= 0) & (start + prep.window <= len(x))
    beats = x[start[ok, None] + np.arange(prep.window)]
    if prep.normalize:
        beats = S.normalize(beats, prep.normalize, axis=-1)
    return RecordInputs(_model_shape(beats, prep), peaks[ok], float(rec.fs), rec.name, how)


def csv_inputs(path, prep) -> list:
    """The model inputs for the rows of the CSV of beats at ``path`` (see the module doc)."""
    _no_rr(prep, path)
    window = prep.window
    try:
        rows = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except ValueError as e:
        raise DataError(f"{path}: not a numeric CSV ({str(e).splitlines()[0]})") from None
    if rows.shape[1] == window + 1:
        rows = rows[:, :window]
    if rows.shape[1] != window:
        raise DataError(f"{path}: rows have {rows.shape[1]} values; this model takes beats of {window} samples "
                        f"(or {window + 1} with a label column)")
    return _model_shape(rows, prep)
