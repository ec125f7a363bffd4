"""The reliability diagram of a report: accuracy against confidence per bin, before and after calibration.

matplotlib is imported inside (through :mod:`keras_ecg.evaluation.plots`); the PNG is written atomically.
"""

from __future__ import annotations

import textwrap

import numpy as np

from keras_ecg.evaluation import plots as P

__all__ = ["plot_reliability", "markdown_lines"]


def plot_reliability(part: dict, path, title: str) -> None:
    """Draw ``part`` (the report's ``calibration`` dict) to the PNG ``path``."""
    plt = P.pyplot()
    fig, (ax, hx) = plt.subplots(2, 1, figsize=(4.8, 5.6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    edges = np.asarray(part["reliability_before"]["edges"])
    mids, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
    styles = (("before", "raw", "#d62020", "o"), ("after", part["method"], "#1f5fd6", "s"))
    for key, name, colour, marker in styles:
        if key == "after" and part["method"] == "none":
            continue
        b = part[f"reliability_{key}"]
        pts = [(c, a) for c, a in zip(b["confidence"], b["accuracy"]) if c is not None]
        if pts:
            c, a = zip(*pts)
            ax.plot(c, a, marker=marker, color=colour, linewidth=1.2, markersize=4,
                    label=f"{name}: ECE {part[f'ece_{key}']:.3f}, Brier {part[f'brier_{key}']:.3f}")
        hx.bar(mids - (0.45 * width if key == "before" else 0.0), b["count"], width=0.45 * width, align="edge",
               color=colour, alpha=0.6)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy in bin")
    ax.set_title(textwrap.shorten(title, 70, placeholder=" ..."), fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    hx.set_xlabel("confidence (probability of the predicted class)")
    hx.set_ylabel("outputs")
    hx.set_yscale("log")
    fig.tight_layout()
    P._save_fig(fig, path)


def _f(v, d=3):
    return "—" if v is None else f"{v:.{d}f}"


def markdown_lines(report: dict) -> list:
    """The ``report.md`` section on calibration and uncertainty (empty without them)."""
    cal, unc = report.get("calibration"), report.get("uncertainty")
    if not cal:
        return []
    how = cal["method"] + (f" (T = {cal['temperature']:.3f})" if cal["method"] == "temperature" else "")
    if cal["method"] == "platt" and cal.get("platt"):
        how += f" (a = {cal['platt'][0]:.3f}, b = {cal['platt'][1]:.3f})"
    fitted = f", fitted on {cal['fitted_on']} ({cal['fitted_items']} outputs)" if cal.get("fitted_on") else ""
    lines = ["", "## Calibration", "", f"Method: {how}{fitted}. Figures on this split "
             f"({cal['bins']}-bin ECE of the top-label confidence):", "",
             "| | ECE | Brier |", "|---|---|---|",
             f"| raw outputs | {_f(cal['ece_before'])} | {_f(cal['brier_before'])} |",
             f"| calibrated | {_f(cal['ece_after'])} | {_f(cal['brier_after'])} |"]
    if unc:
        met = "met" if unc["target_met_on_validation"] else "**not met**"
        lines += ["", "## Uncertainty", "",
                  f"Outputs with calibrated confidence below {unc['threshold']:.3f} are flagged uncertain (chosen "
                  f"on the validation side for accuracy {unc['target_accuracy']:.2f} on the kept outputs: {met} "
                  f"there, keeping {_f(unc['validation_kept_fraction'])}).", "",
                  "| abstention rate | accuracy on kept | kept | accuracy on all |", "|---|---|---|---|",
                  f"| {_f(unc['abstention_rate'])} | {_f(unc['accuracy_kept'])} | {unc['n_kept']} | "
                  f"{_f(unc['accuracy_all'])} |"]
    return lines
