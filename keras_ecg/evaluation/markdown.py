"""Markdown renderings: one report (``report.md``) and a table comparing several."""

from __future__ import annotations

__all__ = ["SYNTHETIC_WARNING", "markdown", "compare_table"]

SYNTHETIC_WARNING = (
    "SYNTHETIC DATA: these figures were measured on synthetic signals/images, "
    "not on real ECGs. They only show that the pipeline runs; they say nothing "
    "about diagnostic performance."
)


def _fmt(v, digits=3):
    return "—" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def markdown(report: dict) -> str:
    names = report["class_names"]
    lines = []
    if report["synthetic"]:
        lines += [f"> **⚠️ WARNING — {SYNTHETIC_WARNING}**", ""]
    lines += [f"# Evaluation report — split `{report['split']}`", ""]
    lines += [
        "| | |",
        "|---|---|",
        f"| split | `{report['split']}` |",
        f"| data source | {report['data_source']}{' (**synthetic**)' if report['synthetic'] else ''} |",
        f"| examples | {report['num_test']} |",
        f"| accuracy | {_fmt(report['accuracy'])} |",
        f"| macro-F1 | {_fmt(report['macro_f1'])} |",
        f"| ROC-AUC (macro, one-vs-rest) | {_fmt(report['roc_auc_macro'])} |",
    ]
    if report["roc_auc_risk"] is not None:
        lines.append(f"| ROC-AUC of risk (`{names[1]}`) | {_fmt(report['roc_auc_risk'])} |")
    if report["binary"]:
        lines.append(f"| threshold | {report['threshold']} |")
    v = report["versions"]
    lines += [
        f"| backend | {report['backend']} |",
        "| versions | " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + " |",
        "",
        "## Per class",
        "",
        "| class | precision | recall | F1 | support | ROC-AUC |",
        "|---|---|---|---|---|---|",
    ]
    for n in names:
        m = report["per_class"][n]
        lines.append(
            f"| {n} | {_fmt(m['precision'])} | {_fmt(m['recall'])} | {_fmt(m['f1'])} | "
            f"{m['support']} | {_fmt(report['roc_auc'].get(n))} |"
        )
    lines += ["", "## Confusion matrix (rows: true, columns: predicted)", ""]
    lines.append("| true \\ pred | " + " | ".join(names) + " |")
    lines.append("|---" * (len(names) + 1) + "|")
    for n, row in zip(names, report["confusion_matrix"]):
        lines.append(f"| **{n}** | " + " | ".join(str(c) for c in row) + " |")
    from keras_ecg.evaluation.reliability_plot import markdown_lines

    lines += markdown_lines(report)
    if report.get("training"):
        t = report["training"]
        lines += ["", f"## Training ({t['epochs']} epochs)", ""]
        lines += [f"- {k}: {_fmt(val, 4)}" for k, val in t["final"].items()]
    if report["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report["warnings"]]
    if report["plots"]:
        lines += ["", "## Plots", ""]
        lines += [f"![{k}]({f})" for k, f in report["plots"].items()]
    if report.get("extra"):
        import json

        lines += ["", "## Extra", "", "```json", json.dumps(report["extra"], indent=2, default=str), "```"]
    if report["synthetic"]:
        lines += ["", f"> **⚠️ {SYNTHETIC_WARNING}**"]
    return "\n".join(lines) + "\n"



def compare_table(reports: dict, recall: bool = True) -> str:
    """Markdown table of several reports: model vs accuracy, macro-F1, per-class recall.

    Args:
        reports: ``{model name: report dict}`` (as returned by :func:`evaluate`
            or loaded from ``report.json``).
        recall: add one per-class recall column per class.
    """
    if not reports:
        return "_no reports_\n"
    classes = []
    for r in reports.values():
        for c in r.get("class_names", []):
            if c not in classes:
                classes.append(c)
    head = ["model", "split", "n", "accuracy", "macro-F1", "ROC-AUC"]
    if recall:
        head += [f"recall {c}" for c in classes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    synthetic = False
    for name, r in reports.items():
        synthetic |= bool(r.get("synthetic"))
        auc = r.get("roc_auc_risk") if r.get("binary") else r.get("roc_auc_macro")
        row = [
            str(name) + (" ⚠️" if r.get("synthetic") else ""),
            str(r.get("split", "")),
            str(r.get("num_test", "")),
            _fmt(r.get("accuracy")),
            _fmt(r.get("macro_f1")),
            _fmt(auc),
        ]
        if recall:
            pc = r.get("per_class", {})
            row += [_fmt(pc.get(c, {}).get("recall")) for c in classes]
        lines.append("| " + " | ".join(row) + " |")
    if synthetic:
        lines += ["", "⚠️ = measured on **synthetic** data: says nothing about ECG performance."]
    return "\n".join(lines) + "\n"
