"""Regenerate the shipped pretrained models from scratch: train with a recipe, then package.

    KERAS_ECG_DATA=../shared/data python saved_models/make_pretrained.py mitbih_beats
    KERAS_ECG_DATA=../shared/data python saved_models/make_pretrained.py all
    python saved_models/make_pretrained.py ecg_pages_risk --package-only     # re-package a finished run

Each model is trained by its recipe's own ``CONFIG`` (so ``mitbih_beats`` follows whatever
``recipes/mitbih_hybrid.py`` says: trained on DS1, validation on DS1 records, figures on DS2)
plus the flags in :data:`MODELS`, into ``runs/pretrained/<name>``, exported as ``.keras`` and
ONNX (each verified against the Keras outputs). Packaging copies the two files and the model
card into ``saved_models/<name>/``, adds the card's ``release`` part (intended use, limitations,
data licences, this command) and measures the check figures on a small real-data subset that
``tests/test_pretrained.py`` re-measures on every backend. Real data only: a model trained on
synthetic data is refused.

The image models (``ecg_pages_5class``, ``ecg_pages_4class``, ``ecg_pages_risk``) are each the best
combination the grouped CV found (``benchmarks/results/accuracy_images.json``, written by
``benchmarks/accuracy_images.py``: run it first): its members are trained with the CV's own flags and
``--bundle`` (all pages but a validation side that chooses epochs and fits the calibration of the mean)
and packaged as one bundle (:mod:`keras_ecg.deploy.bundle`) whose card reports the CV's figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import shutil
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

MAX_BYTES = 2_200_000  # each shipped model file stays under ~2 MB

MITBIH = {"dataset": "MIT-BIH Arrhythmia Database 1.0.0 (PhysioNet)", "licence": "ODC-By 1.0 (Open Data Commons "
          "Attribution License v1.0)", "citations": [
              "Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database. IEEE Eng in Med and Biol "
              "20(3):45-50 (2001).",
              "Goldberger AL et al. PhysioBank, PhysioToolkit, and PhysioNet. Circulation 101(23):e215-e220 (2000)."]}
KHAN = {"dataset": "ECG Images dataset of Cardiac and COVID-19 Patients (Khan et al. 2021), Mendeley Data "
        "gwbz3fsgp8 v1 (a 735-image share)", "licence": "CC BY 4.0", "citations": [
            "Khan AH, Hussain M, Malik MK. ECG Images dataset of Cardiac and COVID-19 Patients. Data in Brief 34 "
            "(2021) 106762."]}
RESEARCH = "Research use only: not a medical device, not validated for diagnosis or patient care."
IMAGE_LIMITS = [
    RESEARCH,
    "Trained on 735 pages of one public dataset; split by content hash (duplicates grouped), one split: noisy.",
    "Known shortcuts of the dataset: the page format correlates with the class (the COVID-19 pages are scans; "
    "6x2 layouts occur only in some classes), so the model may partly recognise the format, not the ECG.",
    "Few MI pages (27 in the share): MI figures rest on a handful of test images.",
]

MODELS = {
    "mitbih_beats": {
        "recipe": "mitbih_hybrid", "data": "mitdb", "flags": [],
        "check": {"data": "mitdb", "items": ["100", "103", "119"]},
        "intended_use": "Classify the beats of single-lead (MLII-like) ambulatory ECG records into the AAMI "
                        "classes N, S, V, F, Q, for research and for trying the toolkit (keras-ecg annotate).",
        "limitations": [RESEARCH,
                        "Trained on 22 MIT-BIH DS1 records (inter-patient protocol, de Chazal 2004); DS2 figures "
                        "are from patients it has never seen, but from the same database and hardware.",
                        "F beats are rarely recognised and S beats have low positive predictivity; Q (paced) "
                        "records were excluded from training and testing.",
                        "Expects an MLII-like lead; other leads and other databases typically lose sensitivity."],
        "licences": [MITBIH],
    },
    # the three image tasks: each the best combination the grouped CV found (benchmarks/accuracy_images.py),
    # its members trained by the task's recipe with --bundle on all pages but a validation side, one bundle
    "ecg_pages_5class": {
        "recipe": "ecg_images_attention_vgg", "data": "ecg_images", "cv_task": "five_class",
        "check": {"data": "ecg_images", "items": 40},
        "intended_use": "Classify 12-lead ECG page images into normal, abnormal heartbeat, myocardial infarction, "
                        "history of MI and COVID-19, with the measurements behind the call (Q waves, ST, T, QRS, "
                        "QTc, axis).",
        "limitations": IMAGE_LIMITS, "licences": [KHAN],
    },
    "ecg_pages_4class": {
        "recipe": "ecg_images_cnn_lstm", "data": "ecg_images", "cv_task": "four_class",
        "check": {"data": "ecg_images", "items": 40},
        "intended_use": "Classify 12-lead ECG page images into normal, abnormal heartbeat, myocardial infarction "
                        "and history of MI (the 4-class task of the page CNN-LSTM project).",
        "limitations": IMAGE_LIMITS, "licences": [KHAN],
    },
    "ecg_pages_risk": {
        "recipe": "ecg_risk", "data": "ecg_images", "cv_task": "risk",
        "check": {"data": "ecg_images", "items": 40},
        "intended_use": "A risk probability that a 12-lead ECG page image is not normal (normal vs everything "
                        "else of the dataset's classes).",
        "limitations": IMAGE_LIMITS, "licences": [KHAN],
    },
}
CV_RESULTS = ROOT / "benchmarks" / "results" / "accuracy_images.json"


def cv_choice(name) -> dict:
    """The shipped configuration of an image model: the best combination row of its task in the grouped CV
    results (members, flags, figures); the figures are the ones the card reports."""
    task = MODELS[name]["cv_task"]
    res = json.loads(CV_RESULTS.read_text()).get(task)
    if not res or not res.get("members"):
        raise SystemExit(f"make_pretrained: {CV_RESULTS}: no combination row for {task}; run "
                         "benchmarks/accuracy_images.py first")
    return res


def _recipe_config(name):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", ROOT / "recipes" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return dict(mod.CONFIG)


def _data_root() -> pathlib.Path:
    root = os.environ.get("KERAS_ECG_DATA")
    if not root:
        raise SystemExit("make_pretrained: set KERAS_ECG_DATA to the folder holding mitdb/ and ecg_images/")
    return pathlib.Path(root)


def run_dir(name) -> pathlib.Path:
    return ROOT / "runs" / "pretrained" / name


def train(name, backend, seed, resume=False):
    from keras_ecg.training import runner

    m = MODELS[name]
    config = _recipe_config(m["recipe"])
    flags = list(m.get("flags", []))
    if "cv_task" in m:  # the CV's best combination, trained as one bundle with the CV's own flags
        cv = cv_choice(name)
        flags = [*cv["flags"], "--bundle", "--model", ",".join(cv["members"])]
    argv = ["--backend", backend, "--seed", str(seed), "--data", str(_data_root() / m["data"]),
            "--out", str(run_dir(name)), "--export", "keras,onnx", "--resume" if resume else "--overwrite", *flags]
    print(f"[{name}] {m['recipe']} {' '.join(argv)}", flush=True)
    runner.main(config, argv)


def _check_items(name, card=None):
    """The check subset: named records, or N image files taken in turn from each class folder of the model's
    classes (``card``; a binary model: every folder) (a reproducibility check: these may include training
    images, so the figure is no performance claim)."""
    items = MODELS[name]["check"]["items"]
    if isinstance(items, list):
        return items
    from keras_ecg.data.images import list_folder

    root = _data_root() / MODELS[name]["data"]
    files = list_folder(root)[0]
    per_class = [fs for c, fs in sorted(files.items()) if card is None or card.binary or c in card.class_names]
    picked = [fs[i] for i in range(items) for fs in per_class if i < len(fs)][:items]
    return [str(f.relative_to(root)) for f in picked]


def package(name, backend):
    from keras_ecg import backend as kb

    kb.use(backend)
    from keras_ecg import _atomic
    from keras_ecg import card as C
    from keras_ecg.deploy import evaluate_data as E

    m, src, dst = MODELS[name], run_dir(name), HERE / name
    card_obj = C.read(src / C.CARD_NAME)
    if card_obj.bundle is not None:
        return package_bundle(name, card_obj)
    if card_obj.training_data is None or card_obj.training_data.synthetic:
        raise SystemExit(f"make_pretrained: {src}: trained on synthetic data; set KERAS_ECG_DATA and retrain")
    report = json.loads((src / "report.json").read_text())
    metrics = dict(card_obj.metrics)
    for side in ("reference", "detected"):
        ec = (report.get("ec57") or {}).get(side)
        if ec:
            metrics[f"ec57_{side}_accuracy"] = ec.get("accuracy")
            metrics[f"ec57_{side}_macro_f1_nsvf"] = ec.get("macro_f1")
            for c, v in (ec.get("f1") or {}).items():
                metrics[f"ec57_{side}_f1_{c}"] = v
    tmp = _atomic.temp_path(dst)
    tmp.mkdir(parents=True)
    try:
        from keras_ecg.models import load_model

        load_model(str(src / card_obj.files["keras"]), compile=False).save(tmp / card_obj.files["keras"])  # no optimizer
        shutil.copy2(src / card_obj.files["onnx"], tmp / card_obj.files["onnx"])
        for fmt in ("keras", "onnx"):
            f = tmp / card_obj.files[fmt]
            if f.stat().st_size > MAX_BYTES:
                raise SystemExit(f"make_pretrained: {f.name}: {f.stat().st_size / 1e6:.1f} MB, over the ~2 MB limit")
        files = {k: v for k, v in card_obj.files.items() if k in ("keras", "onnx")}
        shutil.copy2(src / C.CARD_NAME, tmp / C.CARD_NAME)  # replaced below by the release card
        items = _check_items(name)
        check = E.measure_check(tmp / files["keras"], card_obj, _data_root() / m["check"]["data"], items)
        release = C.Release(name=name, intended_use=m["intended_use"], limitations=list(m["limitations"]),
                            metrics_split=card_obj.training_data.split or "test",
                            data_licences=[C.DataLicence(**d) for d in m["licences"]],
                            regenerate=f"KERAS_ECG_DATA=../shared/data python saved_models/make_pretrained.py {name}",
                            check={**check, "data": m["check"]["data"], "tolerance": 0.02})
        import dataclasses

        export = dataclasses.replace(card_obj.export, formats={k: v for k, v in card_obj.export.formats.items()
                                                               if k in files})
        out_card = dataclasses.replace(card_obj, files=files, metrics=metrics, release=release, export=export)
        C.write(tmp / C.CARD_NAME, out_card)
        _atomic.replace(tmp, dst)
    except BaseException:
        _atomic.remove(tmp)
        raise
    print(f"[{name}] packaged into {dst}: check {check}", flush=True)


def _copy_member(src, dst, member):
    """One bundle member into ``dst``: a Keras member's model (without optimizer), ONNX twin and card; a classical
    member's skops file. Each file stays under the size limit."""
    import shutil

    from keras_ecg import card as C
    from keras_ecg.models import load_model

    dst.mkdir(parents=True)
    if member.kind == "classical":
        shutil.copy2(src / "model.skops", dst / "model.skops")
    else:
        mc = C.read(src / C.CARD_NAME)
        load_model(str(src / mc.files["keras"]), compile=False).save(dst / mc.files["keras"])
        shutil.copy2(src / mc.files["onnx"], dst / mc.files["onnx"])
        shutil.copy2(src / C.CARD_NAME, dst / C.CARD_NAME)
    for f in dst.iterdir():
        if f.stat().st_size > MAX_BYTES:
            raise SystemExit(f"make_pretrained: {f}: {f.stat().st_size / 1e6:.1f} MB, over the ~2 MB limit")


