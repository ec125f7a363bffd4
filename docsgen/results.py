"""Tables of ``benchmarks/results/`` for the documentation site, read at build time.

Two kinds: a results Markdown file included as it is (its headings moved down under the page's), and
tables rendered from a results JSON file or from the shipped models' cards by a named renderer below. A file
a page names that is missing, or a renderer that does not exist, raises :class:`ResultsError`, which fails
the build. No figure is typed into a page by hand.
"""

from __future__ import annotations

import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SAVED_MODELS = ROOT / "saved_models"


class ResultsError(RuntimeError):
    """A page names a results file or table that does not exist or cannot be read."""


def results_file(name: str) -> pathlib.Path:
    """``benchmarks/results/NAME``, which must exist."""
    path = RESULTS / name
    if not path.is_file():
        raise ResultsError(f"results file benchmarks/results/{name} is missing")
    return path


def load_json(name: str):
    path = results_file(name)
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise ResultsError(f"results file benchmarks/results/{name} is not JSON: {e}") from None


def include_markdown(name: str, level: int = 2) -> str:
    """A results Markdown file, its top heading at ``level`` (``#`` -> ``##`` by default)."""
    text = results_file(name).read_text()
    shift = "#" * (level - 1)
    return re.sub(r"(?m)^(#{1,5}) ", lambda m: shift + m.group(1) + " ", text).strip() + "\n"


def _table(header: list[str], rows: list[list], align: str | None = None) -> str:
    align = align or "l" * len(header)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def digitize_accuracy() -> str:
    d = load_json("digitize_accuracy.json")
    rows = []
    for kind, k in d["kinds"].items():
        scale = ", ".join(f"{s} ({n})" for s, n in k["scale_source"].items())
        rows.append([f"`{kind}`", "grid" if k["grid"] else "no grid", k["look"], scale,
                     f"{k['correlation']['mean']:.3f} ({k['correlation']['min']:.3f})",
                     f"{k['snr_db']['mean']:.1f} ({k['snr_db']['min']:.1f})",
                     f"{k['leads_with_correlation_ge_0.9']:.0%}"])
    head = (f"{d['pages_per_kind']} pages per kind; {d['what']}; target: {d['target']}; "
            f"{d['seconds']:.0f} s.\n\n")
    return head + _table(["page kind", "grid", "look", "scale from (pages)", "correlation mean (min)",
                          "SNR mean (min), dB", "leads with correlation >= 0.9"], rows, "llllrrr")


def image_layouts() -> str:
    d = load_json("image_layouts.json")
    rows = [[f"`{k}`", v] for k, v in d["layouts"].items()]
    rows.append(["not read", len(d["not_read"])])
    return (f"{d['read']} of {d['pages']} pages read ({d['without_grid']} without a grid).\n\n"
            + _table(["layout", "pages"], rows, "lr"))


def rpeak_accuracy() -> str:
    d = load_json("rpeak_accuracy.json")
    w = d["without_207"]
    rows = [[f"all {d['records']} records", f"{d['sensitivity']:.4f}", f"{d['positive_predictivity']:.4f}",
             d["tp"], d["fn"], d["fp"]],
            ["without record 207", f"{w['sensitivity']:.4f}", f"{w['positive_predictivity']:.4f}", "", "", ""]]
    return (f"Tolerance {d['tolerance_s'] * 1000:.0f} ms against {d['reference']}; median "
            f"{d['seconds_per_record']['median']:.3f} s per record.\n\n"
            + _table(["records", "sensitivity", "positive predictivity", "TP", "FN", "FP"], rows, "lrrrrr"))


def baseline_mitbih() -> str:
    d = load_json("baseline_mitbih.json")
    rows = []
    for kind, r in d["results"].items():
        for side in ("reference", "detected"):
            s = r.get(side)
            if not s:
                continue
            f1 = s["f1"]
            rows.append([kind, side, f"{s['accuracy']:.3f}", f"{s['macro_f1']:.3f}",
                         *(f"{f1[c]:.3f}" for c in ("N", "S", "V", "F"))])
    return (f"{d['protocol']}. {d['choices']}.\n\n"
            + _table(["baseline", "beats", "accuracy", "macro-F1", "F1 N", "F1 S", "F1 V", "F1 F"], rows,
                     "llrrrrrr"))


