"""Measurement accuracy (keras_ecg.data.images.measurements) on pages rendered from known signals.

Two sets of 3x4+1 pages (keras_ecg.data.images.synthetic_pages.render_page, 1107x786):

- ``known``: keras_ecg.data.images.measure_check cases (normal, anterior STEMI, old inferior MI, wide
  QRS, tachycardia, left axis), beats built from lobes with exact limits, so the values are known;
- ``classes``: synthetic_pages.leads of every class (Gaussian waves; no known values).

Each page is measured three ways and compared per lead: on the clean signals as printed (each lead's
2.5 s stretch, lead II's 10 s rhythm strip, at 250 Hz), on the digitised page at 250 Hz
(``page_measurements``' way) and on the ``digitized`` model input (the first 2.5 s of each lead at
100 Hz, what the classical model is trained on). Errors: page vs clean, 100 Hz input vs clean, and
where known, clean / page vs the known values; per measurement the median and p90 absolute error (ms or
mV) and the fraction of leads measured.

    python benchmarks/measure_accuracy.py [--seeds 3]

Writes benchmarks/results/measure_accuracy.json and .md.
"""

import argparse
import math
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from harness.measure import cpu_model  # noqa: E402
from keras_ecg import _atomic  # noqa: E402
from keras_ecg.data.images import digitize, digitize_check, measure_check, measurements, synthetic_pages  # noqa: E402
from keras_ecg.data.images.preprocess import DIGITIZED_FS, DIGITIZED_SECONDS  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "measure_accuracy.json"
KEYS = ("q_ms", "q_mv", "r_mv", "s_mv", "st_j60_mv", "t_mv", "qrs_ms", "qt_ms")
GLOBAL = ("heart_rate_bpm", "qrs_ms", "qt_ms", "qtc_ms", "axis_deg")
FS = float(synthetic_pages.FS)


def clean_input(sig):
    """``(x, names)``: the clean signals as the page prints them (NaN where a lead is not printed) + rhythm."""
    n = int(10 * FS)
    x = np.full((n, 13), np.nan)
    g = synthetic_pages.page_geometry()
    for name, _row, _c0, _c1, ta, tb in g["draw"]:
        k = 12 if (name == "II" and tb - ta > 5) else measurements.LEADS12.index(name)
        a, b = int(ta * FS), int(tb * FS)
        x[a:b, k] = np.asarray(sig[name], np.float64)[a:b]
    return x, measurements.LEADS12 + ["rhythm"]


def page_input(page):
    d = digitize.digitize_page(page, fs=FS)
    r = np.full(d.signals.shape[1], np.nan)
    r[:len(d.rhythm)] = d.rhythm[:len(r)]
    x = np.concatenate([d.signals.T.astype(np.float64), r[:, None]], axis=1)
    return x, d.window(DIGITIZED_SECONDS, DIGITIZED_FS)


def _err(a, b, key):
    if key == "axis_deg":
        return abs((a - b + 180) % 360 - 180)
    return abs(a - b)


def compare(got, ref, errs, measured, known=False):
    """Append per-lead and global absolute errors of ``got`` vs ``ref`` to ``errs``."""
    for lead in measurements.LEADS12:
        for key in KEYS:
            want, have = ref["leads"][lead].get(key, math.nan), got["leads"][lead][key]
            if not np.isfinite(want):
                continue
            measured.setdefault(key, []).append(bool(np.isfinite(have)))
            if np.isfinite(have):
                errs.setdefault(key, []).append(_err(have, want, key))
    for key in GLOBAL:
        want, have = ref.get(key, math.nan), got.get(key, math.nan)
        if want is None or not np.isfinite(want):
            continue
        measured.setdefault("global_" + key, []).append(bool(np.isfinite(have)))
        if np.isfinite(have):
            errs.setdefault("global_" + key, []).append(_err(have, want, key))


def summary(errs, measured):
    out = {}
    for key in sorted(set(errs) | set(measured)):
        e = np.asarray(errs.get(key, []), np.float64)
        nd = 1 if key.endswith(("_ms", "_bpm", "_deg")) else 3
        out[key] = {"median": round(float(np.median(e)), nd) if len(e) else None,
                    "p90": round(float(np.percentile(e, 90)), nd) if len(e) else None,
                    "n": int(len(e)), "measured": round(float(np.mean(measured.get(key, [True]))), 3)}
    return out