def package_bundle(name, card_obj):
    """A bundle run (``--bundle``) into ``saved_models/<name>/``: its members, and its card with the release part
    and the grouped-CV figures of the configuration (the figures to quote; the run's own are validation ones)."""
    import dataclasses

    from keras_ecg import _atomic
    from keras_ecg import card as C
    from keras_ecg.deploy import evaluate_data as E

    m, src, dst = MODELS[name], run_dir(name), HERE / name
    if card_obj.training_data is None or card_obj.training_data.synthetic:
        raise SystemExit(f"make_pretrained: {src}: trained on synthetic data; set KERAS_ECG_DATA and retrain")
    cv = cv_choice(name)
    if [mb.name for mb in card_obj.bundle.members] != list(cv["members"]):
        raise SystemExit(f"make_pretrained: {src}: members {[mb.name for mb in card_obj.bundle.members]} are not "
                         f"the CV's choice {cv['members']}; retrain")
    metrics = {"accuracy": cv["accuracy"], "macro_f1": cv["macro_f1"],
               ("roc_auc_risk" if card_obj.binary else "roc_auc_macro"): cv.get("roc_auc"),
               **{f"recall_{c}": v for c, v in cv["recall"].items()},
               **{f"validation_{k}": v for k, v in card_obj.metrics.items() if v is not None}}
    split = (f"{cv['split']}: figures of this configuration ({cv['model']}); the shipped members were then "
             f"trained on all pages but a validation side ({card_obj.bundle.validation})")
    tmp = _atomic.temp_path(dst)
    tmp.mkdir(parents=True)
    try:
        from keras_ecg.deploy.bundle import member_files

        for mb in card_obj.bundle.members:
            _copy_member(src / mb.folder, tmp / mb.folder, mb)
        files = member_files(tmp, card_obj.bundle.members)
        staged = dataclasses.replace(card_obj, files=files)
        C.write(tmp / C.CARD_NAME, staged)
        check = E.measure_check(tmp, staged, _data_root() / m["check"]["data"], _check_items(name, staged))
        release = C.Release(name=name, intended_use=m["intended_use"], limitations=list(m["limitations"]),
                            metrics_split=split, data_licences=[C.DataLicence(**d) for d in m["licences"]],
                            regenerate=f"KERAS_ECG_DATA=../shared/data python saved_models/make_pretrained.py {name}",
                            check={**check, "data": m["check"]["data"], "tolerance": 0.02})
        out_card = dataclasses.replace(
            staged, name=name, metrics=metrics, release=release,
            training_data=dataclasses.replace(card_obj.training_data, split=split))
        C.write(tmp / C.CARD_NAME, out_card)
        _atomic.replace(tmp, dst)
    except BaseException:
        _atomic.remove(tmp)
        raise
    print(f"[{name}] bundle packaged into {dst}: check {check}", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="+", help=f"{', '.join(MODELS)} or all")
    p.add_argument("--backend", default="jax")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--package-only", action="store_true", help="package an existing run (no training)")
    p.add_argument("--train-only", action="store_true")
    p.add_argument("--resume", action="store_true", help="continue an interrupted training run")
    args = p.parse_args(argv)
    names = list(MODELS) if args.names == ["all"] else args.names
    for n in names:
        if n not in MODELS:
            raise SystemExit(f"make_pretrained: unknown model {n!r}; choose from {', '.join(MODELS)}")
    os.environ.setdefault("KERAS_BACKEND", args.backend)
    for n in names:
        if not args.package_only:
            train(n, args.backend, args.seed, args.resume)
        if not args.train_only:
            package(n, args.backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