def data_cache() -> str:
    d = load_json("data_cache.json")
    s = d["seconds"]
    return _table(["records", "beats", "first build (s)", "reload from cache (s)", "cache (MB)"],
                  [[d["records"], d["beats"], s["first_build"], s["cached_reload"], d["cache_megabytes"]]],
                  "rrrrr")


def annotate_speed() -> str:
    runs = load_json("annotate_cpu-2core.json")
    rows = []
    for r in runs:
        for runtime, sec in r["annotate_s"].items():
            rows.append([r["date"][:10], r["cpu"], r["cpus"], r["annotate_beats"], runtime,
                         f"{_median(sec):.2f}", f"{_median(r['annotate_write_s'][runtime]):.2f}"])
    return _table(["date", "CPU", "cores", "beats", "runtime", "annotate (s)", "with the files written (s)"],
                  rows, "lllrlrr")


def _median(x):
    if isinstance(x, dict):
        x = x.get("median", x.get("best"))
    if isinstance(x, list):
        x = sorted(x)[len(x) // 2]
    return float(x)


def exports() -> str:
    rows = []
    for backend in ("tensorflow", "jax", "torch"):
        d = load_json(f"export_{backend}.json")
        n = ok = 0
        for m in d["models"].values():
            for f in m["formats"].values():
                n += 1
                ok += f.get("status") == "ok"
        rows.append([backend, d["created"][:10], len(d["models"]), f"{ok} of {n}"])
    return _table(["backend", "date", "models", "model/format pairs verified"], rows, "llrr")


def pretrained_models() -> str:
    """The shipped models, from their cards (``saved_models/<name>/model_card.json``)."""
    from keras_ecg import card as C

    rows = []
    for path in sorted(SAVED_MODELS.glob(f"*/{C.CARD_NAME}")):
        c = C.read(path)
        mt, cal, rel = c.metrics, c.calibration, c.release
        auc = mt.get("roc_auc_risk") or mt.get("roc_auc_macro")
        figures = f"accuracy {mt['accuracy']:.3f}, macro-F1 {mt['macro_f1']:.3f}"
        if auc:
            figures += f", ROC-AUC {auc:.3f}"
        if "ec57_reference_accuracy" in mt:
            figures += (f"; EC57 reference / detected beats: accuracy {mt['ec57_reference_accuracy']:.3f} / "
                        f"{mt['ec57_detected_accuracy']:.3f}, macro-F1 NSVF "
                        f"{mt['ec57_reference_macro_f1_nsvf']:.3f} / {mt['ec57_detected_macro_f1_nsvf']:.3f}, "
                        f"F1 S {mt['ec57_reference_f1_S']:.3f}, F1 V {mt['ec57_reference_f1_V']:.3f}")
        recall = ", ".join(f"{k[len('recall_'):]} {v:.2f}" for k, v in mt.items() if k.startswith("recall_"))
        if recall:
            figures += f"; recall {recall}"
        members = (" (bundle of " + " + ".join(f"`{m.name}`" for m in c.bundle.members) + ")"
                   if getattr(c, "bundle", None) else "")
        calib = "none"
        if cal is not None:
            calib = f"{cal.method}, ECE {cal.ece_before:.3f} -> {cal.ece_after:.3f}"
            if cal.uncertain_below is not None:
                calib += f"; uncertain below {cal.uncertain_below:.2f}"
        rows.append([f"`{c.name if rel is None else rel.name}`",
                     (rel.intended_use if rel else "") + members,
                     f"{rel.metrics_split if rel else ''}: {figures}", calib])
    if not rows:
        raise ResultsError("no model card under saved_models/")
    return _table(["name", "what", "figures (split: values)", "calibration"], rows)


RENDERERS = {
    "digitize_accuracy": digitize_accuracy,
    "image_layouts": image_layouts,
    "rpeak_accuracy": rpeak_accuracy,
    "baseline_mitbih": baseline_mitbih,
    "data_cache": data_cache,
    "annotate_speed": annotate_speed,
    "exports": exports,
    "pretrained_models": pretrained_models,
}


def render(name: str) -> str:
    if name not in RENDERERS:
        raise ResultsError(f"no results table named {name!r}; known: {', '.join(RENDERERS)}")
    try:
        return RENDERERS[name]()
    except (KeyError, TypeError) as e:
        raise ResultsError(f"results table {name!r}: its file lacks {e}") from None