def evidence_agreement(pairs):
    """Share of pages whose page evidence equals the clean evidence (as sets of strings' kinds and leads)."""
    def kinds(ev):
        return {e.split(" in ")[0].split(" ")[0] + (" in " + e.split(" in ")[1] if " in " in e else "") for e in ev}

    return round(float(np.mean([kinds(a) == kinds(b) for a, b in pairs])), 3) if pairs else None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3, help="pages per case / class (default 3)")
    p.add_argument("--out", default=str(OUT), help="results file (.md beside it)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    sets = {"known": list(measure_check.CASES), "classes": list(synthetic_pages.CLASSES)}
    res = {k: {"page_vs_clean": ({}, {}), "input100_vs_clean": ({}, {}), "clean_vs_known": ({}, {}),
               "page_vs_known": ({}, {}), "input100_vs_known": ({}, {})} for k in sets}
    ev_pairs, ev_examples, pages = {k: [] for k in sets}, {}, 0
    for set_name, cases in sets.items():
        for case in cases:
            for seed in range(args.seeds):
                if set_name == "known":
                    sig = measure_check.known_leads(case, seed=seed, fs=FS)
                    cls = "normal"
                else:
                    sig = synthetic_pages.leads(case, seed)
                    cls = case
                page = synthetic_pages.render_page(cls, seed=seed, signals=sig)
                pages += 1
                xc, names = clean_input(sig)
                clean = measurements.measure(xc, FS, names)
                xp, x100 = page_input(page)
                got = measurements.measure(xp, FS, names)
                got100 = measurements.measure(x100, DIGITIZED_FS)
                r = res[set_name]
                compare(got, clean, *r["page_vs_clean"])
                compare(got100, clean, *r["input100_vs_clean"])
                if set_name == "known":
                    known = measure_check.known_values(case)
                    compare(clean, known, *r["clean_vs_known"])
                    compare(got, known, *r["page_vs_known"])
                    compare(got100, known, *r["input100_vs_known"])
                ev_pairs[set_name].append((measurements.evidence(got), measurements.evidence(clean)))
                if seed == 0:
                    ev_examples[f"{set_name}/{case}"] = {"page": measurements.evidence(got),
                                                         "clean": measurements.evidence(clean)}
        print(f"{set_name}: {len(cases) * args.seeds} pages, {time.perf_counter() - t0:.0f} s")
    result = {
        "what": "median-beat measurements (keras_ecg.data.images.measurements) on rendered 3x4+1 pages: "
                "absolute error per lead (ms, mV; global values per page) of the digitised page (250 Hz) and of "
                "the 'digitized' model input (2.5 s at 100 Hz) against the clean printed signals, and against "
                "the known values of measure_check's cases",
        "command": "python benchmarks/measure_accuracy.py" + (f" --seeds {args.seeds}" if args.seeds != 3 else ""),
        "pages": pages,
        "seeds_per_case": args.seeds,
        "sets": {k: {"cases": sets[k], **{name: summary(*v) for name, v in res[k].items() if v[1]},
                     "evidence_same_as_clean": evidence_agreement(ev_pairs[k])} for k in sets},
        "evidence_examples": ev_examples,
        "cpu": cpu_model(),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    _atomic.write_json(args.out, result)
    _atomic.write_text(pathlib.Path(args.out).with_suffix(".md"), markdown(result))
    print(f"written {args.out} ({result['seconds']} s)")


def markdown(r):
    lines = [
        "# Measurements on rendered pages: error against the clean signals and the known values", "",
        f"`{r['command']}`; {r['pages']} pages (3x4+1, 1107x786); CPU {r['cpu']}; {r['seconds']} s. "
        "Per lead (and per page for the global values): median / p90 absolute error, and the share measured. "
        "`page`: the digitised page at 250 Hz (each lead's 2.5 s, the rhythm strip for the rate); `input100`: "
        "the `digitized` model input (2.5 s per lead at 100 Hz); `clean`: the signals that drew the page. "
        "Synthetic pages: they test the method and the digitiser's effect, not accuracy on real ECGs.", "",
    ]
    for set_name, s in r["sets"].items():
        comps = [c for c in ("page_vs_clean", "input100_vs_clean", "clean_vs_known", "page_vs_known",
                             "input100_vs_known") if c in s]
        lines += [f"## {set_name} ({', '.join(s['cases'])})", "",
                  "| measurement | " + " | ".join(c.replace("_", " ") for c in comps) + " |",
                  "|---|" + "---:|" * len(comps)]
        keys = sorted({k for c in comps for k in s[c]}, key=lambda k: (k.startswith("global"), k))
        for key in keys:
            cells = []
            for c in comps:
                v = s[c].get(key)
                cells.append("" if v is None or v["median"] is None else
                             f"{v['median']} / {v['p90']} ({100 * v['measured']:.0f} %)")
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
        lines += ["", f"Evidence on the page the same as on the clean signals (finding and leads): "
                      f"{s['evidence_same_as_clean']} of pages.", ""]
    lines += ["## Evidence, first seed of each case (page; clean)", ""]
    for name, ev in r["evidence_examples"].items():
        lines.append(f"- {name}: {'; '.join(ev['page']) or '(none)'} | clean: {'; '.join(ev['clean']) or '(none)'}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
