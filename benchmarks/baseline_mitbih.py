"""The classical baseline (keras_ecg.evaluation.baseline) on MIT-BIH, DS1 -> DS2 (de Chazal 2004).

Trains each kind of :class:`FeatureBaseline` on DS1 and scores DS2 once, with
AAMI EC57 figures (keras_ecg.evaluation.ec57) on the reference beat positions
and end to end on R peaks detected in the MLII lead (matched within 150 ms).
Every setting is fixed in this file: nothing is chosen on DS2 (scikit-learn's
default C = 1 for the SVM and the logistic regression, equal priors for the
linear discriminant). The DS1 training set leaves out its few Q beats (a class
too small to learn from with balanced weights); DS2's Q beats are scored and
reported apart.

    KERAS_ECG_DATA=../shared/data python benchmarks/baseline_mitbih.py

writes ``benchmarks/results/baseline_mitbih.json``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from keras_ecg import _atomic  # noqa: E402
from keras_ecg.data import beats as B  # noqa: E402
from keras_ecg.data import mitbih, signal, splits  # noqa: E402
from keras_ecg.evaluation import ec57  # noqa: E402
from keras_ecg.evaluation.baseline import FeatureBaseline  # noqa: E402

DS1, DS2 = splits.DS1, splits.DS2
SPEC = B.BeatSpec(leads=("MLII", "V1"))
TRAIN_CLASSES = (0, 1, 2, 3)  # N S V F
KINDS = {
    "lda": dict(kind="lda"),
    "logreg": dict(kind="logreg", C=1.0),
    "svm": dict(kind="svm", C=1.0, max_per_class=4000),
}
OUT = pathlib.Path(__file__).parent / "results" / "baseline_mitbih.json"


def load(name, root):
    """Reference and detected beat inputs of one record."""
    rec = mitbih.load_record(root / name)
    sym = np.asarray(rec.ann_symbols)
    is_beat = np.isin(sym, list(mitbih.AAMI_MAP))
    peaks = np.asarray(rec.ann_samples)[is_beat]
    y = np.array([mitbih.AAMI_CLASSES.index(mitbih.AAMI_MAP[c]) for c in sym[is_beat]], dtype=np.int64)
    beats, rr, keep, used = B.beat_inputs(rec.signal, rec.fs, peaks, SPEC, rec.leads, name, fallback=True)
    lead = B.choose_leads(rec.leads, ["MLII"], name, fallback=True)[0]
    det = signal.detect_r_peaks(rec.signal[:, lead], rec.fs)
    d_beats, d_rr, d_keep, _ = B.beat_inputs(rec.signal, rec.fs, det, SPEC, rec.leads, name, fallback=True)
    return dict(beats=beats, rr=rr, y=y[keep], peaks=peaks[keep], leads=used, fs=rec.fs,
                det=det[d_keep], det_beats=d_beats, det_rr=d_rr, detector_lead=rec.leads[lead])


def cat(records, key):
    return np.concatenate([r[key] for r in records])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("KERAS_ECG_DATA"), help="folder holding mitdb/")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated kinds to run")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    if not args.data:
        sys.exit("baseline_mitbih: set KERAS_ECG_DATA or pass --data (the folder holding mitdb/).")
    root = pathlib.Path(args.data) / "mitdb"
    t0 = time.time()
    train = [load(n, root) for n in DS1]
    test = [load(n, root) for n in DS2]
    t_load = time.time() - t0
    print(f"loaded {len(train)} + {len(test)} records in {t_load:.0f} s", flush=True)

    xb, xr, y = cat(train, "beats"), cat(train, "rr"), cat(train, "y")
    mask = np.isin(y, TRAIN_CLASSES)
    results = {}
    for name in args.kinds.split(","):
        t1 = time.time()
        model = FeatureBaseline(**KINDS[name], fs=SPEC.fs, before=SPEC.before, rr_log=SPEC.rr_log)
        model.fit(xb[mask], xr[mask], y[mask])
        t_fit = time.time() - t1
        ref_pred = [model.predict(r["beats"], r["rr"]) for r in test]
        det_pred = [model.predict(r["det_beats"], r["det_rr"]) for r in test]
        reference = ec57.beat_metrics(cat(test, "y"), np.concatenate(ref_pred))
        detected = ec57.end_to_end([r["peaks"] for r in test], [r["y"] for r in test],
                                   [r["det"] for r in test], det_pred, fs=[r["fs"] for r in test])
        results[name] = {"params": model.params(), "fit_s": round(t_fit, 1),
                         "total_s": round(time.time() - t1, 1), "reference": reference, "detected": detected}
        f1 = reference["f1"]
        print(f"{name}: reference acc {reference['accuracy']:.3f} macro-F1 {reference['macro_f1']:.3f} "
              f"F1 " + " ".join(f"{c} {v:.3f}" for c, v in f1.items() if v is not None)
              + f" | detected acc {detected['accuracy']:.3f} macro-F1 {detected['macro_f1']:.3f}"
              f" ({time.time() - t1:.0f} s)", flush=True)

    out = {
        "protocol": "MIT-BIH inter-patient DS1 -> DS2 (de Chazal 2004), paced records excluded; AAMI EC57 "
                    "classes N S V F Q (standard mapping); macro-F1 over N S V F, Q reported apart",
        "train": {"records": DS1, "beats": int(mask.sum()), "left_out_q_beats": int((y == 4).sum()),
                  "classes": ["N", "S", "V", "F"], "counts": np.bincount(y[mask], minlength=4).tolist()},
        "test": {"records": DS2, "beats": int(len(cat(test, "y"))),
                 "counts": np.bincount(cat(test, "y"), minlength=5).tolist(),
                 "detected_peaks": int(sum(len(r["det"]) for r in test))},
        "beat_spec": SPEC.to_dict(),
        "leads_used": {r: d["leads"] for r, d in zip(DS1 + DS2, train + test)},
        "detector": "keras_ecg.data.signal.detect_r_peaks on the MLII lead (fallback: the first lead); "
                    "detections whose window leaves the record are dropped, as are reference beats whose "
                    "window does (both sides use the same window)",
        "tolerance_s": ec57.TOLERANCE_S,
        "choices": "fixed before any DS2 figure: scikit-learn default C = 1, LDA with equal priors and "
                   "Ledoit-Wolf shrinkage, SVM on at most 4000 DS1 beats per class",
        "load_s": round(t_load, 1),
        "python": platform.python_version(),
        "results": results,
    }
    _atomic.write_json(args.out, out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
