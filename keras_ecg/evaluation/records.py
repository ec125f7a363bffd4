"""AAMI EC57 figures of a beat classifier on whole records: on the reference
beat positions and end to end on detected R peaks.

:func:`evaluate_records` runs the model twice over each record: once on the
annotated beats (the figures papers usually give), once on the R peaks the
toolkit's own detector finds, matched to the annotations within 150 ms
(:func:`keras_ecg.evaluation.ec57.end_to_end`: a missed reference beat is a
miss for its class, an extra detection a false positive of the class predicted
for it). The inputs are built by :func:`keras_ecg.data.model_inputs.record_inputs`,
the code predict uses, from the model card's preprocessing.

With ``rhythm`` (the card's :class:`keras_ecg.card_rhythm.RhythmConfig`), each record's beats go
through :func:`keras_ecg.rhythm.analyze` first, as in ``annotate`` and ``predict``: the beat figures
are those of the rhythm-aware classes, and where the record's annotation file holds rhythm notes
(``+`` with ``(AFIB``...) the detected AF episodes are scored against them
(:mod:`keras_ecg.evaluation.rhythm`: EC57 AF measures, AF burden per record, N sensitivity inside
and outside AF).
"""

from __future__ import annotations

import pathlib

import numpy as np

from keras_ecg.evaluation import ec57

KEYS = ("accuracy", "macro_f1")


def _classes(probs, class_names, times_s, rhythm):
    """Class index per beat: the argmax, or the rhythm-aware class (and the record's analysis) with ``rhythm``."""
    probs = np.asarray(probs)
    if rhythm is None:
        return probs.argmax(axis=1), None
    from keras_ecg import rhythm as RH

    r = RH.analyze(times_s, probs, class_names, rhythm)
    return np.array([list(class_names).index(c) for c in r.classes], dtype=np.int64), r


def evaluate_records(predict, folder, records, prep, class_names=ec57.CLASSES, log=None, rhythm=None) -> dict:
    """``{"reference": ..., "detected": ...}`` EC57 dicts over ``records`` of a WFDB ``folder``
    (and ``"rhythm"`` with ``rhythm``).

    Args:
        predict: callable, list of model inputs -> class probabilities (n, K).
        folder: the folder of the records (with ``.atr`` reference annotations).
        records: record names.
        prep: the model card's waveform preprocessing (:class:`keras_ecg.card.WaveformPreprocessing`).
        rhythm: the card's rhythm analysis (:class:`keras_ecg.card_rhythm.RhythmConfig`), or None.
    """
    from keras_ecg.data import beats as B
    from keras_ecg.data import mitbih, signal_files
    from keras_ecg.data import signal as S
    from keras_ecg.data.model_inputs import record_inputs
    from keras_ecg.evaluation import rhythm as RM

    spec = B.BeatSpec.from_card(prep)
    ref_true, ref_pred = [], []
    e2e = {"ref_samples": [], "ref_labels": [], "det_samples": [], "det_pred": [], "fs": []}
    rhythm_records, n_af = {}, []
    for name in records:
        path = pathlib.Path(folder) / str(name)
        rec = signal_files.read(path, annotations="atr")
        is_beat = np.isin(rec.ann_symbols, list(mitbih.AAMI_MAP))
        samples = rec.ann_samples[is_beat]
        labels = np.array([class_names.index(mitbih.AAMI_MAP[s]) for s in rec.ann_symbols[is_beat]], dtype=np.int64)
        ref = record_inputs(path, prep)
        kept = np.isin(samples, ref.peaks)
        ref_true.append(labels[kept])
        pred, _ = _classes(predict(ref.inputs), class_names, ref.peaks / rec.fs, rhythm)
        ref_pred.append(pred)
        lead0 = rec.signal[:, B.choose_leads(rec.leads, spec.leads[:1], str(path))[0]]
        det = record_inputs(path, prep, peaks=S.detect_r_peaks(lead0, rec.fs))
        det_pred, analysis = _classes(predict(det.inputs), class_names, det.peaks / rec.fs, rhythm)
        for k, v in (("ref_samples", samples), ("ref_labels", labels), ("det_samples", det.peaks),
                     ("det_pred", det_pred), ("fs", rec.fs)):
            e2e[k].append(v)
        if analysis is not None and "+" in set(rec.ann_symbols.tolist()):
            notes, duration = RM.reference_rhythm(path)
            ref_af = RM.intervals(notes)
            rhythm_records[str(name)] = RM.record_measures(ref_af, RM.intervals(analysis.episodes), duration)
            n_af.append(RM.n_sensitivity(samples[kept] / rec.fs, [class_names[i] for i in labels[kept]],
                                         [class_names[i] for i in pred], ref_af))
        if log:
            log(f"  EC57 {name}: {len(samples)} reference beats, {len(det.peaks)} detected")
    reference = ec57.beat_metrics(np.concatenate(ref_true), np.concatenate(ref_pred), class_names)
    detected = ec57.end_to_end(e2e["ref_samples"], e2e["ref_labels"], e2e["det_samples"], e2e["det_pred"],
                               e2e["fs"], class_names=class_names)
    out = {"records": [str(r) for r in records], "reference": reference, "detected": detected}
    if rhythm is not None:
        out["rhythm_config"] = rhythm.to_card()
    if rhythm_records:
        with_af = {k: v for k, v in rhythm_records.items() if v["ref_s"] > 0}
        out["rhythm"] = {"af_records": RM.af_measures(with_af) if with_af else None,
                         "all_records": RM.af_measures(rhythm_records), "per_record": rhythm_records,
                         "n_se_in_af": RM.pooled_n(n_af, "in_af"), "n_se_outside_af": RM.pooled_n(n_af, "outside_af")}
    return out


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
    if result.get("rhythm_config"):
        rc = result["rhythm_config"]
        lines += [f"Beat classes after the rhythm analysis (beat rule `{rc['af_rule']}`, AF detector "
                  f"`{rc['af_detector']}` > {rc['af_threshold']}).", ""]
    if result.get("rhythm"):
        lines += _rhythm_markdown(result["rhythm"], split)
    return "\n".join(lines)


