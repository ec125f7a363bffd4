"""Predict with a saved model: image files, folders, WFDB records, EDF files, CSV recordings or CSVs of beats.

The model card beside the ``.keras`` file (:mod:`keras_ecg.card`) says how
inputs are preprocessed (input kind, beat window and sampling rate, image
preprocessing), so a prediction sees exactly what training saw::

    keras-ecg predict runs/mitbih_hybrid-jax/model.keras data/mitdb/100 beats.csv
    keras-ecg predict runs/ecg_risk-jax/model.keras page.jpg scans/ --json
    keras-ecg predict pretrained:mitbih_beats holter.edf recording.csv --fs 250   # CSV of samples at 250 Hz

Every result names its input and gives the predicted class with all class
probabilities, or for a binary model the risk probability (of ``class_names[1]``),
calibrated by the card's ``calibration`` when it has one, and ``uncertain``: whether
the calibrated confidence is below the card's threshold.
A page also gets the ``measurements`` of its digitised leads' median beats (Q waves, ST at
J+60 ms, T waves, QRS, QT/QTc, heart rate, axis, R progression) and the ``evidence``: the
abnormal findings among them ("ST +0.2 mV in V2–V3", "Q 40 ms in III"). A model bundle
(:mod:`keras_ecg.deploy.bundle`: several models read as one) is used like any model.
A WFDB record gives one prediction per beat (annotated beats if the record has
an ``.atr`` file, else detected R peaks), the per-class beat counts, and the record's
rhythm: ``episodes`` (AF, pauses, runs, ...: :meth:`keras_ecg.rhythm.Episode.to_dict`),
``af_burden_pct`` (% of the analysed time in AF) and ``relabelled_in_af``. The rhythm is
:func:`keras_ecg.rhythm.analyze` with the card's settings, as ``keras-ecg annotate`` runs it
(:mod:`keras_ecg.deploy.record_rhythm`), and the beats' classes and probabilities are its
rhythm-aware ones (with the card's ``af_rule``, beats inside AF are not called S).
"""

from __future__ import annotations

import pathlib

import numpy as np

from keras_ecg import card as C
from keras_ecg import errors
from keras_ecg.data.images.io import IMAGE_SUFFIXES
from keras_ecg.data import model_inputs as W  # model inputs from records/CSVs: every command's one path


class PredictError(errors.DataError):
    """An input or model that cannot be used; one line for the user."""


# ----------------------------------------------------------------------------- model + card


def find_model(path) -> pathlib.Path:
    """A ``.keras`` file, or the one in a run/export folder."""
    p = pathlib.Path(path)
    if p.is_dir():
        found = sorted(f for f in p.glob("*.keras") if not f.name.startswith("."))
        if not found:
            found = sorted(f for f in p.glob("*/*.keras") if not f.name.startswith(".") and "checkpoints" not in f.parts)
        if not found:
            raise PredictError(f"{p}: no .keras model file in this folder")
        return found[0]
    if not p.exists():
        raise PredictError(f"{p}: no such model file")
    if p.suffix != ".keras":
        raise PredictError(f"{p}: not a .keras model file")
    return p


def read_card(model_path) -> C.ModelCard:
    """The model card of a model file (beside it, or in the run folder above), checked for predict."""
    path = C.find(model_path)
    card = C.read(path)
    card.require("class_names", "input_kind", "preprocessing", source=str(path))
    return card


def load(model_path):
    """``(model, card)``; keras is imported here (after the backend was chosen). A model bundle's folder gives
    its :class:`keras_ecg.deploy.bundle.Bundle` (members on Keras) as the model."""
    from keras_ecg.deploy import bundle
    from keras_ecg.deploy.card_check import check
    from keras_ecg.models import load_model

    if bundle.is_bundle(model_path):
        b = bundle.load(model_path, "keras")
        return b, b.card

    path = find_model(model_path)
    card = read_card(path)
    model = load_model(str(path))  # safe_mode; a one-line ModelFileError for a file it refuses
    check(card, model, source=str(C.find(path)))
    return model, card


# ----------------------------------------------------------------------------- inputs


def input_type(path, fs: float | None = None) -> str:
    """``image``, ``folder``, ``record`` (a WFDB record, a CSV of samples when its rate ``fs`` is given, or a
    recording file recognised by its content: DICOM, EDF, ... of :mod:`keras_ecg.data.formats`) or ``csv`` (a CSV
    of beats: no ``fs``); raises for anything else."""
    p = pathlib.Path(path)
    if p.is_dir():
        return "folder"
    if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
        return "image"
    if p.suffix.lower() == ".edf" and p.is_file():
        return "record"
    if p.suffix.lower() == ".csv" and p.is_file():
        return "csv" if fs is None else "record"
    if p.suffix in (".hea", ".dat", ".atr"):
        if p.with_suffix(".hea").exists():
            return "record"
    elif p.with_name(p.name + ".hea").exists():
        return "record"
    if not p.exists():
        raise PredictError(f"{p}: no such file, folder or WFDB record (give the record path without extension "
                           "or its .hea file)")
    from keras_ecg.data import formats

    if p.is_file() and formats.recognise(p):
        return "record"
    raise PredictError(f"{p}: cannot tell what this input is (expected an image, a folder, a WFDB record, a CSV "
                       f"or a recording file of one of {formats.read_what()})")


