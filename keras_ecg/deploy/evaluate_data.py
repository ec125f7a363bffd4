"""Score a saved model on labelled data it has never seen: ``report.json``, ``report.md`` and plots, as training writes.

    keras-ecg evaluate MODEL other_db/ [--out DIR]          # WFDB records with reference annotations
    keras-ecg evaluate MODEL pages/                         # class sub-folders of images
    keras-ecg evaluate MODEL beats.csv                      # a labelled CSV of beats (last column: label)

* WFDB records (a folder of them, or record paths), at any sampling rate and with any
  lead the lead policy accepts: the report's figures are on the reference beat positions,
  and ``ec57`` adds AAMI EC57 figures on reference and on detected R peaks
  (:func:`keras_ecg.evaluation.records.evaluate_records`);
* images: classes matched by name to the card's (the Khan et al. long folder names are
  recognised); for a binary model, ``normal`` against everything else;
* CSV: the beat samples, then a label column (a class index or a class name).

A record or image that cannot be read, or whose class the model does not know, is
reported by name under ``extra.skipped`` (and in the report's warnings); the rest is
scored. The inputs are built by the code predict uses (:mod:`keras_ecg.data.model_inputs`: a labelled CSV
gets the card's per-beat normalisation exactly as predict's CSV,
:func:`keras_ecg.deploy.predict.image_batch`).
"""

from __future__ import annotations

import dataclasses
import pathlib
import types

import numpy as np

from keras_ecg.deploy import predict as P
from keras_ecg.errors import DataError, KerasECGError

_READ_ERRORS = (KerasECGError, OSError, ValueError)


def data_kind(path) -> str:
    """``wfdb`` (a folder of records or one record: a WFDB record or a recording file read by content, with its
    beat annotations), ``images`` (class sub-folders) or ``csv``."""
    p = pathlib.Path(path)
    if p.is_dir():
        if any(p.glob("*.hea")):
            return "wfdb"
        if any(c.is_dir() for c in p.iterdir()):
            return "images"
        raise DataError(f"{p}: neither WFDB records (.hea files) nor class sub-folders of images")
    kind = P.input_type(p)
    if kind not in ("record", "csv"):
        raise DataError(f"{p}: evaluate takes a folder of WFDB records, a folder of class sub-folders of images, "
                        "a WFDB record or a labelled CSV of beats")
    return "wfdb" if kind == "record" else "csv"


def _records(paths) -> list:
    from keras_ecg.data.wfdb_io import list_records

    out = []
    for p in map(pathlib.Path, paths):
        if p.is_dir():
            out += [str(p / n) for n in list_records(p)]
        else:
            out.append(str(p.with_suffix("") if p.suffix in (".hea", ".dat", ".atr") else p))
    return out


def _wfdb(classifier, paths, skipped):
    from keras_ecg.data import mitbih, signal_files
    from keras_ecg.data.model_inputs import record_inputs

    prep, names = classifier.card.preprocessing, list(classifier.card.class_names)
    xs, ys, good, times = [], [], [], []
    for path in _records(paths):
        try:
            rec = signal_files.read(path, annotations="atr")
            if rec.ann_samples is None:
                raise DataError(f"{path}: no reference annotations (a WFDB .atr file, or beat annotations in the "
                                "recording file)")
            ref = record_inputs(path, prep)
            by_sample = dict(zip(rec.ann_samples.tolist(), rec.ann_symbols.tolist()))
            labels = [mitbih.AAMI_MAP[by_sample[int(s)]] for s in ref.peaks]
            unknown = sorted(set(labels) - set(names))
            if unknown:
                raise DataError(f"{path}: beat classes {unknown} are not among the model's {names}")
        except _READ_ERRORS as e:
            skipped.append({"item": str(path), "reason": _reason(e)})
            continue
        xs.append(ref.inputs)
        ys.append(np.array([names.index(c) for c in labels], dtype=np.int64))
        good.append(path)
        times.append(ref.peaks / ref.fs)
    if not good:
        return None
    x = [np.concatenate([r[k] for r in xs]) for k in range(len(xs[0]))]
    return x, np.concatenate(ys), good, times