def _rhythm_markdown(r: dict, split: str) -> list:
    def f(v):
        return "—" if v is None else f"{v:.3f}"

    lines = [f"## Atrial fibrillation and flutter ({split})", "",
             "Detected AF episodes (from the detected R peaks) against the reference rhythm notes (AFIB + AFL); "
             "EC57 measures.", "", "| records | episode Se | episode +P | duration Se | duration +P |",
             "|---|---:|---:|---:|---:|"]
    for part, label in (("af_records", "with AF or flutter"), ("all_records", "all")):
        m = r.get(part)
        if m:
            lines.append(f"| {label} ({m['records']}) | {f(m['episode_se'])} | {f(m['episode_ppv'])} | "
                         f"{f(m['duration_se'])} | {f(m['duration_ppv'])} |")
    lines += ["", "| record | AF burden, reference (%) | detected (%) |", "|---|---:|---:|"]
    for name, m in r["per_record"].items():
        if m["ref_s"] or m["det_s"]:
            lines.append(f"| {name} | {m['ref_burden']:.1f} | {m['det_burden']:.1f} |")
    lines += ["", f"N sensitivity (reference beats): inside AF {f(r['n_se_in_af']['se'])} "
                  f"({r['n_se_in_af']['n_beats']} beats), outside AF {f(r['n_se_outside_af']['se'])}.", ""]
    return lines


def add_to_report(predict, data, out, report, split_name, log=print, rhythm=None) -> dict:
    """Add :func:`evaluate_records` on ``data``'s test records to ``report`` and its files in ``out``."""
    from keras_ecg import _atomic
    from keras_ecg import card as C

    prep = C.preprocessing_from("waveform", data.preprocessing)
    names = sorted(np.unique(data.test.groups).astype(str))
    log(f"EC57: {len(names)} test records, on reference beats and on detected R peaks")
    report["ec57"] = evaluate_records(predict, data.path, names, prep, rhythm=rhythm)
    _atomic.write_json(pathlib.Path(out) / "report.json", report)
    md = pathlib.Path(out) / "report.md"
    _atomic.write_text(md, md.read_text() + "\n" + markdown(report["ec57"], split_name))
    for side in ("reference", "detected"):
        m = report["ec57"][side]
        log(f"  {side}: accuracy {m['accuracy']:.4f}, macro-F1 NSVF {m['macro_f1']:.4f}, F1 "
            + ", ".join(f"{c} {v:.3f}" if v is not None else f"{c} -" for c, v in m["f1"].items()))
    r = report["ec57"].get("rhythm", {}).get("af_records")
    if r:
        log(f"  AF ({r['records']} records): duration Se {r['duration_se']}, +P {r['duration_ppv']}; episode Se "
            f"{r['episode_se']}, +P {r['episode_ppv']}")
    return report
