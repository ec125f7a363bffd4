"""``keras-ecg evaluate / annotate / synth-record / pretrained``: flags only; the work is in the deploy modules.

    keras-ecg evaluate MODEL DATA... [--out DIR] [--runtime auto|onnx|keras]
    keras-ecg annotate MODEL RECORD... --out DIR [--fs HZ] [--span START:END ...] [--format wfdb,edf,dicom]
    keras-ecg synth-record OUT [--minutes 2] [--fs 360] [--seed 0] [--leads MLII,V1]
    keras-ecg pretrained                                  # the shipped models and their figures
    keras-ecg calibrate MODEL DATA... [--method temperature|platt|none] [--target-accuracy 0.95] [--out DIR]
    keras-ecg explain MODEL INPUT... --out DIR [--method auto|gradcam|ig|saliency] [--class NAME] [--max N]

MODEL is a ``.keras`` file (card beside it), its folder, or ``pretrained:NAME``. Every folder written
(``--out``, and the model's folder that ``calibrate`` rewrites without ``--out``) is locked and staged:
:mod:`keras_ecg.deploy.output_folder`.
"""

from __future__ import annotations

import argparse
import json
import pathlib

from keras_ecg.backend import BACKENDS
from keras_ecg.data import rates


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise SystemExit(f"{self.prog}: error: {message}")


def _model_args(p):
    p.add_argument("model", help="a .keras file (model_card.json beside it), its folder, or pretrained:NAME")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="Keras backend (default: $KERAS_BACKEND or jax)")
    p.add_argument("--runtime", choices=("auto", "onnx", "keras"), default="auto",
                   help="auto: the card's ONNX file in onnxruntime when both exist, else Keras")


def _classifier(args):
    from keras_ecg import backend as kb

    try:
        kb.use(args.backend or kb.default())
    except (RuntimeError, ValueError) as e:
        raise SystemExit(f"keras-ecg: error: {str(e).splitlines()[0]}") from None
    from keras_ecg.deploy import runtime

    return runtime.load(args.model, args.runtime)


def evaluate(argv) -> int:
    p = _Parser(prog="keras-ecg evaluate", description="Score a saved model on labelled data: report.json, "
                "report.md and plots (and AAMI EC57 figures for WFDB records).")
    _model_args(p)
    p.add_argument("data", nargs="+", metavar="DATA", help="a folder of WFDB records with .atr annotations, "
                   "WFDB record paths, a folder of class sub-folders of images, or a labelled CSV of beats")
    p.add_argument("--out", default="evaluation", help="report folder (default: ./evaluation)")
    args = p.parse_args(argv)
    clf = _classifier(args)
    from keras_ecg.deploy.evaluate_data import evaluate_data

    report = evaluate_data(clf, args.data, args.out)
    print(f"{report['num_test']} items, accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1'] or 0:.4f} "
          f"({clf.runtime}); skipped {len(report['extra']['skipped'])}; report in {args.out}/report.md")
    return 0


def _span(text):
    """``START:END`` seconds; checked against the record (its end, the chart's bounds) by
    :func:`keras_ecg.deploy.strip_chart.check_spans`."""
    import math

    from keras_ecg.deploy.strip_chart import MAX_SPAN_S

    try:
        a, b = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected START:END in seconds, e.g. 0:10") from None
    if not (math.isfinite(a) and math.isfinite(b) and 0 <= a < b):
        raise argparse.ArgumentTypeError(f"{text!r}: need finite 0 <= START < END")
    if b - a > MAX_SPAN_S:
        raise argparse.ArgumentTypeError(f"{text!r}: a chart draws at most {MAX_SPAN_S:g} s")
    return (a, b, f"{a:g}-{b:g} s")


def _positive(kind, most=None):
    """An argparse ``type``: a finite number > 0 (and <= ``most``) of ``kind`` (float or int)."""
    import math

    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: not a number") from None
        if not math.isfinite(v) or v <= 0 or (most is not None and v > most):
            raise argparse.ArgumentTypeError(f"{text!r}: need a finite number > 0"
                                             + (f" and <= {most:g}" if most is not None else ""))
        return v

    return parse