def _require(card, kinds, what, path):
    if card.input_kind not in kinds:
        raise PredictError(f"{path}: {what} input, but this model takes {card.input_kind} input")


def image_batch(paths, card, orientation: str = "auto"):
    """The model input of the page files ``paths`` by ``card``'s preprocessing: one array, or for a model bundle
    one array per member (:func:`keras_ecg.deploy.bundle.page_inputs`). ``orientation``: how a page that is
    digitised is taken (:func:`keras_ecg.data.images.orientation.orient`: ``auto``, ``upright``, ``rotated``)."""
    from keras_ecg.data.images import preprocess_image

    if card.bundle is not None:
        from keras_ecg.deploy import bundle

        try:
            return bundle.page_inputs(paths, card, orientation)
        except errors.DataError as e:
            raise PredictError(str(e)) from None

    prep = card.preprocessing
    kw = {}
    if prep.image_size:
        kw["image_size"] = prep.image_size
    if prep.panel_size:
        kw["panel_size"] = tuple(prep.panel_size)
    out = []
    for p in paths:
        try:
            out.append(preprocess_image(str(p), preprocess=prep.preprocess, orientation=orientation, **kw))
        except (OSError, ValueError) as e:
            raise PredictError(str(e).splitlines()[0]) from None
    return np.stack(out)


# ----------------------------------------------------------------------------- predict


def _outputs(model, x, batch_size=256) -> np.ndarray:
    """Model outputs for ``x``: one array, or a list of arrays (one per model input)."""
    if isinstance(x, list):
        x = x[0] if len(x) == 1 else x
    out = model.predict(x, batch_size=batch_size, verbose=0)
    if isinstance(out, (list, tuple)):
        out = out[0]
    return np.asarray(out, dtype=np.float64)


def _item(raw, card, **where) -> dict:
    from keras_ecg.evaluation.calibration import calibrated  # the card's calibration and uncertainty flag

    probs, unsure = calibrated(np.atleast_1d(np.asarray(raw, dtype=np.float64))[None], card.calibration)
    return _described(probs[0], bool(unsure[0]), card, **where)


def _described(probs, unsure: bool, card, **where) -> dict:
    """The result of one output from its calibrated probabilities and uncertainty flag."""
    names = list(card.class_names)
    flag = {"uncertain": bool(unsure)}
    if card.binary or probs.shape[-1] == 1:
        risk = float(probs[0])
        return {**where, "class": names[int(risk >= 0.5)], "risk": risk, **flag}
    k = int(np.argmax(probs))
    return {**where, "class": names[k], "probability": float(probs[k]),
            "probabilities": {n: float(p) for n, p in zip(names, probs)}, **flag}


