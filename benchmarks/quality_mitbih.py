"""How much of MIT-BIH the signal-quality check marks unreadable, and which reference beats that costs.

Runs :func:`keras_ecg.data.quality.assess_read` (what ``keras-ecg annotate`` runs on its detection lead,
read in blocks through :func:`keras_ecg.data.record_file.open_recording`) on MLII of each of the 48
records, or on the first lead where a record has none (102 and 104: V5; annotate with an MLII model asks
for ``--lead`` there). The reference beats (``.atr``, AAMI classes by :data:`keras_ecg.data.mitbih.AAMI_MAP`)
that fall in unreadable segments are counted per class: annotate would not classify a beat there.

    python benchmarks/quality_mitbih.py [MITDB_DIR]   # default $KERAS_ECG_DATA/mitdb

Writes benchmarks/results/quality_mitbih.json and .md. NumPy/SciPy only (a few seconds).
"""

import json
import os
import pathlib
import platform
import subprocess
import sys
import time

import numpy as np

from keras_ecg.data import mitbih, quality, record_file
from keras_ecg.data.beats import choose_leads
from keras_ecg.errors import DataError

NOTABLE = 0.01  # a record losing more than this share of its time is listed


def _lead(leads, where) -> int:
    try:
        return choose_leads(leads, ["MLII"], where)[0]  # annotate's choice for an MLII model
    except DataError:
        return 0  # 102, 104: no MLII


def _cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "")
    except OSError:
        return platform.processor()


def main(path=None):
    path = pathlib.Path(path or pathlib.Path(os.environ.get("KERAS_ECG_DATA", "../shared/data")) / "mitdb")
    per_record = {}
    segs = bad = 0
    reasons = dict.fromkeys(quality.REASONS, 0)
    beats_total = dict.fromkeys(mitbih.AAMI_CLASSES, 0)
    beats_lost = dict.fromkeys(mitbih.AAMI_CLASSES, 0)
    t0 = time.perf_counter()
    for name in mitbih.list_records(path):
        rec = record_file.open_recording(path / name)
        li = _lead(rec.leads, name)
        q = quality.assess_read(lambda lo, hi: rec.read(lo, hi, [li])[:, 0], rec.n_samples, rec.fs)
        ref = mitbih.load_record(path / name)
        is_beat = np.isin(ref.ann_symbols, list(mitbih.AAMI_MAP))
        t = ref.ann_samples[is_beat] / rec.fs
        cls = np.array([mitbih.AAMI_MAP[s] for s in ref.ann_symbols[is_beat]])
        lost = ~q.readable_at(t)
        d = q.to_dict()
        lost_by = {c: int((lost & (cls == c)).sum()) for c in mitbih.AAMI_CLASSES}
        for c in mitbih.AAMI_CLASSES:
            beats_total[c] += int((cls == c).sum())
            beats_lost[c] += lost_by[c]
        segs += len(q.reasons)
        bad += int(q.unreadable.sum())
        for k, v in d["unreadable_segments"].items():
            reasons[k] += v
        per_record[name] = {"lead": str(rec.leads[li]), "segments": len(q.reasons),
                            "unreadable_fraction": round(1.0 - q.analysable_fraction, 5),
                            "unreadable_segments": {k: v for k, v in d["unreadable_segments"].items() if v},
                            "unreadable": d["unreadable"], "beats": int(is_beat.sum()),
                            "beats_in_unreadable": {c: v for c, v in lost_by.items() if v}}
    seconds = time.perf_counter() - t0
    lost_all = sum(beats_lost.values())
    result = {
        "dataset": str(path), "records": len(per_record),
        "check": "keras_ecg.data.quality.assess_read (annotate's), default thresholds",
        "thresholds": {"segment_s": quality.SEGMENT_S, "flat_mv": quality.FLAT_MV,
                       "saturated_share": quality.SATURATED_SHARE, "noise_share": quality.NOISE_SHARE},
        "lead": "MLII; first lead (V5) for 102 and 104",
        "segments": segs, "unreadable_segments": bad, "unreadable_fraction": round(bad / segs, 6),
        "unreadable_by_reason": reasons,
        "reference_beats": beats_total, "reference_beats_in_unreadable": beats_lost,
        "reference_beats_in_unreadable_fraction": round(lost_all / sum(beats_total.values()), 7),
        "records_over_1pct": sorted(r for r, v in per_record.items() if v["unreadable_fraction"] > NOTABLE),
        "seconds": round(seconds, 2), "cpu": _cpu(), "machine": platform.platform(),
        "python": platform.python_version(), "per_record": per_record,
    }
    out = pathlib.Path(__file__).parent / "results" / "quality_mitbih.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    out.with_suffix(".md").write_text(_markdown(result))
    print(f"{bad}/{segs} segments unreadable ({100 * bad / segs:.3f} %), {lost_all} reference beats in them "
          f"{beats_lost}; {seconds:.1f} s", file=sys.stderr)
    return result


def _markdown(r) -> str:
    lines = ["# Signal quality on MIT-BIH", "",
             f"`benchmarks/quality_mitbih.py`: annotate's quality check "
             f"(`keras_ecg.data.quality`, {r['thresholds']['segment_s']:g} s segments, default thresholds) "
             f"on the {r['records']} records ({r['lead']}); {r['cpu']}, {r['seconds']:.1f} s.", "",
             f"**Unreadable: {r['unreadable_segments']} of {r['segments']} segments "
             f"({100 * r['unreadable_segments'] / r['segments']:.3f} %)**: "
             + ", ".join(f"{k} {v}" for k, v in r["unreadable_by_reason"].items()) + ".", "",
             "Reference beats in unreadable segments (annotate would not classify them), per AAMI class:", "",
             "| class | beats | in unreadable segments |", "|---|---:|---:|"]
    for c, n in r["reference_beats"].items():
        lines.append(f"| {c} | {n} | {r['reference_beats_in_unreadable'][c]} |")
    lines.append(f"| all | {sum(r['reference_beats'].values())} | {sum(r['reference_beats_in_unreadable'].values())}"
                 f" ({100 * r['reference_beats_in_unreadable_fraction']:.4f} %) |")
    lines += ["", f"Records over {100 * NOTABLE:g} % unreadable: {', '.join(r['records_over_1pct']) or 'none'}.", "",
              "Records with an unreadable segment:", "",
              "| record | lead | unreadable | why | where (s) | reference beats there |", "|---|---|---:|---|---|---|"]
    for name, v in r["per_record"].items():
        if not v["unreadable_segments"]:
            continue
        why = ", ".join(f"{k} {n}" for k, n in v["unreadable_segments"].items())
        where = ", ".join(f"{u['start_s']:g}-{u['end_s']:g} {u['reason']}" for u in v["unreadable"])
        lost = ", ".join(f"{c} {n}" for c, n in v["beats_in_unreadable"].items()) or "0"
        lines.append(f"| {name} | {v['lead']} | {100 * v['unreadable_fraction']:.2f} % | {why} | {where} | {lost} |")
    others = [n for n, v in r["per_record"].items() if not v["unreadable_segments"]]
    lines += ["", f"The other {len(others)} records: every segment readable.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