def annotate(argv) -> int:
    p = _Parser(prog="keras-ecg annotate", description="Detect, classify and summarise every beat of whole "
                "records, and their rhythm (AF, pauses, runs, ...): WFDB beat and rhythm annotations, a CSV of "
                "beats, a CSV of episodes, a summary and a strip chart per record.")
    _model_args(p)
    p.add_argument("records", nargs="+", metavar="RECORD", help="WFDB record (path without extension or .hea), "
                   "a .csv of samples (one column per lead; give --fs) or a recording file recognised by its "
                   "content (DICOM waveform, EDF/EDF+/BDF, HL7 aECG, GE MUSE XML, ISHNE)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--fs", type=rates.flag, default=None, help=f"sampling rate (Hz) of CSV recordings "
                   f"({rates.RANGE_TEXT}, as every recording)")
    from keras_ecg.data import formats
    from keras_ecg.deploy.annotate import FORMATS

    p.add_argument("--format", type=formats.flag(FORMATS, always=("wfdb",)), default=("wfdb",),
                   help="annotation files to write, comma-separated: wfdb (always), edf (an EDF+ file with the "
                        "annotations), dicom (a DICOM ECG waveform object with a WaveformAnnotationSequence)")
    p.add_argument("--keep-identifiers", action="store_true",
                   help="copy the patient fields of the input file's header (name, id, birth date, sex) into the "
                        "EDF+ and DICOM outputs; without it no output carries them")
    p.add_argument("--span", type=_span, action="append", default=None, metavar="START:END",
                   help="strip-chart span in seconds (repeatable; default: the first 10 s, the onset of the "
                        "longest AF episode, the longest pause and the minute with most ectopic beats)")
    args = p.parse_args(argv)
    clf = _classifier(args)
    from keras_ecg.deploy import annotate as A
    from keras_ecg.deploy import summary
    from keras_ecg.deploy.output_folder import writing

    with writing(args.out, "annotate") as o:  # locked, staged; the files move in when every record is done
        for rec in args.records:  # two records of one name are refused (their name is inside the WFDB files)
            o.claim(A.output_name(rec), rec, refuse=True)
        for rec in args.records:
            a = A.with_rhythm(A.annotate(clf, rec, fs=args.fs, spans=args.span), clf.card)  # spans checked first
            paths = A.write(a, clf.card, o.stage, spans=args.span, formats=args.format,
                            identifiers=args.keep_identifiers)
            o.add(o.claim(A.output_name(rec), rec, refuse=True), paths.values())
            print(summary.text(json.loads(pathlib.Path(paths["summary_json"]).read_text()),
                               f"{rec}: {a.lead} at {a.record.fs:g} Hz, {clf.runtime}, "
                               f"{sum(a.seconds.values()):.3f} s").rstrip())
            print("  files: " + ", ".join(str(o.final(v)) for v in paths.values()))
    print(f"{len(args.records)} record(s) annotated into {args.out}")
    return 0


def synth_record(argv) -> int:
    p = _Parser(prog="keras-ecg synth-record", description="Write a synthetic WFDB record (one MLII lead unless "
                "--leads says otherwise, reference .atr annotations) for demos and tests. It is not real ECG.")
    p.add_argument("out", help="record path without extension, e.g. demo/synth")
    p.add_argument("--minutes", type=_positive(float, 24 * 60), default=2.0, help="length (at most a day)")
    p.add_argument("--fs", type=rates.flag, default=360.0, help=f"sampling rate, Hz ({rates.RANGE_TEXT})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--leads", default="MLII", help="comma-separated lead names, e.g. MLII,V1 (default MLII)")
    args = p.parse_args(argv)
    from keras_ecg.data import synthetic_wfdb

    try:
        files = synthetic_wfdb.write_record(args.out, args.minutes, args.fs, args.seed, args.leads.split(","))
    except ValueError as e:
        raise SystemExit(f"keras-ecg synth-record: error: {e}") from None
    print("wrote " + ", ".join(map(str, files)))
    return 0


def pretrained(argv) -> int:
    p = _Parser(prog="keras-ecg pretrained", description="List the shipped pretrained models.")
    p.parse_args(argv)
    from keras_ecg.deploy import pretrained as PT

    names = PT.list_pretrained()
    if not names:
        print(f"no pretrained models in {PT.root()}")
    for n in names:
        c = PT.card(n)
        figures = ", ".join(f"{k} {v:.3f}" for k, v in c.metrics.items()
                            if v is not None and k in ("accuracy", "macro_f1", "roc_auc_risk", "roc_auc_macro"))
        split = c.release.metrics_split if c.release else "?"
        what = "bundle of " + " + ".join(m.name for m in c.bundle.members) if c.bundle else c.model
        cal = f"; calibrated, ECE {c.calibration.ece_before:.3f} -> {c.calibration.ece_after:.3f}" if c.calibration else ""
        print(f"pretrained:{n:20s} {what} ({c.input_kind}), classes {', '.join(c.class_names)}; {figures}{cal} "
              f"({split})")
    return 0


