"""Digitisation accuracy on pages rendered from known signals.

Renders N synthetic pages per page kind with keras_ecg.data.images.synthetic_pages
(classes in turn, one seed per page), digitises each with
keras_ecg.data.images.digitize.digitize_page and scores every lead against the
samples that were drawn: Pearson correlation and SNR (dB). Page kinds: the
clean printed layouts (3x4+1, 6x2 with uneven rows, 6x2+1 with and without
grid) and the 3x4+1 "scan" look (tinted grid, noise, a tilt of up to 0.6
degrees). The target (issue 13) is correlation >= 0.9 on clean pages.

    python benchmarks/digitize_accuracy.py [--n 10]

Writes benchmarks/results/digitize_accuracy.json.
"""

import argparse
import pathlib
import platform
import sys
import time

import numpy as np

from keras_ecg import _atomic
from keras_ecg.data.images import digitize_check, synthetic_pages

KINDS = {  # name: (layout, grid, look, clean)
    "3x4+1": ("3x4+1", True, "cardiac", True),
    "6x2": ("6x2", True, "cardiac", True),
    "6x2+1": ("6x2+1", True, "cardiac", True),
    "6x2+1 no grid": ("6x2+1", False, "cardiac", True),
    "3x4+1 scan": ("3x4+1", True, "scan", False),
}
OUT = pathlib.Path(__file__).resolve().parent / "results" / "digitize_accuracy.json"


def _stats(vals):
    v = np.asarray(vals, np.float64)
    return {"mean": round(float(v.mean()), 4), "min": round(float(v.min()), 4)}


def run_kind(layout, grid, look, n, seed0=0):
    per_lead, detected, scales = {}, 0, {}
    for i in range(n):
        cls = synthetic_pages.CLASSES[i % len(synthetic_pages.CLASSES)]
        r = digitize_check.render_and_digitize(cls, seed=seed0 + i, layout=layout, grid=grid, look=look)
        detected += bool(r["detected_layout"])
        scales[r["scale_source"]] = scales.get(r["scale_source"], 0) + 1
        for lead, s in r["per_lead"].items():
            per_lead.setdefault(lead, {"correlation": [], "snr_db": []})
            per_lead[lead]["correlation"].append(s["correlation"])
            per_lead[lead]["snr_db"].append(s["snr_db"])
    corr = [c for v in per_lead.values() for c in v["correlation"]]
    snr = [c for v in per_lead.values() for c in v["snr_db"]]
    return {
        "layout": layout, "grid": grid, "look": look, "pages": n, "layout_detected": detected,
        "scale_source": scales,
        "correlation": _stats(corr), "snr_db": _stats(snr),
        "leads_with_correlation_ge_0.9": round(float(np.mean(np.asarray(corr) >= 0.9)), 4),
        "per_lead": {lead: {"correlation": _stats(v["correlation"]), "snr_db": _stats(v["snr_db"])}
                     for lead, v in per_lead.items()},
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10, help="pages per page kind (default 10)")
    p.add_argument("--out", default=str(OUT), help="results file")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    kinds = {}
    for name, (layout, grid, look, clean) in KINDS.items():
        kinds[name] = {"clean": clean, **run_kind(layout, grid, look, args.n)}
        k = kinds[name]
        print(f"{name:15s} correlation mean {k['correlation']['mean']:.3f} min {k['correlation']['min']:.3f}  "
              f"SNR mean {k['snr_db']['mean']:.1f} dB min {k['snr_db']['min']:.1f} dB  "
              f"layout found {k['layout_detected']}/{k['pages']}")
    clean = [k for k in kinds.values() if k["clean"]]
    result = {
        "what": "per-lead correlation and SNR of digitised vs drawn signals on synthetic pages",
        "pages_per_kind": args.n,
        "clean_correlation_mean": round(float(np.mean([k["correlation"]["mean"] for k in clean])), 4),
        "clean_correlation_min": round(float(min(k["correlation"]["min"] for k in clean)), 4),
        "clean_snr_db_mean": round(float(np.mean([k["snr_db"]["mean"] for k in clean])), 4),
        "target": "correlation >= 0.9 on clean rendered pages",
        "kinds": kinds,
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "python": sys.version.split()[0]},
    }
    _atomic.write_json(args.out, result)
    print(f"clean pages: correlation mean {result['clean_correlation_mean']:.3f}, min "
          f"{result['clean_correlation_min']:.3f}; written {args.out}")


if __name__ == "__main__":
    main()