def _reason(e) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text


def image_files(paths, card, skipped) -> list:
    """``[(file, label)]`` of class sub-folders matched to ``card``'s classes by name (binary: normal vs rest)."""
    from keras_ecg.data.images import IMAGE_SUFFIXES, list_folder

    names = list(card.class_names)
    out = []
    for root in paths:
        try:
            files, _, _, _, ignored = list_folder(root)
        except (OSError, ValueError) as e:
            raise DataError(f"{root}: {_reason(e)}") from None
        for cls, fs in files.items():
            if card.binary:
                label = 0 if cls == names[0] else 1
            elif cls in names:
                label = names.index(cls)
            else:
                skipped += [{"item": str(f), "reason": f"class {cls!r} is not among the model's {names}"} for f in fs]
                continue
            for f in fs:
                if f.suffix.lower() in IMAGE_SUFFIXES:
                    out.append((f, label))
                else:
                    skipped.append({"item": str(f), "reason": "not an image file"})
    return out


def _images(classifier, paths, skipped, files=None):
    """``([inputs...], labels, files)`` of the readable pages: one input array, or one per member of a bundle."""
    pairs = files if files is not None else image_files(paths, classifier.card, skipped)
    parts, ys, read = [], [], []
    for f, label in pairs:
        try:
            batch = P.image_batch([f], classifier.card)
        except _READ_ERRORS as e:
            skipped.append({"item": str(f), "reason": _reason(e)})
            continue
        parts.append(batch if isinstance(batch, list) else [batch])
        ys.append(label)
        read.append(str(f))
    if not parts:
        return None
    return [np.concatenate(xs) for xs in zip(*parts)], np.array(ys, dtype=np.int64), read


def _csv_file(path, prep, names):
    from keras_ecg.data.model_inputs import labelled_csv_inputs

    return labelled_csv_inputs(path, prep, names)


def _csv(classifier, paths, skipped):
    names = list(classifier.card.class_names)
    xs, ys = [], []
    for path in paths:
        try:
            x, y = _csv_file(path, classifier.card.preprocessing, names)
        except _READ_ERRORS as e:
            skipped.append({"item": str(path), "reason": _reason(e)})
            continue
        xs.append(x)
        ys.append(y)
    if not xs:
        return None
    return [np.concatenate([a[k] for a in xs]) for k in range(len(xs[0]))], np.concatenate(ys), list(map(str, paths))


def labelled(classifier, data) -> tuple:
    """``(kind, x, y, items, skipped, times)``: the model inputs and labels of the labelled ``data`` paths;
    ``times``: for WFDB records, each record's beat times (s), else None."""
    data = [str(d) for d in data]
    kinds = {data_kind(d) for d in data}
    if len(kinds) > 1:
        raise DataError(f"{', '.join(data)}: one kind of data per evaluation (got {', '.join(sorted(kinds))})")
    kind, card, skipped = kinds.pop(), classifier.card, []
    want = ("waveform",) if kind in ("wfdb", "csv") else ("image", "panels", "digitized")
    if card.input_kind not in want:
        raise DataError(f"{data[0]}: {kind} data, but {classifier.path} takes {card.input_kind} input")
    got = {"wfdb": _wfdb, "images": _images, "csv": _csv}[kind](classifier, data, skipped)
    if got is None:
        raise DataError(f"{', '.join(data)}: nothing could be scored ("
                        + "; ".join(f"{s['item']}: {s['reason']}" for s in skipped[:3]) + ")")
    x, y, items, *times = got
    return kind, x, y, items, skipped, (times[0] if times else None)


