"""Model inputs from a WFDB record or a CSV of beats, as the card's waveform preprocessing says.

Predict calls exactly two functions here, through one import line, so the
data side can take them over (same names and returns) without touching
predict's logic:

* :func:`record_inputs` ``(path, prep) -> RecordInputs``: every beat of a
  record (annotated beats when the record has an ``.atr`` file, else detected
  R peaks) cut and scaled as in training;
* :func:`csv_inputs` ``(path, prep) -> list of arrays``: the rows of a CSV of
  beats (a trailing label column, as in the Kaggle CSVs, is dropped). A row is
  one beat window at the card's rate, ``before + after`` samples, already
  filtered as the card's ``filter`` says (a window is too short to filter);
  the card's per-beat ``normalize`` is applied here, as in training.

Non-finite samples (NaN, inf) are refused in both, with the file and the
first bad sample or row: the same rule as the training loaders.

``prep`` is a :class:`keras_ecg.card.WaveformPreprocessing`. Both return the
model's inputs as a list of arrays in the order of the card's ``inputs``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_ecg.errors import CardError, DataError

__all__ = ["RecordInputs", "record_inputs", "csv_inputs"]


@dataclasses.dataclass
class RecordInputs:
    inputs: list  # one array per model input, first axis = beats
    peaks: np.ndarray  # R-peak sample of each beat, at the record's rate
    fs: float  # the record's sampling rate
    name: str  # the record's name
    how: str  # how the beats were found ("annotated beats (.atr)" or "detected R peaks")
    leads_used: list = dataclasses.field(default_factory=list)  # the record's leads read (lead policy)


def _model_shape(beats, prep):
    if prep.mi_indices:
        beats = beats[:, prep.mi_indices]
    return [beats[..., None].astype(np.float32) if beats.ndim == 2 else beats.astype(np.float32)]


def _no_rr(prep, where):
    if prep.rr_features:
        raise DataError(f"{where}: this model takes RR features ({', '.join(prep.rr_features)}), which need R-peak "
                        "times: predict on a WFDB record instead of a CSV of beats")
    if getattr(prep, "template_beats", 0):
        raise DataError(f"{where}: this model compares each beat with the patient's previous beats, which a CSV "
                        "of beats does not give: predict on a WFDB record instead")


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


def record_inputs(path, prep, peaks=None, lead=None) -> RecordInputs:
    """The model inputs for every beat of the WFDB record at ``path`` (see the module doc).

    ``peaks`` (sample indices at the record's rate) overrides the beats: e.g.
    detected R peaks for a record that has reference annotations. ``lead``
    names the record's lead to read as the card's first lead (``--lead``).
    """
    from keras_ecg.data import beats as B
    from keras_ecg.data import mitbih
    from keras_ecg.data import signal as S

    if prep.format == "kaggle_csv":
        raise DataError(f"{path}: this model was trained on Kaggle CSV beats; predict on a CSV of such beats")
    try:
        rec = mitbih.load_record(path)
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
        peaks, how = rec.ann_samples[keep], "annotated beats (.atr)"
    else:
        peaks, how = np.asarray(S.detect_r_peaks(lead0, rec.fs), dtype=np.int64), "detected R peaks"
    try:
        beats, rr, ok, _ = B.beat_inputs(rec.signal, rec.fs, peaks, spec, names, where=where)
    except DataError:
        raise
    except ValueError as e:  # e.g. a rate the resampler cannot reach
        raise DataError(f"{where}: {str(e).splitlines()[0]}") from None
    used = [str(rec.leads[i]) for i in idx]
    inputs = _model_shape(beats, prep)
    if rr is not None:
        inputs.append(rr)
    return RecordInputs(inputs, peaks[ok], float(rec.fs), rec.name, how, used)


def csv_inputs(path, prep) -> list:
    """The model inputs for the rows of the CSV of beats at ``path`` (see the module doc)."""
    _no_rr(prep, path)
    window = prep.window
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # an empty file: said below
            rows = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except ValueError as e:
        raise DataError(f"{path}: not a numeric CSV ({str(e).splitlines()[0]})") from None
    if rows.size == 0:
        raise DataError(f"{path}: the CSV holds no beats (no rows)")
    if rows.shape[1] == window + 1:
        rows = rows[:, :window]
    if rows.shape[1] != window:
        raise DataError(f"{path}: rows have {rows.shape[1]} values; this model takes beats of {window} samples "
                        f"(or {window + 1} with a label column)")
    bad = ~np.isfinite(rows)
    if bad.any():
        r = np.flatnonzero(bad.any(axis=1))
        raise DataError(f"{path}: {len(r)} row(s) with non-finite values (NaN/inf), first row {int(r[0]) + 1}; "
                        "keras_ecg refuses them (repair or drop those beats first)")
    if prep.format != "kaggle_csv" and prep.normalize:  # the card's per-beat normalisation, as in training
        from keras_ecg.data import signal as S

        if prep.normalize not in ("zscore", "minmax"):
            raise CardError(f"{path}: model card field preprocessing.normalize: {prep.normalize!r} is not a "
                            "normalisation this version applies (zscore, minmax)")
        rows = S.normalize(rows, prep.normalize, axis=-1)
    return _model_shape(rows, prep)
