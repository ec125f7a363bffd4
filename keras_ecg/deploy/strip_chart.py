"""A strip chart of an annotated record on ECG paper scale: 25 mm/s, 10 mm/mV, beats coloured by class.

Each span is drawn as rows of :data:`ROW_S` seconds (250 mm wide) on a grid of 1 mm
(0.04 s, 0.1 mV) and 5 mm (0.2 s, 0.5 mV) squares, at its true size when the PNG is
shown at :data:`DPI` dots per inch. Every beat gets its class letter above it; beats
other than N are drawn in their class colour; uncertain beats get ``?`` after their letter and a grey band. :func:`default_spans`: the first 10 s
and the clock minute with the most ectopic (S, V, F) beats.
"""

from __future__ import annotations

import numpy as np

from keras_ecg.evaluation import plots as _plots

MM_PER_S, MM_PER_MV, ROW_S, ROW_MV, DPI = 25.0, 10.0, 10.0, 3.0, 100
COLOURS = {"N": "#222222", "S": "#1f5fd6", "V": "#d62020", "F": "#e08a00", "Q": "#8a2be2"}
ECTOPIC = ("S", "V", "F")
_IN = 1 / 25.4  # inches per mm


def default_spans(times_s, classes, duration_s: float) -> list:
    """``[(start, end, title)]``: the first 10 s, and the minute with most ectopic beats (if any)."""
    spans = [(0.0, min(ROW_S, duration_s), "first 10 s")]
    times = np.asarray(times_s, dtype=np.float64)
    ect = times[np.isin(np.asarray(classes, dtype=str), ECTOPIC)]
    if len(ect):
        counts = np.bincount((ect // 60).astype(int))
        m = int(np.argmax(counts))
        spans.append((60.0 * m, min(60.0 * m + 60.0, duration_s),
                      f"minute {m + 1}: most ectopic beats ({int(counts[m])})"))
    return spans


def _grid(ax, t0, t1, lo, hi):
    for step, colour, width in ((0.04, "#f7c6c6", 0.3), (0.2, "#ec8f8f", 0.6)):
        ax.vlines(np.arange(t0, t1 + 1e-9, step), lo, hi, colors=colour, linewidth=width, zorder=0)
        mv = step / 0.4  # 1 mm = 0.1 mV, 5 mm = 0.5 mV
        ax.hlines(np.arange(lo, hi + 1e-9, mv), t0, t1, colors=colour, linewidth=width, zorder=0)


def _row(ax, x, fs, t0, times, classes, uncertain):
    t1 = t0 + ROW_S
    i0, i1 = int(max(t0 * fs, 0)), int(min(t1 * fs, len(x)))
    seg = x[i0:i1]
    mid = float(np.median(seg)) if len(seg) else 0.0
    lo, hi = mid - ROW_MV / 2, mid + ROW_MV / 2
    _grid(ax, t0, t1, lo, hi)
    t = np.arange(i0, i1) / fs
    ax.plot(t, np.clip(seg, lo, hi), color=COLOURS["N"], linewidth=0.7, zorder=2)
    for tb, c, u in zip(times, classes, uncertain):
        if not t0 <= tb < t1:
            continue
        if u:  # an uncertain beat: its label gets a '?' and a grey band marks the beat
            ax.axvspan(tb - 0.25, tb + 0.45, color="#bbbbbb", alpha=0.35, zorder=1, linewidth=0)
            c_label = f"{c}?"
        else:
            c_label = c
        colour = COLOURS.get(c, "#444444")
        if c != "N":
            a, b = int(max((tb - 0.25) * fs, i0)), int(min((tb + 0.45) * fs, i1))
            ax.plot(np.arange(a, b) / fs, np.clip(x[a:b], lo, hi), color=colour, linewidth=1.1, zorder=3)
        ax.text(tb, hi - 0.12, c_label, color=colour, ha="center", va="top", fontsize=7, fontweight="bold", zorder=4)
    ax.set_xlim(t0, t1)
    ax.set_ylim(lo, hi)
    ax.set_xticks(np.arange(np.ceil(t0), t1 + 1e-9, 1.0))
    ax.tick_params(labelsize=6, length=2, pad=1)
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)


def draw(path, signal, fs: float, times_s, classes, spans, title: str = "", uncertain=None) -> None:
    """Write the strip chart of ``spans`` (``[(start_s, end_s, title)]``) to the PNG ``path``, atomically.

    ``uncertain``: per beat, whether it is flagged uncertain (label ``N?`` on a grey band).
    """
    plt = _plots.pyplot()
    x = np.asarray(signal, dtype=np.float64)
    times = np.asarray(times_s, dtype=np.float64)
    classes = [str(c) for c in classes]
    uncertain = np.zeros(len(classes), dtype=bool) if uncertain is None else np.asarray(uncertain, dtype=bool)
    rows = []  # (start, heading or None)
    for start, end, name in spans:
        n = max(1, int(np.ceil((end - start) / ROW_S - 1e-9)))
        rows += [(start + k * ROW_S, f"{name} ({start:.0f}-{end:.0f} s)" if k == 0 else None) for k in range(n)]
    row_h, head_h, gap, left, width = ROW_MV * MM_PER_MV, 6.0, 4.0, 8.0, ROW_S * MM_PER_S
    heights = [row_h + gap + (head_h if h else 0) for _, h in rows]
    top = 10.0 if title else 2.0
    fig_w, fig_h = width + 2 * left, sum(heights) + top + 4.0
    fig = plt.figure(figsize=(fig_w * _IN, fig_h * _IN), dpi=DPI)
    if title:
        fig.text(left / fig_w, 1 - 4.0 / fig_h, title, fontsize=9, va="center")
    y = fig_h - top
    for (start, head), h in zip(rows, heights):
        y -= h
        ax = fig.add_axes([left / fig_w, (y + gap) / fig_h, width / fig_w, row_h / fig_h])
        _row(ax, x, fs, start, times, classes, uncertain)
        if head:
            ax.set_title(head, fontsize=8, loc="left", pad=3)
    for k, c in enumerate(reversed(list(COLOURS))):
        fig.text(1 - (left + 4.0 * k) / fig_w, 1 - 4.0 / fig_h, c, color=COLOURS[c], fontsize=8, ha="right",
                 va="center", fontweight="bold")
    fig.text(1 - (left + 4.0 * len(COLOURS) + 2) / fig_w, 1 - 4.0 / fig_h, "25 mm/s, 10 mm/mV; beats:",
             fontsize=7, ha="right", va="center")
    _plots._save_fig(fig, path)
