"""R-peak detector accuracy on the 48 MIT-BIH records.

Compares keras_ecg.data.signal.detect_r_peaks (on MLII, or the first lead
where a record has none) with the reference beat annotations of every record,
with a 150 ms matching tolerance, and times the detector per record.

    python benchmarks/rpeak_accuracy.py [MITDB_DIR]   # default $KERAS_ECG_DATA/mitdb

Writes benchmarks/results/rpeak_accuracy.json.
"""

import json
import os
import pathlib
import platform
import sys
import time

import numpy as np

from keras_ecg.data import mitbih, signal

TOLERANCE_S = 0.150


def main(path=None):
    path = pathlib.Path(path or pathlib.Path(os.environ.get("KERAS_ECG_DATA", "../shared/data")) / "mitdb")
    per_record, times = {}, []
    total = np.zeros(3, dtype=np.int64)
    for name in mitbih.list_records(path):
        rec = mitbih.load_record(path / name)
        lead = "MLII" if "MLII" in rec.leads else rec.leads[0]
        ref = rec.ann_samples[np.isin(rec.ann_symbols, list(mitbih.AAMI_MAP))]
        x = rec.lead(lead)
        signal.detect_r_peaks(x[: int(10 * rec.fs)], rec.fs)  # warm-up (imports)
        t0 = time.perf_counter()
        det = signal.detect_r_peaks(x, rec.fs)
        times.append(time.perf_counter() - t0)
        tp, fn, fp = signal.match_peaks(ref, det, int(round(TOLERANCE_S * rec.fs)))
        total += (tp, fn, fp)
        per_record[name] = {"lead": lead, "beats": int(len(ref)), "tp": tp, "fn": fn, "fp": fp,
                            "samples": int(len(x)), "seconds": round(times[-1], 4)}
    tp, fn, fp = (int(v) for v in total)
    no207 = total - np.array([per_record["207"][k] for k in ("tp", "fn", "fp")]) if "207" in per_record else None
    result = {
        "dataset": str(path), "records": len(per_record), "tolerance_s": TOLERANCE_S,
        "reference": "beat annotations (AAMI beat symbols) of the .atr files",
        "tp": tp, "fn": fn, "fp": fp,
        "sensitivity": tp / (tp + fn), "positive_predictivity": tp / (tp + fp),
        "without_207": None if no207 is None else {
            "note": "record 207 has unannotated ventricular flutter episodes, often excluded",
            "sensitivity": float(no207[0] / (no207[0] + no207[1])),
            "positive_predictivity": float(no207[0] / (no207[0] + no207[2]))},
        "seconds_per_record": {"median": float(np.median(times)), "max": float(np.max(times))},
        "machine": platform.platform(), "python": platform.python_version(),
        "per_record": per_record,
    }
    out = pathlib.Path(__file__).parent / "results" / "rpeak_accuracy.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, out)
    print(f"Se {result['sensitivity']:.4f}  +P {result['positive_predictivity']:.4f}  "
          f"(tp {tp}, fn {fn}, fp {fp}); median {np.median(times):.3f} s, max {np.max(times):.3f} s per record")
    return result


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
