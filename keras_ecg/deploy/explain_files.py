"""``keras-ecg explain MODEL INPUT... --out DIR``: attributions of a saved model's decisions, as pictures.

    keras-ecg explain pretrained:ecg_pages_5class page.jpg --out why/   # Grad-CAM over the page
    keras-ecg explain MODEL data/mitdb/100 --out why/ --max 6             # integrated gradients, first 6 beats

Inputs are read as predict reads them (:mod:`keras_ecg.deploy.predict`, the card's
preprocessing). For every input ``NAME`` the folder gets, each written atomically:

* ``NAME_<method>.png``: image models: the page and the Grad-CAM map over it; panel
  models: every lead panel with its map and its share of the map; beat models (a
  record or a CSV of beats): the first ``--max`` beats with their attribution curves;
* ``NAME_<method>.npz``: ``attributions`` (the maps, in the input's shape without
  channels for Grad-CAM), ``classes`` (explained class index per item), ``probabilities``;

and ``explanations.json`` lists every item: input, item, explained class, calibrated
probability, the ``uncertain`` flag, method and picture; a page also its ``measurements`` and
``evidence`` (as ``predict --json``; the findings are printed under the picture's title). A model
bundle is explained through its page-image member (Grad-CAM), for the class the bundle predicts. The folder is locked and staged
(:mod:`keras_ecg.deploy.output_folder`); two inputs of one ``NAME`` get ``NAME`` and ``NAME-2``;
``NAME`` is the input's name made safe for any file system
(:func:`keras_ecg.deploy.output_folder.safe_name`).
"""

from __future__ import annotations

import io
import pathlib

import numpy as np

from keras_ecg import _atomic
from keras_ecg.data import model_inputs as W
from keras_ecg.deploy import explain as E
from keras_ecg.deploy import explain_plots as EP
from keras_ecg.deploy import predict as P
from keras_ecg.deploy.output_folder import safe_name
from keras_ecg.errors import DataError
from keras_ecg.evaluation.calibration import as_matrix, calibrated

__all__ = ["explain_paths"]