def predict_paths(model, card, inputs, batch_size: int = 64, lead=None, orientation: str = "auto",
                  fs: float | None = None) -> list:
    """One result dict per input (a record/CSV/folder result holds one item per beat/image).

    ``lead``: the record lead to read as the card's first lead, where the lead policy finds none.
    ``orientation``: how a page that is digitised (for the model or its measurements) is taken (``auto``:
    turned if upside down, refused if that cannot be told; ``upright``; ``rotated``).
    ``fs``: the sampling rate of CSV recordings (one column per lead, :mod:`keras_ecg.data.signal_files`);
    without it a CSV is a CSV of beats.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise PredictError(f"--batch-size {batch_size}: must be a whole number >= 1")
    results = []
    for inp in inputs:
        kind = input_type(inp, fs)
        if kind in ("image", "folder"):
            _require(card, ("image", "panels", "digitized"), "an image", inp)
            files = image_files(inp, kind)
            for i in range(0, len(files), batch_size):
                chunk = files[i:i + batch_size]
                probs = _outputs(model, image_batch(chunk, card, orientation), batch_size)
                for f, p in zip(chunk, probs):
                    results.append({"input": str(f), "type": "image", **_item(p, card), **page_evidence(f, orientation)})
        elif kind == "csv":
            _require(card, ("waveform",), "a CSV of beats", inp)
            probs = _outputs(model, W.csv_inputs(inp, card.preprocessing), batch_size)
            items = [_item(p, card, beat=i) for i, p in enumerate(probs)]
            results.append({"input": str(inp), "type": "csv", "beats": len(items), "items": items,
                            "counts": _counts(items, card)})
        else:
            _require(card, ("waveform",), "a WFDB record", inp)
            rec = W.record_inputs(inp, card.preprocessing, lead=lead, fs=fs)
            if not len(rec.peaks):
                raise PredictError(f"{inp}: no complete beat window found")
            items, rhythm = record_beats(_outputs(model, rec.inputs, batch_size), rec.peaks, rec.fs, card)
            results.append({"input": str(inp), "type": "record", "record": rec.name, "beats": len(items),
                            "beats_from": rec.how, "leads_used": list(rec.leads_used),
                            "leads_wanted": list(card.preprocessing.leads), "items": items,
                            "counts": _counts(items, card), **rhythm})
    return results


def page_evidence(path, orientation: str = "auto") -> dict:
    """``{"measurements", "evidence"}`` of a page: the median-beat measurements of its digitised leads and the
    abnormal findings among them (:func:`keras_ecg.data.images.measurements.page_measurements`); a page whose
    leads cannot be measured gives ``measurements: null`` and the reason, never a failed prediction."""
    from keras_ecg.data.images import measurements

    try:
        m = measurements.page_measurements(str(path), orientation=orientation)
    except (OSError, ValueError, errors.DataError) as e:
        return {"measurements": None, "evidence": [], "measurement_error": str(e).splitlines()[0] if str(e) else
                type(e).__name__}
    return {"measurements": {k: v for k, v in m.items() if k != "evidence"}, "evidence": list(m["evidence"])}


def record_beats(raw, peaks, fs: float, card) -> tuple:
    """``(items, rhythm)`` of a record's beats at samples ``peaks``: one rhythm-aware item per beat, and
    ``{"episodes", "af_burden_pct", "relabelled_in_af"}`` (:func:`keras_ecg.deploy.record_rhythm.analyze`)."""
    from keras_ecg.deploy import record_rhythm
    from keras_ecg.evaluation.calibration import calibrated

    raw = np.asarray(raw, dtype=np.float64)
    probs, unsure = calibrated(raw.reshape(len(raw), -1), card.calibration)
    times = np.asarray(peaks, dtype=np.float64) / float(fs)
    r, unsure = record_rhythm.analyze(times, probs, card, unsure)
    items = [_described(p, u, card, beat=i, sample=int(s), time_s=round(float(t), 3))
             for i, (p, u, s, t) in enumerate(zip(r.probs, unsure, peaks, times))]
    rhythm = {"episodes": [e.to_dict() for e in r.episodes],
              "af_burden_pct": record_rhythm.af_burden_pct(r.episodes, times), "relabelled_in_af": int(r.relabelled)}
    return items, rhythm


def image_files(inp, kind: str) -> list:
    """The image itself, or a folder's images (sorted); a folder without any is an error naming it."""
    files = [pathlib.Path(inp)] if kind == "image" else sorted(
        f for f in pathlib.Path(inp).rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    if not files:
        raise PredictError(f"{inp}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def _counts(items, card) -> dict:
    names = list(card.class_names)
    got = [it["class"] for it in items]
    return {n: got.count(n) for n in names}


def format_text(results, card, max_beats: int = 20) -> str:
    lines = []
    for r in results:
        if r["type"] == "image":
            lines.append(f"{r['input']}: {_describe(r, card)}")
            if r.get("evidence"):
                lines.append("  evidence: " + "; ".join(r["evidence"]))
            continue
        head = f"{r['input']}: {r['beats']} beats"
        if r["type"] == "record":
            head += f" ({r['beats_from']}; lead {', '.join(r['leads_used'])}"
            head += ")" if r["leads_used"] == r["leads_wanted"] else f" for {', '.join(r['leads_wanted'])})"
        lines.append(head + "; " + ", ".join(f"{k} {v}" for k, v in r["counts"].items()))
        if "episodes" in r:
            kinds = [e["kind"] for e in r["episodes"]]
            burden = r["af_burden_pct"]
            lines.append(f"  AF burden {burden or 0:.1f}%; episodes: "
                         + (", ".join(f"{k} {kinds.count(k)}" for k in dict.fromkeys(kinds)) or "none"))
        for it in r["items"][:max_beats]:
            where = f"beat {it['beat']}" + (f" @ {it['time_s']:.2f} s" if "time_s" in it else "")
            lines.append(f"  {where}: {_describe(it, card)}")
        if len(r["items"]) > max_beats:
            lines.append(f"  ... {len(r['items']) - max_beats} more beats (use --json for all)")
    return "\n".join(lines)


def _describe(it, card) -> str:
    unsure = " UNCERTAIN" if it.get("uncertain") else ""
    if "risk" in it:
        return f"{it['class']} (risk {it['risk']:.3f}){unsure}"
    probs = " ".join(f"{n}={p:.3f}" for n, p in it["probabilities"].items())
    return f"{it['class']} ({probs}){unsure}"


def predict(model_path, inputs, batch_size: int = 64, lead=None, orientation: str = "auto",
            fs: float | None = None) -> tuple:
    """``(results, card)`` for ``inputs`` with the model at ``model_path``."""
    model, card = load(model_path)
    return predict_paths(model, card, inputs, batch_size, lead, orientation, fs=fs), card