def _rhythm_rule(card, times):
    """The calibrated probabilities of the records' beats (concatenated, in order) made rhythm-aware, record by
    record, with the card's rhythm analysis (as annotate and predict do)."""
    from keras_ecg.deploy import record_rhythm

    def apply(probs):
        out, i = [], 0
        for t in times:
            out.append(record_rhythm.analyze(t, probs[i:i + len(t)], card)[0].probs)
            i += len(t)
        return np.concatenate(out) if out else probs

    return apply


def evaluate_data(classifier, data, out, log=print) -> dict:
    """Score ``classifier`` (:func:`keras_ecg.deploy.runtime.load`) on the labelled ``data`` paths; the report.

    ``out`` is locked and staged (:mod:`keras_ecg.deploy.output_folder`): the report's files move in together
    when it is complete, and replace every file of the previous evaluation there (a plot it no longer draws too).
    """
    from keras_ecg.deploy.output_folder import writing

    with writing(out, "evaluate", log) as o:
        return _evaluate_into(classifier, data, o.stage, log)


def _evaluate_into(classifier, data, out, log) -> dict:
    from keras_ecg.evaluation import evaluate
    from keras_ecg.evaluation import records as ER

    data = [str(d) for d in data]
    card = classifier.card
    kind, x, y, items, skipped, times = labelled(classifier, data)
    probs = classifier(x)
    split = f"evaluate on {', '.join(data)}"
    extra = {"model": str(classifier.path), "runtime": classifier.runtime, "data_kind": kind, "data": data,
             "items_scored": len(items) if kind != "images" else int(len(y)), "skipped": skipped,
             "model_training_data": dataclasses.asdict(card.training_data) if card.training_data else None}
    report = evaluate(probs, {"x": x[0] if len(x) == 1 else tuple(x), "y": y}, out, split_name=split,
                      class_names=list(card.class_names), data_source=", ".join(data), extra=extra,
                      synthetic=False, calibration=card.calibration,
                      postprocess=_rhythm_rule(card, times) if times else None)
    for s in skipped:
        log(f"skipped {s['item']}: {s['reason']}")
    if kind == "wfdb":
        fake = types.SimpleNamespace(preprocessing=dataclasses.asdict(card.preprocessing), path="",
                                     test=types.SimpleNamespace(groups=np.array(items)))
        from keras_ecg.evaluation.calibration import apply

        report = ER.add_to_report(lambda xs: apply(classifier(xs), card.calibration), fake, out, report, split, log=log,
                                  rhythm=card.rhythm_config())
    if skipped:
        from keras_ecg import _atomic

        report["warnings"] = list(report.get("warnings", [])) + [f"{len(skipped)} item(s) not scored (extra.skipped)"]
        _atomic.write_json(pathlib.Path(out) / "report.json", report)
    return report


def measure_check(model_path, card, data_root, items) -> dict:
    """Accuracy and macro-F1 of the model at ``model_path`` on a small named subset (records or image files)."""
    from keras_ecg.deploy import runtime
    from keras_ecg.evaluation.metrics import classification_metrics, confusion_matrix

    clf = runtime.load(model_path, runtime="keras")
    skipped = []
    if card.input_kind == "waveform":
        x, y, _, _ = _wfdb(clf, [pathlib.Path(data_root) / str(i) for i in items], skipped)
    else:
        by_rel = [(pathlib.Path(data_root) / rel, None) for rel in items]
        labelled = {str(f): label for f, label in image_files([data_root], card, [])}
        x, y, _ = _images(clf, None, skipped, files=[(f, labelled[str(f)]) for f, _ in by_rel])
    if skipped:
        raise DataError(f"check subset: {skipped[0]['item']}: {skipped[0]['reason']}")
    probs = clf(x)
    pred = (probs[:, 0] >= 0.5).astype(np.int64) if probs.shape[1] == 1 else probs.argmax(axis=1)
    m = classification_metrics(confusion_matrix(y, pred, len(card.class_names)), list(card.class_names))
    return {"items": [str(i) for i in items], "accuracy": round(float(m["accuracy"]), 4),
            "macro_f1": None if m["macro_f1"] is None else round(float(m["macro_f1"]), 4), "n": int(len(y))}
