"""A strip chart of an annotated record on ECG paper scale: 25 mm/s, 10 mm/mV, beats coloured by class.

Each span is drawn as rows of :data:`ROW_S` seconds (250 mm wide) on a grid of 1 mm
(0.04 s, 0.1 mV) and 5 mm (0.2 s, 0.5 mV) squares, at its true size when the PNG is
shown at :data:`DPI` dots per inch. Every beat gets its class letter above it; beats
other than N are drawn in their class colour; uncertain beats get ``?`` after their letter and a grey band.
Rhythm episodes (:class:`keras_ecg.rhythm.Episode`) are shaded, a translucent band per episode in its
kind's colour (:data:`EPISODE_COLOURS`) with its name at the band's foot. Segments the signal-quality check
(:mod:`keras_ecg.data.quality`) marked unreadable get a grey hatched band labelled ``unreadable: REASON`` (their
detections are not classified, so carry no letter), and the heading gives the analysable fraction.

:func:`default_spans`: the first 10 s; with AF, 10 s from 2 s before the onset of the longest AF
episode; with pauses, 10 s around the longest pause; 10 s from 2 s before the longest
unreadable stretch; and the clock minute with the most ectopic (S, V, F) beats.
"""

from __future__ import annotations

import numpy as np

from keras_ecg.evaluation import plots as _plots

MM_PER_S, MM_PER_MV, ROW_S, ROW_MV, DPI = 25.0, 10.0, 10.0, 3.0, 100
COLOURS = {"N": "#222222", "S": "#1f5fd6", "V": "#d62020", "F": "#e08a00", "Q": "#8a2be2"}
ECTOPIC = ("S", "V", "F")
EPISODE_COLOURS = {"AFIB": "#19a974", "AFL": "#19a974", "VT": "#d62020", "VRUN": "#e05050", "SVRUN": "#1f5fd6",
                   "BIGEMINY": "#d6a800", "TRIGEMINY": "#d6a800", "BRADY": "#8060c0", "TACHY": "#8060c0",
                   "PAUSE": "#ff7f0e"}
AF_LEAD_S = 2.0  # the AF strip (and the unreadable one) starts this long before the stretch
UNREADABLE_COLOUR = "#777777"
MAX_SPAN_S = 600.0  # seconds of strips one chart draws at most (60 rows of 10 s), whatever --span asks
_IN = 1 / 25.4  # inches per mm


def _clock(s) -> str:
    s = float(s)
    return f"{int(s // 3600):d}:{int(s % 3600 // 60):02d}:{int(s % 60):02d}"


def _episode_spans(episodes, duration_s):
    """The strips that episodes ask for: the onset of the longest AF episode, the longest pause."""
    out = []
    af = [e for e in episodes if e.kind in ("AFIB", "AFL")]
    if af:
        e = max(af, key=lambda e: e.duration_s)
        t0 = max(0.0, e.start_s - AF_LEAD_S)
        long = f"{e.duration_s:.0f} s" if e.duration_s < 120 else f"{e.duration_s / 60:.1f} min"
        out.append((t0, min(t0 + ROW_S, duration_s), f"AF onset at {_clock(e.start_s)} (longest AF episode, {long})"))
    pauses = [e for e in episodes if e.kind == "PAUSE"]
    if pauses:
        e = max(pauses, key=lambda e: e.duration_s)
        t0 = min(max(0.0, (e.start_s + e.end_s - ROW_S) / 2), max(duration_s - ROW_S, 0.0))
        out.append((t0, min(t0 + ROW_S, duration_s), f"longest pause, {e.duration_s:.1f} s at {_clock(e.start_s)}"))
    return out


def check_spans(spans, duration_s: float, where) -> None:
    """Refuse (a :class:`~keras_ecg.errors.DataError` naming ``where``) spans that are not finite, reversed,
    outside the record's ``duration_s`` or longer than :data:`MAX_SPAN_S` together: a chart of them would be
    empty, or take time and memory out of all proportion."""
    from keras_ecg.errors import DataError

    total = 0.0
    for start, end, *_ in spans:
        text = f"--span {start:g}:{end:g}"
        if not (np.isfinite(start) and np.isfinite(end) and 0 <= start < end):
            raise DataError(f"{where}: {text}: need finite 0 <= START < END seconds")
        if end > duration_s + 1e-6:
            raise DataError(f"{where}: {text}: the record is {duration_s:g} s long; the span must end within it")
        total += end - start
    if total > MAX_SPAN_S:
        raise DataError(f"{where}: --span: {total:g} s of strips asked for; a chart draws at most {MAX_SPAN_S:g} s")


def _unreadable_span(unreadable, duration_s):
    """The strip of the longest unreadable stretch (``[(start_s, end_s, reason)]``): 10 s from 2 s before it."""
    if not unreadable:
        return []
    a, b, why = max(unreadable, key=lambda u: u[1] - u[0])
    t0 = min(max(0.0, a - AF_LEAD_S), max(duration_s - ROW_S, 0.0))
    return [(t0, min(t0 + ROW_S, duration_s), f"unreadable ({why}) from {_clock(a)}, {b - a:.0f} s")]