def _items(card, inp, max_items):
    """``(name, [model inputs], item labels, whole)`` of one input; ``whole``: for a record, every beat's inputs
    and times (its rhythm decides the classes shown, as in predict and annotate), else None."""
    kind = P.input_type(inp)
    p = pathlib.Path(inp)
    if kind in ("image", "folder"):
        if card.input_kind not in ("image", "panels"):
            raise DataError(f"{inp}: an image, but this model takes {card.input_kind} input")
        files = [p] if kind == "image" else sorted(f for f in p.rglob("*") if f.suffix.lower() in P.IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{inp}: folder holds no images")
        return [(f.stem, _as_list(P.image_batch([f], card)), [str(f)], None) for f in files[:max_items]]
    if card.input_kind != "waveform":
        raise DataError(f"{inp}: a {kind}, but this model takes {card.input_kind} input")
    whole = None
    if kind == "csv":
        xs = W.csv_inputs(inp, card.preprocessing)
        labels = [f"beat {i}" for i in range(len(xs[0]))]
    else:
        rec = W.record_inputs(inp, card.preprocessing)
        xs = rec.inputs
        labels = [f"beat {i} @ {s / rec.fs:.2f} s" for i, s in enumerate(rec.peaks)]
        whole = (xs, rec.peaks / rec.fs)
    n = min(max_items, len(xs[0]))
    if not n:
        raise DataError(f"{inp}: no complete beat window found")
    return [(p.stem if kind == "csv" else p.name, [np.asarray(x[:n]) for x in xs], labels[:n], whole)]


def _as_list(x) -> list:
    """Model inputs as a list: one array, or a bundle's one array per member."""
    return x if isinstance(x, list) else [x]


def _attribution_model(model, card, xs):
    """``(keras model, its inputs, its card's input kind)`` to attribute with: the model itself, or for a model
    bundle its page-image member (Grad-CAM over the page; the bundle's probabilities decide the class)."""
    if card.bundle is None:
        return model, xs, card.input_kind
    i, page_model, member = model.page_member()
    return page_model, [xs[i]], member.input_kind


def _probabilities(model, card, xs, whole):
    """Calibrated probabilities and uncertainty flags of the items ``xs``; for a record's beats, the
    rhythm-aware ones of :mod:`keras_ecg.deploy.record_rhythm` (the whole record analysed, as predict does)."""
    def run(inputs):
        return np.asarray(model.predict(inputs[0] if len(inputs) == 1 else inputs, verbose=0), dtype=np.float64)

    if whole is None:
        return calibrated(run(xs), card.calibration)
    from keras_ecg.deploy import record_rhythm

    all_xs, times = whole
    probs, unsure = calibrated(run(all_xs), card.calibration)
    r, unsure = record_rhythm.analyze(times, probs, card, unsure)
    n = len(xs[0])
    return r.probs[:n], np.asarray(unsure)[:n]


def _target(card, probs, class_name):
    names = list(card.class_names)
    if class_name is None:
        return as_matrix(probs).argmax(axis=1)
    if class_name not in names:
        raise DataError(f"--class {class_name!r}: not one of the model's classes {names}")
    return np.full(len(probs), names.index(class_name))


def _npz(path, **arrays):
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    _atomic.write_bytes(path, buf.getvalue())


def explain_paths(model, card, inputs, out, method: str = "auto", max_items: int = 12, class_name=None,
                  log=print, orientation: str = "auto") -> list:
    """Explain every input with ``model`` and its ``card``; the ``explanations.json`` entries.

    ``orientation``: how a page is taken when it is digitised for its measurements (``auto``, ``upright``,
    ``rotated``: :func:`keras_ecg.data.images.orientation.orient`).

    ``out`` is locked and staged (:mod:`keras_ecg.deploy.output_folder`): the files move in when every input
    is done; two inputs of one name (``a/1.jpg``, ``b/1.jpg``) are written as ``1_...`` and ``1-2_...``.
    """
    if max_items < 1:
        raise DataError(f"--max {max_items}: must be at least 1")
    from keras_ecg.deploy.output_folder import writing

    with writing(out, "explain", log) as o:
        return _explain_into(o, model, card, inputs, method, max_items, class_name, log, orientation)


def _explain_into(o, model, card, inputs, method, max_items, class_name, log, orientation="auto") -> list:
    out = o.stage
    names, entries = list(card.class_names), []
    for inp in inputs:
        for name, xs, labels, whole in _items(card, inp, max_items):
            name = o.claim(safe_name(name, "input"), labels[0] if card.input_kind in ("image", "panels") else inp)  # labels: the file
            probs, unsure = _probabilities(model, card, xs, whole)
            target = _target(card, probs, class_name)
            a_model, a_xs, a_kind = _attribution_model(model, card, xs)
            used, attr = E.explain(a_model, a_xs, target, a_kind, method)
            pm = as_matrix(probs)
            evidence = P.page_evidence(labels[0], orientation) if card.input_kind in ("image", "panels") else None
            png = out / f"{name}_{used}.png"
            shown = [pathlib.Path(lab).name if card.input_kind in ("image", "panels") else lab for lab in labels]
            titles = [f"{lab}: {names[c]} {pm[i, c]:.2f}{' UNCERTAIN' if unsure[i] else ''}"  # a page: its name
                      for i, (lab, c) in enumerate(zip(shown, target))]
            if evidence and evidence["evidence"]:  # the findings behind a page's class, under its title
                titles[0] += "\n" + "; ".join(evidence["evidence"][:4])
            if a_kind == "waveform":
                EP.draw_beats(png, xs[0], attr, titles, card.preprocessing.fs, card.preprocessing.before, used)
            elif a_kind == "panels":
                EP.draw_panels(png, a_xs[0][0], attr[0], titles[0])
            else:
                EP.draw_image(png, a_xs[0][0], attr[0], titles[0])
            _npz(png.with_suffix(".npz"), attributions=attr.astype(np.float32), classes=target, probabilities=pm)
            for i, lab in enumerate(labels):
                entries.append({"input": str(inp), "item": lab, "class": names[int(target[i])],
                                "probability": float(pm[i, target[i]]), "uncertain": bool(unsure[i]),
                                "method": used, "picture": png.name, **(evidence or {})})
            o.add(name, [png, png.with_suffix(".npz")])
            log(f"{inp}: {len(labels)} item(s), {used} -> {o.final(png)}")
    _atomic.write_json(out / "explanations.json", {"model_classes": names, "items": entries})
    return entries
