"""AAMI EC57 figures of a beat classifier on whole records: on the reference
beat positions and end to end on detected R peaks.

:func:`evaluate_records` runs the model twice over each record: once on the
annotated beats (the figures papers usually give), once on the R peaks the
toolkit's own detector finds, matched to the annotations within 150 ms
(:func:`keras_ecg.evaluation.ec57.end_to_end`: a missed reference beat is a
miss for its class, an extra detection a false positive of the class predicted
for it). The inputs are built by :func:`keras_ecg.deploy.waveform_inputs.record_inputs`,
the code predict uses, from the model card's preprocessing.
"""

from __future__ import annotations

import pathlib

import numpy as np

from keras_ecg.evaluation import ec57

KEYS = ("accuracy", "macro_f1")


def evaluate_records(predict, folder, records, prep, class_names=ec57.CLASSES, log=None) -> dict:
    """``{"reference": ..., "detected": ...}`` EC57 dicts over ``records`` of a WFDB ``folder``.

    Args:
        predict: callable, list of model inputs -> class probabilities (n, K).
        folder: the folder of the records (with ``.atr`` reference annotations).
        records: record names.
        prep: the model card's waveform preprocessing (:class:`keras_ecg.card.WaveformPreprocessing`).
    """
    from keras_ecg.data import beats as B
    from keras_ecg.data import mitbih
    from keras_ecg.data import signal as S
    from keras_ecg.deploy.waveform_inputs import record_inputs

    spec = B.BeatSpec.from_card(prep)
    ref_true, ref_pred = [], []
    e2e = {"ref_samples": [], "ref_labels": [], "det_samples": [], "det_pred": [], "fs": []}
    for name in records:
        path = pathlib.Path(folder) / str(name)
        rec = mitbih.load_record(path)
        is_beat = np.isin(rec.ann_symbols, list(mitbih.AAMI_MAP))
        samples = rec.ann_samples[is_beat]
        labels = np.array([class_names.index(mitbih.AAMI_MAP[s]) for s in rec.ann_symbols[is_beat]], dtype=np.int64)
        ref = record_inputs(path, prep)
        kept = np.isin(samples, ref.peaks)
        ref_true.append(labels[kept])
        ref_pred.append(np.asarray(predict(ref.inputs)).argmax(axis=1))
        lead0 = rec.signal[:, B.choose_leads(rec.leads, spec.leads[:1], str(path))[0]]
        det = record_inputs(path, prep, peaks=S.detect_r_peaks(lead0, rec.fs))
        for k, v in (("ref_samples", samples), ("ref_labels", labels), ("det_samples", det.peaks),
                     ("det_pred", np.asarray(predict(det.inputs)).argmax(axis=1)), ("fs", rec.fs)):
            e2e[k].append(v)
        if log:
            log(f"  EC57 {name}: {len(samples)} reference beats, {len(det.peaks)} detected")
    reference = ec57.beat_metrics(np.concatenate(ref_true), np.concatenate(ref_pred), class_names)
    detected = ec57.end_to_end(e2e["ref_samples"], e2e["ref_labels"], e2e["det_samples"], e2e["det_pred"],
                               e2e["fs"], class_names=class_names)
    return {"records": [str(r) for r in records], "reference": reference, "detected": detected}


def markdown(result: dict, split: str) -> str:
    """A report.md section: Se, +P, F1 and FPR per class, on reference and on detected beats."""
    lines = [f"## AAMI EC57 beat figures ({split})", "",
             "Reference = the annotated beat positions; detected = the toolkit's R-peak detector, matched "
             "within 150 ms (a missed beat counts against its class, an extra detection as a false positive).",
             "", "| beats | class | Se | +P | F1 | FPR | support |", "|---|---|---:|---:|---:|---:|---:|"]

    def f(v):
        return "—" if v is None else f"{v:.3f}"

    for side in ("reference", "detected"):
        m = result[side]
        for c, row in {**m["per_class"], **m.get("unscored", {})}.items():
            lines.append(f"| {side} | {c} | {f(row['se'])} | {f(row['ppv'])} | {f(row['f1'])} | {f(row['fpr'])} | "
                         f"{row['support']} |")
        lines.append(f"| {side} | accuracy {f(m['accuracy'])}, macro-F1 (N S V F; Q apart) {f(m['macro_f1'])} "
                     "| | | | | |")
    d = result["detected"]
    lines += ["", f"Detector: Se {f(d.get('detector_se'))}, +P {f(d.get('detector_ppv'))}.", ""]
    return "\n".join(lines)


def add_to_report(predict, data, out, report, split_name, log=print) -> dict:
    """Add :func:`evaluate_records` on ``data``'s test records to ``report`` and its files in ``out``."""
    from keras_ecg import _atomic
    from keras_ecg import card as C

    prep = C.preprocessing_from("waveform", data.preprocessing)
    names = sorted(np.unique(data.test.groups).astype(str))
    log(f"EC57: {len(names)} test records, on reference beats and on detected R peaks")
    report["ec57"] = evaluate_records(predict, data.path, names, prep)
    _atomic.write_json(pathlib.Path(out) / "report.json", report)
    md = pathlib.Path(out) / "report.md"
    _atomic.write_text(md, md.read_text() + "\n" + markdown(report["ec57"], split_name))
    for side in ("reference", "detected"):
        m = report["ec57"][side]
        log(f"  {side}: accuracy {m['accuracy']:.4f}, macro-F1 NSVF {m['macro_f1']:.4f}, F1 "
            + ", ".join(f"{c} {v:.3f}" if v is not None else f"{c} -" for c, v in m["f1"].items()))
    return report