def default_spans(times_s, classes, duration_s: float, episodes=(), unreadable=()) -> list:
    """``[(start, end, title)]``: the first 10 s, the strips episodes ask for (AF onset, longest pause), the
    longest unreadable stretch (``unreadable``: :meth:`keras_ecg.data.quality.Quality.spans`), and the minute with
    most ectopic beats (if any)."""
    spans = [(0.0, min(ROW_S, duration_s), "first 10 s")]
    for sp in _episode_spans(list(episodes or ()), duration_s) + _unreadable_span(list(unreadable or ()), duration_s):
        if all(abs(sp[0] - have[0]) > 1.0 for have in spans):  # not the same strip twice
            spans.append(sp)
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


def _shade(ax, episodes, t0, t1, lo, hi):
    """A translucent band per episode over ``[t0, t1)``, its kind written at the band's foot.

    Labels that would overlap (episodes starting within 1.5 s of each other) are stacked upwards.
    """
    placed = []  # x of the labels written so far
    for e in sorted(episodes, key=lambda e: e.start_s):
        a, b = max(e.start_s, t0), min(e.end_s, t1)
        if b <= a:
            continue
        colour = EPISODE_COLOURS.get(e.kind, "#888888")
        ax.axvspan(a, b, color=colour, alpha=0.13, zorder=1, linewidth=0)
        label = f"PAUSE {e.duration_s:.1f} s" if e.kind == "PAUSE" else e.kind
        if e.start_s < t0:
            label += " (cont.)"
        level = sum(abs(a - x) < 1.5 for x in placed)
        placed.append(a)
        ax.text(a + 0.05, lo + 0.15 + 0.4 * level, label, color=colour, ha="left", va="bottom", fontsize=7,
                fontweight="bold", zorder=4, clip_on=True,
                bbox={"facecolor": "white", "alpha": 0.7, "linewidth": 0, "pad": 0.8})


def _hatch(ax, unreadable, t0, t1, lo, hi):
    """A grey hatched band over each unreadable stretch in ``[t0, t1)``, labelled ``unreadable: REASON``."""
    for s0, s1, why in unreadable:
        a, b = max(s0, t0), min(s1, t1)
        if b <= a:
            continue
        ax.axvspan(a, b, facecolor="#dddddd", edgecolor=UNREADABLE_COLOUR, hatch="///", alpha=0.6, linewidth=0,
                   zorder=1, gid=f"unreadable:{why}")
        ax.text(a + 0.05, hi - 0.45, f"unreadable: {why}", color=UNREADABLE_COLOUR, ha="left", va="top", fontsize=7,
                fontweight="bold", zorder=4, clip_on=True,
                bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0, "pad": 0.8})


def _row(ax, x, fs, t0, times, classes, uncertain, episodes=(), unreadable=()):
    t1 = t0 + ROW_S
    i0, i1 = int(max(t0 * fs, 0)), int(min(t1 * fs, len(x)))
    seg = np.asarray(x[i0:i1], dtype=np.float64)
    mid = float(np.median(seg)) if len(seg) else 0.0
    lo, hi = mid - ROW_MV / 2, mid + ROW_MV / 2
    _grid(ax, t0, t1, lo, hi)
    _shade(ax, episodes, t0, t1, lo, hi)
    _hatch(ax, unreadable, t0, t1, lo, hi)
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


def draw(path, signal, fs: float, times_s, classes, spans, title: str = "", uncertain=None, episodes=(),
         unreadable=(), analysable_fraction: float | None = None) -> None:
    """Write the strip chart of ``spans`` (``[(start_s, end_s, title)]``) to the PNG ``path``, atomically.

    ``uncertain``: per beat, whether it is flagged uncertain (label ``N?`` on a grey band).
    ``episodes``: rhythm episodes to shade. ``unreadable``: ``[(start_s, end_s, reason)]`` stretches the quality
    check marked unreadable (hatched); ``analysable_fraction`` (0-1) is written after the title.
    """
    plt = _plots.pyplot()
    x = np.asarray(signal)  # rows convert their own part (a day's record stays as it is)
    times = np.asarray(times_s, dtype=np.float64)
    classes = [str(c) for c in classes]
    uncertain = np.zeros(len(classes), dtype=bool) if uncertain is None else np.asarray(uncertain, dtype=bool)
    unreadable = [(float(a), float(b), str(r)) for a, b, r in (unreadable or ())]
    if analysable_fraction is not None:
        title = (f"{title}; " if title else "") + f"signal {100 * analysable_fraction:.1f}% analysable" + (
            f" ({len(unreadable)} unreadable stretch{'es' * (len(unreadable) != 1)}, hatched)" if unreadable else "")
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
        _row(ax, x, fs, start, times, classes, uncertain, list(episodes or ()), unreadable)
        if head:
            ax.set_title(head, fontsize=8, loc="left", pad=3)
    for k, c in enumerate(reversed(list(COLOURS))):
        fig.text(1 - (left + 4.0 * k) / fig_w, 1 - 4.0 / fig_h, c, color=COLOURS[c], fontsize=8, ha="right",
                 va="center", fontweight="bold")
    fig.text(1 - (left + 4.0 * len(COLOURS) + 2) / fig_w, 1 - 4.0 / fig_h, "25 mm/s, 10 mm/mV; beats:",
             fontsize=7, ha="right", va="center")
    _plots._save_fig(fig, path)
