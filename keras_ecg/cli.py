"""``keras-ecg`` command line.

    keras-ecg predict MODEL INPUT... [--with MODEL2] [--json] [--backend NAME]
    keras-ecg train --task mitbih --model cnn_lstm [runner flags]   # the recipes' runner, any model
    keras-ecg train --task images --model attention_vgg [--classes a,b,c] [--binary]
    keras-ecg models [PATTERN]                                       # registered models and input kinds
    keras-ecg bench [ARGS]                                           # benchmarks/backends.py of a checkout
    keras-ecg evaluate MODEL DATA... [--out DIR]                     # score a saved model on labelled data
    keras-ecg annotate MODEL RECORD... --out DIR                     # annotate whole records
    keras-ecg synth-record OUT [--minutes 2]                         # a synthetic WFDB record (demo)
    keras-ecg pretrained                                             # the shipped models
    keras-ecg calibrate MODEL DATA...                                # fit calibration on validation data
    keras-ecg explain MODEL INPUT... --out DIR                       # Grad-CAM / integrated gradients
    keras-ecg digitize PAGE... --out DIR                             # page images -> signals (WFDB, CSV, DICOM)
    keras-ecg serve MODEL... [--host 127.0.0.1] [--port 8000]        # the models over HTTP (FastAPI)
    keras-ecg --version                                              # the installed keras-ecg version

MODEL may be pretrained:NAME (keras-ecg pretrained lists them).

Flags are parsed and the backend chosen before keras is imported.
"""

from __future__ import annotations

import argparse
import json
import sys

from keras_ecg.backend import BACKENDS
from keras_ecg.errors import KerasECGError, one_line


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise SystemExit(f"{self.prog}: error: {message}")


def _rate(text):
    from keras_ecg.data import rates

    return rates.flag(text)


def _predict(argv) -> int:
    p = _Parser(prog="keras-ecg predict",
                description="Classify ECG images, folders of images, WFDB records, EDF files, CSV recordings "
                            "(with --fs) or CSVs of beats.")
    p.add_argument("model", help="a .keras file (with model_card.json beside it) or its folder")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image file, folder of images, WFDB record (path without extension or .hea), CSV of beats, a "
                        "CSV recording (one column per lead) with --fs, or a recording file read by its content "
                        "(DICOM waveform, EDF/EDF+, aECG, MUSE XML, ISHNE)")
    p.add_argument("--fs", type=_rate, default=None, help="sampling rate (Hz) of CSV recordings; without it a CSV "
                   "is a CSV of beats")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="Keras backend (default: $KERAS_BACKEND or jax)")
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--lead", default=None,
                   help="the record's lead to read as the model's first lead, where the lead policy finds none")
    p.add_argument("--with", dest="also", action="append", default=[], metavar="MODEL",
                   help="another image model with the same classes; the prediction is the mean of all the models' "
                        "probabilities (e.g. a page model --with a model on the digitised leads); repeatable")
    p.add_argument("--orientation", choices=("auto", "upright", "rotated"), default="auto",
                   help="pages that are digitised (digitised-lead models, measurements): auto (default) turns an "
                        "upside-down page and refuses one whose orientation cannot be told; upright takes pages as "
                        "they are; rotated turns them by 180 degrees")
    args = p.parse_args(argv)

    from keras_ecg import backend as kb

    try:
        kb.use(args.backend or kb.default())
    except (RuntimeError, ValueError) as e:
        raise SystemExit(f"keras-ecg predict: error: {str(e).splitlines()[0]}") from None
    from keras_ecg.deploy import predict as P
    from keras_ecg.errors import KerasECGError

    from keras_ecg.deploy.pretrained import resolve

    try:
        args.model = resolve(args.model)
        if args.also:  # several models, one prediction: the mean of their probabilities
            from keras_ecg.deploy import combine

            pairs = combine.load_all([args.model, *(resolve(m) for m in args.also)])
            card = combine.combined_card(pairs)
            results = combine.predict_paths(pairs, args.inputs, args.batch_size)
        else:
            model, card = P.load(args.model)
            results = P.predict_paths(model, card, args.inputs, args.batch_size, args.lead, args.orientation,
                                      fs=args.fs)
    except KerasECGError as e:  # bad input, card or model: one line
        raise SystemExit(f"keras-ecg predict: error: {one_line(e)}") from None
    if args.json:
        models = {"models": [p[0] for p in pairs]} if args.also else {"model": str(P.find_model(args.model))}
        text = json.dumps({**models, "class_names": card.class_names, "binary": card.binary, "results": results},
                          indent=2)
    else:
        text = P.format_text(results, card)
    _write_stdout(text + "\n")
    return 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _write_stdout(text) -> None:
    """Print ``text``; a reader that closed the pipe (``| head``) ends the command with one line, not a traceback."""
    import os

    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)  # no second error when Python flushes stdout at exit
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit("keras-ecg predict: error: stdout was closed before all results were written "
                         "(broken pipe; use --json > file for the whole output)") from None