def calibrate(argv) -> int:
    p = _Parser(prog="keras-ecg calibrate", description="Fit a saved model's calibration and uncertainty threshold "
                "on labelled validation data (never its test data) and store them in its model card.")
    _model_args(p)
    p.add_argument("data", nargs="+", metavar="DATA", help="labelled validation data, as keras-ecg evaluate takes")
    p.add_argument("--method", choices=("temperature", "platt", "none"), default="temperature")
    p.add_argument("--target-accuracy", type=float, default=0.95,
                   help="flag outputs uncertain below the confidence that keeps this accuracy on DATA")
    p.add_argument("--out", default=None, help="write a calibrated copy of the model (its files and the new card) "
                   "here; required for a shipped pretrained model, which is never rewritten (default: rewrite "
                   "the card beside the model)")
    args = p.parse_args(argv)
    clf = _classifier(args)
    from keras_ecg.deploy.calibrate_model import calibrate as fit

    cal, path, skipped = fit(clf, args.data, args.method, args.target_accuracy, out=args.out)
    print(f"{cal.method} on {cal.fitted_items} outputs: ECE {cal.ece_before:.4f} -> {cal.ece_after:.4f}, Brier "
          f"{cal.brier_before:.4f} -> {cal.brier_after:.4f}; uncertain below {cal.uncertain_below:.3f} (keeps "
          f"{cal.kept_fraction:.1%} at accuracy {cal.kept_accuracy or 0:.3f}, target {cal.target_accuracy} "
          f"{'met' if cal.target_met else 'NOT met'}); skipped {len(skipped)}; written to {path}")
    return 0


def explain(argv) -> int:
    p = _Parser(prog="keras-ecg explain", description="Why the model decided: Grad-CAM maps over pages and lead "
                "panels, integrated-gradients (or saliency) curves over beats; PNGs, .npz arrays, explanations.json.")
    p.add_argument("model", help="a .keras file (model_card.json beside it), its folder, or pretrained:NAME")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image, folder of images, WFDB record, CSV of beats or a recording file read by content (DICOM, EDF, ...)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="Keras backend (default: $KERAS_BACKEND or jax)")
    p.add_argument("--method", choices=("auto", "gradcam", "ig", "saliency"), default="auto",
                   help="auto: gradcam for image and panel models, ig (integrated gradients) for beat models")
    p.add_argument("--class", dest="class_name", default=None, help="explain this class (default: the predicted one)")
    p.add_argument("--max", type=_positive(int), default=12, help="at most this many beats per record/CSV, images per folder")
    p.add_argument("--orientation", choices=("auto", "upright", "rotated"), default="auto",
                   help="pages digitised for their measurements: auto (default) turns an upside-down page and "
                        "refuses one whose orientation cannot be told (its measurements are left out, with the "
                        "reason); upright takes pages as they are; rotated turns them by 180 degrees")
    args = p.parse_args(argv)
    from keras_ecg import backend as kb

    try:
        kb.use(args.backend or kb.default())
    except (RuntimeError, ValueError) as e:
        raise SystemExit(f"keras-ecg explain: error: {str(e).splitlines()[0]}") from None
    from keras_ecg.deploy import predict as P
    from keras_ecg.deploy.explain_files import explain_paths
    from keras_ecg.deploy.pretrained import resolve

    model, card = P.load(resolve(args.model))
    entries = explain_paths(model, card, args.inputs, args.out, args.method, args.max, args.class_name,
                            orientation=args.orientation)
    print(f"{len(entries)} item(s) explained; {args.out}/explanations.json")
    return 0


from keras_ecg.deploy.digitize_cmd import digitize  # noqa: E402 - keras-ecg digitize

COMMANDS = {"digitize": digitize, "calibrate": calibrate, "explain": explain, "evaluate": evaluate, "annotate": annotate, "synth-record": synth_record, "pretrained": pretrained}
