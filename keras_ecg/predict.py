"""Predict with a saved model: image files, folders, WFDB records or CSVs of beats.

The ``model_card.json`` beside the ``.keras`` file says how inputs are
preprocessed (input kind, beat window and sampling rate, image preprocessing),
so a prediction sees exactly what training saw::

    keras-ecg predict runs/mitbih_hybrid-jax/model.keras data/mitdb/100 beats.csv
    keras-ecg predict runs/ecg_risk-jax/model.keras page.jpg scans/ --json

Every result names its input and gives the predicted class with all class
probabilities, or for a binary model the risk probability (of ``class_names[1]``).
A WFDB record gives one prediction per beat (annotated beats if the record has
an ``.atr`` file, else detected R peaks) and the per-class beat counts.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp")
CARD = "model_card.json"


class PredictError(Exception):
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


def read_card(model_path) -> dict:
    """The model card beside the model (``model_card.json``), flattened to what predict needs."""
    model_path = pathlib.Path(model_path)
    for cand in (model_path.with_name(CARD), model_path.parent.parent / CARD):
        if cand.exists():
            try:
                raw = json.loads(cand.read_text())
            except ValueError as e:
                raise PredictError(f"{cand}: not valid JSON ({e})") from None
            return normalize_card(raw)
    raise PredictError(f"{model_path.with_name(CARD)}: model card missing; it tells how to preprocess inputs")


def normalize_card(raw: dict) -> dict:
    """Accept the card at the top level or nested under ``card``/``recipe_card``."""
    card = dict(raw)
    for key in ("card", "recipe_card", "user"):
        if isinstance(raw.get(key), dict):
            card = {**raw[key], **{k: v for k, v in raw.items() if k not in raw[key]}}
    prep = dict(card.get("preprocessing") or {})
    card["preprocessing"] = prep
    card.setdefault("input_kind", prep.get("input_kind", "waveform"))
    if "class_names" not in card:
        raise PredictError("model card has no class_names")
    return card


def load(model_path):
    """``(model, card)``; keras is imported here (after the backend was chosen)."""
    from keras_ecg.models import load_model

    path = find_model(model_path)
    card = read_card(path)
    try:
        model = load_model(str(path))
    except Exception as e:
        raise PredictError(f"{path}: cannot load model ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    return model, card


# ----------------------------------------------------------------------------- inputs


def input_type(path) -> str:
    """``image``, ``folder``, ``record`` (WFDB) or ``csv``; raises for anything else."""
    p = pathlib.Path(path)
    if p.is_dir():
        return "folder"
    if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
        return "image"
    if p.suffix.lower() == ".csv" and p.is_file():
        return "csv"
    if p.suffix in (".hea", ".dat", ".atr"):
        if p.with_suffix(".hea").exists():
            return "record"
    elif p.with_name(p.name + ".hea").exists():
        return "record"
    if not p.exists():
        raise PredictError(f"{p}: no such file, folder or WFDB record (give the record path without extension "
                           "or its .hea file)")
    raise PredictError(f"{p}: cannot tell what this input is (expected an image, a folder, a WFDB record or a CSV)")


def _require(card, kinds, what, path):
    if card["input_kind"] not in kinds:
        raise PredictError(f"{path}: {what} input, but this model takes {card['input_kind']} input")


def image_batch(paths, card) -> np.ndarray:
    from keras_ecg.data.images import preprocess_image

    prep = card["preprocessing"]
    preprocess = prep.get("preprocess") or ("panels" if card["input_kind"] == "panels" else "page")
    kw = {}
    if prep.get("image_size"):
        kw["image_size"] = prep["image_size"]
    if prep.get("panel_size"):
        kw["panel_size"] = tuple(prep["panel_size"])
    out = []
    for p in paths:
        try:
            out.append(preprocess_image(str(p), preprocess=preprocess, **kw))
        except (OSError, ValueError) as e:
            raise PredictError(str(e).splitlines()[0]) from None
    return np.stack(out)


def _select(beats, card):
    idx = card["preprocessing"].get("mi_indices")
    return beats[:, idx] if idx else beats


def csv_beats(path, card) -> np.ndarray:
    """Rows of a CSV as beats; a trailing label column (Kaggle format) is dropped."""
    prep = card["preprocessing"]
    window = int(prep.get("window") or card["input_shape"][0])
    try:
        rows = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except ValueError as e:
        raise PredictError(f"{path}: not a numeric CSV ({str(e).splitlines()[0]})") from None
    if rows.shape[1] == window + 1:
        rows = rows[:, :window]
    if rows.shape[1] != window:
        raise PredictError(f"{path}: rows have {rows.shape[1]} values; this model takes beats of {window} samples "
                           f"(or {window + 1} with a label column)")
    return rows


def detect_r_peaks(x, fs: float) -> np.ndarray:
    """R-peak sample positions (a simple band-pass + energy peak picker)."""
    try:
        from keras_ecg.data.signal import detect_r_peaks as detect

        return np.asarray(detect(x, fs), dtype=np.int64)
    except ImportError:
        pass
    from scipy.signal import find_peaks

    from keras_ecg.data.signal import bandpass

    f = bandpass(x, fs, 5.0, 15.0)
    energy = np.gradient(f) ** 2
    peaks, _ = find_peaks(energy, height=0.3 * np.percentile(energy, 99.5), distance=int(0.25 * fs))
    half = int(0.05 * fs)  # move to the largest deflection nearby
    return np.array([max(0, p - half) + int(np.argmax(np.abs(x[max(0, p - half):p + half])))
                     for p in peaks], dtype=np.int64)


def record_beats(path, card):
    """(beats (n, window), R-peak samples at the record's rate, how the beats were found, record)."""
    from keras_ecg.data import mitbih
    from keras_ecg.data import signal as S

    prep = card["preprocessing"]
    if prep.get("format") == "kaggle_csv":
        raise PredictError(f"{path}: this model was trained on Kaggle CSV beats; predict on a CSV of such beats")
    window, fs = int(prep.get("window", 187)), float(prep.get("fs", 125))
    before = int(prep.get("r_offset", window // 2))
    try:
        rec = mitbih.load_record(path)
    except (OSError, ValueError) as e:
        raise PredictError(str(e).splitlines()[0]) from None
    lead = prep.get("lead", "MLII")
    try:
        x = rec.lead(lead)
    except ValueError:
        x = rec.signal[:, 0]
    if rec.ann_samples is not None:
        keep = np.isin(rec.ann_symbols, list(mitbih.AAMI_MAP))
        peaks, how = rec.ann_samples[keep], "annotated beats (.atr)"
    else:
        peaks, how = detect_r_peaks(x, rec.fs), "detected R peaks"
    if rec.fs != fs:
        x = S.resample(x, rec.fs, fs)
        r = S.resample_index(peaks, rec.fs, fs)
    else:
        r = peaks
    start = r - before
    ok = (start >= 0) & (start + window <= len(x))
    beats = x[start[ok, None] + np.arange(window)]
    if prep.get("normalize"):
        beats = S.normalize(beats, prep["normalize"], axis=-1)
    return beats.astype(np.float32), peaks[ok], how, rec


# ----------------------------------------------------------------------------- predict


def _outputs(model, x, batch_size=256) -> np.ndarray:
    out = model.predict(x, batch_size=batch_size, verbose=0)
    if isinstance(out, (list, tuple)):
        out = out[0]
    return np.asarray(out, dtype=np.float64)


def _item(probs, card, **where) -> dict:
    names = list(card["class_names"])
    if card.get("binary") or probs.shape[-1] == 1:
        risk = float(probs[0] if probs.ndim else probs)
        return {**where, "class": names[int(risk >= 0.5)], "risk": risk}
    k = int(np.argmax(probs))
    return {**where, "class": names[k], "probability": float(probs[k]),
            "probabilities": {n: float(p) for n, p in zip(names, probs)}}


def _waveform(beats, card):
    beats = _select(beats, card)
    return beats[..., None] if beats.ndim == 2 else beats


def predict_paths(model, card, inputs, batch_size: int = 64) -> list:
    """One result dict per input (a record/CSV/folder result holds one item per beat/image)."""
    results = []
    for inp in inputs:
        kind = input_type(inp)
        if kind in ("image", "folder"):
            _require(card, ("image", "panels"), "an image", inp)
            files = [pathlib.Path(inp)] if kind == "image" else sorted(
                f for f in pathlib.Path(inp).rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not files:
                raise PredictError(f"{inp}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            for i in range(0, len(files), batch_size):
                chunk = files[i:i + batch_size]
                probs = _outputs(model, image_batch(chunk, card), batch_size)
                for f, p in zip(chunk, probs):
                    results.append({"input": str(f), "type": "image", **_item(p, card)})
        elif kind == "csv":
            _require(card, ("waveform",), "a CSV of beats", inp)
            probs = _outputs(model, _waveform(csv_beats(inp, card), card), batch_size)
            items = [_item(p, card, beat=i) for i, p in enumerate(probs)]
            results.append({"input": str(inp), "type": "csv", "beats": len(items), "items": items,
                            "counts": _counts(items, card)})
        else:
            _require(card, ("waveform",), "a WFDB record", inp)
            beats, peaks, how, rec = record_beats(inp, card)
            if not len(beats):
                raise PredictError(f"{inp}: no complete beat window found")
            probs = _outputs(model, _waveform(beats, card), batch_size)
            items = [_item(p, card, beat=i, sample=int(s), time_s=round(float(s) / rec.fs, 3))
                     for i, (p, s) in enumerate(zip(probs, peaks))]
            results.append({"input": str(inp), "type": "record", "record": rec.name, "beats": len(items),
                            "beats_from": how, "items": items, "counts": _counts(items, card)})
    return results


def _counts(items, card) -> dict:
    names = list(card["class_names"])
    got = [it["class"] for it in items]
    return {n: got.count(n) for n in names}


def format_text(results, card, max_beats: int = 20) -> str:
    lines = []
    for r in results:
        if r["type"] == "image":
            lines.append(f"{r['input']}: {_describe(r, card)}")
            continue
        head = f"{r['input']}: {r['beats']} beats"
        if r["type"] == "record":
            head += f" ({r['beats_from']})"
        lines.append(head + "; " + ", ".join(f"{k} {v}" for k, v in r["counts"].items()))
        for it in r["items"][:max_beats]:
            where = f"beat {it['beat']}" + (f" @ {it['time_s']:.2f} s" if "time_s" in it else "")
            lines.append(f"  {where}: {_describe(it, card)}")
        if len(r["items"]) > max_beats:
            lines.append(f"  ... {len(r['items']) - max_beats} more beats (use --json for all)")
    return "\n".join(lines)


def _describe(it, card) -> str:
    if "risk" in it:
        return f"{it['class']} (risk {it['risk']:.3f})"
    probs = " ".join(f"{n}={p:.3f}" for n, p in it["probabilities"].items())
    return f"{it['class']} ({probs})"


def predict(model_path, inputs, batch_size: int = 64) -> tuple:
    """``(results, card)`` for ``inputs`` with the model at ``model_path``."""
    model, card = load(model_path)
    return predict_paths(model, card, inputs, batch_size), card