# What `keras-ecg train --task T` runs; every other setting is keras_ecg.config.RunConfig's default
# (with the task's overlay, config.TASK_DEFAULTS) unless a flag sets it.
TRAIN_DEFAULTS = {
    "mitbih": {"name": "keras-ecg-train-mitbih", "task": "mitbih", "model": "cnn_lstm"},
    "images": {"name": "keras-ecg-train-images", "task": "images", "model": "cnn2d"},
}


def _train(argv) -> int:
    pre = _Parser(prog="keras-ecg train", add_help=False)
    pre.add_argument("--task", choices=tuple(TRAIN_DEFAULTS), default="mitbih")
    pre.add_argument("--classes", default=None, help="images: comma-separated classes to keep")
    pre.add_argument("--binary", action="store_true", help="images: normal vs risky, sigmoid risk output")
    known, rest = pre.parse_known_args(argv)
    config = dict(TRAIN_DEFAULTS[known.task])
    if known.classes:
        config["classes"] = [c.strip() for c in known.classes.split(",") if c.strip()]
    if known.binary:
        config["binary"] = True
        config["name"] += "-binary"
    from keras_ecg.training import runner

    runner.main(config, rest)
    return 0


def _models(argv) -> int:
    p = _Parser(prog="keras-ecg models")
    p.add_argument("pattern", nargs="?", default="*")
    args = p.parse_args(argv)
    from keras_ecg import registry

    for name in registry.list_models(args.pattern):
        print(f"{name:24s} {registry.input_kind(name)}")
    return 0


def _bench(argv) -> int:
    """Forward to the backend benchmark harness of a checkout (benchmarks/backends.py)."""
    import pathlib
    import runpy

    script = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "backends.py"
    if not script.exists():
        raise SystemExit("keras-ecg bench: error: the benchmark harness (benchmarks/backends.py) ships with the "
                         "repository, not the package; run it from a checkout")
    sys.argv = [str(script), *argv]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    return 0


COMMANDS = {"predict": _predict, "train": _train, "models": _models}
from keras_ecg.deploy.commands import COMMANDS as _DEPLOY_COMMANDS  # noqa: E402 - evaluate, annotate, ...

COMMANDS.update(_DEPLOY_COMMANDS)


def _serve(argv) -> int:
    from keras_ecg.serve.command import serve

    return serve(argv)


COMMANDS["serve"] = _serve


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if argv[0] in ("--version", "-V"):
        from keras_ecg import __version__

        print(f"keras-ecg {__version__}")
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "bench":
        return _bench(rest)
    if cmd not in COMMANDS:
        raise SystemExit(f"keras-ecg: error: unknown command {cmd!r}; choose one of "
                         f"{', '.join(list(COMMANDS) + ['bench'])}")
    try:
        return COMMANDS[cmd](rest)
    except KerasECGError as e:  # a problem the user can fix: one line, no traceback
        raise SystemExit(f"keras-ecg {cmd}: error: {one_line(e)}") from None


if __name__ == "__main__":
    sys.exit(main())
