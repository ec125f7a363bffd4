"""Rendered synthetic ECG pages: an embedded image dataset for recipes and tests.

:func:`render_page` draws a 12-lead report like the Khan et al. cardiac pages:
a printed header, a pink grid (1 mm minor, 5 mm major lines), 3 rows of 4 leads
(I aVR V1 V4 / II aVL V2 V5 / III aVF V3 V6, 2.5 s each) and a 10 s lead II
rhythm strip, each row starting with a 1 mV calibration pulse, at 25 mm/s and
10 mm/mV. The 12-lead signals are sums of Gaussian P, Q, R, S and T waves per
beat, with class-specific changes so the classes can be learnt:

- ``normal``: regular sinus rhythm;
- ``abnormal_heartbeat``: irregular RR without P waves, or premature wide
  ventricular beats;
- ``mi``: ST elevation in one territory (inferior or anterior), reciprocal
  depression elsewhere;
- ``history_of_mi``: pathological Q waves and inverted T waves in one territory;
- ``covid19``: sinus tachycardia printed in a different scan look (tinted
  grid, grid in a smaller box, scanner noise and a slight tilt).

:func:`pages` renders a labelled :class:`Dataset` (``meta["synthetic"]=True``).
These pages are not real ECGs: use them to exercise code, never to report accuracy.
"""

from __future__ import annotations

import numpy as np

from keras_ecg.data.dataset import Dataset
from keras_ecg.data.images.panels import LAYOUTS, LEADS, PAGE_GRID, PAGE_GRID_6X2

CLASSES = ["normal", "abnormal_heartbeat", "mi", "history_of_mi", "covid19"]
FS = 250  # Hz of the rendered signals
# Per-lead wave amplitudes (mV): P, Q, R, S, T.
AMPS = {
    "I": (0.10, -0.05, 0.80, -0.10, 0.25),
    "II": (0.15, -0.05, 1.20, -0.20, 0.35),
    "III": (0.05, -0.05, 0.50, -0.15, 0.10),
    "aVR": (-0.10, 0.05, -0.70, 0.05, -0.25),
    "aVL": (0.05, -0.05, 0.40, -0.20, 0.10),
    "aVF": (0.10, -0.05, 0.80, -0.15, 0.20),
    "V1": (0.08, 0.00, 0.30, -0.90, 0.10),
    "V2": (0.10, 0.00, 0.50, -1.20, 0.40),
    "V3": (0.10, 0.00, 0.80, -0.80, 0.45),
    "V4": (0.10, -0.05, 1.30, -0.50, 0.45),
    "V5": (0.10, -0.08, 1.20, -0.30, 0.35),
    "V6": (0.10, -0.08, 0.90, -0.20, 0.30),
}
WAVE_T = (-0.16, -0.03, 0.0, 0.03, 0.25)  # centre of each wave relative to R (s)
WAVE_W = (0.025, 0.010, 0.012, 0.012, 0.050)  # Gaussian widths (s)
TERRITORIES = {
    "inferior": ["II", "III", "aVF"],
    "anterior": ["V1", "V2", "V3", "V4"],
    "lateral": ["I", "aVL", "V5", "V6"],
}
TWELVE = [lead for lead in LEADS if lead != "rhythm"]


def leads(cls: str = "normal", seed: int = 0, duration_s: float = 10.0, fs: int = FS):
    """Synthetic 12-lead signals (mV) of one class: dict lead -> ``(n,)`` array."""
    if cls not in CLASSES:
        raise ValueError(f"unknown class {cls!r}; choose one of {CLASSES}")
    rng = np.random.default_rng(seed)
    n = int(duration_s * fs)
    t = np.arange(n) / fs
    hr = rng.uniform(100, 125) if cls == "covid19" else rng.uniform(58, 90)
    rr = 60.0 / hr
    beats, kinds = [], []
    pos = rng.uniform(0.1, 0.5)
    mode = rng.choice(["af", "pvc"]) if cls == "abnormal_heartbeat" else "sinus"
    while pos < duration_s + 0.5:
        kind = "N"
        step = rr * (1 + rng.normal(0, 0.02))
        if mode == "af":
            step = rr * rng.uniform(0.6, 1.4)
            kind = "AF"
        elif mode == "pvc" and len(beats) > 1 and kinds[-1] == "N" and rng.random() < 0.3:
            kind = "V"
        if kind == "V":  # premature, then a compensatory pause
            pos = beats[-1] + 0.6 * rr
            beats.append(pos)
            kinds.append(kind)
            pos += 1.4 * rr
            continue
        beats.append(pos)
        kinds.append(kind)
        pos += step
    territory = rng.choice(list(TERRITORIES)[:2])
    hit = set(TERRITORIES[territory])
    st_mv = rng.uniform(0.2, 0.4)
    sig = {}
    for lead in TWELVE:
        p, q, r, s, tw = (a * rng.uniform(0.85, 1.15) for a in AMPS[lead])
        x = np.zeros(n)
        for b, kind in zip(beats, kinds):
            amps = [p, q, r, s, tw]
            widths = list(WAVE_W)
            st = 0.0
            if kind == "AF":
                amps[0] = 0.0
            if kind == "V":
                amps = [0.0, 0.0, 1.6 * np.sign(r + s + 1e-9) * max(abs(r), abs(s)), 0.0, -1.2 * tw]
                widths = [0.025, 0.01, 0.04, 0.02, 0.07]
            if cls == "mi":
                st = st_mv if lead in hit else (-0.4 * st_mv if lead in ("aVR", "aVL", "I") or territory == "anterior" and lead in TERRITORIES["inferior"] else 0.0)
            if cls == "history_of_mi" and lead in hit:
                amps[1] = -max(0.3, 0.35 * abs(r))
                widths[1] = 0.02
                amps[2] = 0.5 * r
                amps[4] = -abs(tw)
            for a, dt, w in zip(amps, WAVE_T, widths):
                if a:
                    x += a * np.exp(-0.5 * ((t - b - dt) / w) ** 2)
            if st:  # a raised ST segment from the J point into the T wave
                x += st * np.exp(-0.5 * ((t - b - 0.14) / 0.07) ** 4)
        x += 0.05 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 6.3))
        x += rng.normal(0, 0.012, n)
        if mode == "af":
            x += 0.04 * np.sin(2 * np.pi * rng.uniform(5, 7) * t)
        sig[lead] = x
    return sig


def page_geometry(width: int = 1107, height: int = 786, look: str = "cardiac", layout: str = "3x4+1") -> dict:
    """Where :func:`render_page` draws things, in pixels.

    Returns a dict with ``grid_box`` ``(y0, y1, x0, x1)``, ``rows`` (baseline
    y's: 4 for ``3x4+1``, 7 for ``6x2+1``), ``x_start``/``x_end`` of the traces,
    ``px_per_mm``, ``draw`` (lead, row y, x0, x1, t0 s, t1 s) per drawn trace and
    ``boxes`` ``(13, 4)``: the panel crops :func:`panels.find_layout` should
    find, ``(y0, y1, x0, x1)`` in :data:`LEADS` order (2.5 s per lead).
    """
    if look == "cardiac":
        y0, y1, x0, x1 = 0.18 * height, 0.965 * height, 0.03 * width, 0.985 * width
    elif look == "scan":
        y0, y1, x0, x1 = 0.12 * height, 0.90 * height, 0.08 * width, 0.92 * width
    else:
        raise ValueError(f"unknown look {look!r}; use 'cardiac' or 'scan'")
    if layout == "3x4+1":
        grid, n_rows = PAGE_GRID, 4
    elif layout == "6x2+1":
        grid, n_rows = PAGE_GRID_6X2, 7
    elif layout == "6x2":
        grid, n_rows = PAGE_GRID_6X2, 6
    else:
        raise ValueError(f"unknown layout {layout!r}; use one of {LAYOUTS}")
    y0, y1, x0, x1 = (int(round(v)) for v in (y0, y1, x0, x1))
    spacing = (y1 - y0) / float(n_rows)
    # 6x2 printers space their rows unevenly (by the traces' size): the first two rows sit closer
    offsets = [i + 0.55 for i in range(n_rows)]
    if layout == "6x2":
        offsets = [0.55, 1.2] + [2.0 + (i - 2) * 0.95 for i in range(2, n_rows)]
    rows = [y0 + o * spacing for o in offsets]
    xs = x0 + 0.045 * (x1 - x0)
    xe = x1 - 0.02 * (x1 - x0)
    n_cols = len(grid[0])
    col = (xe - xs) / n_cols
    secs = 10.0 / n_cols
    draw, pos = [], {}
    for i, names in enumerate(grid):
        for j, lead in enumerate(names):
            c0 = xs + j * col
            draw.append((lead, rows[i], c0, c0 + col, j * secs, (j + 1) * secs))
            pos[lead] = (rows[i], c0, c0 + col * 2.5 / secs)
    if layout == "6x2":  # no rhythm strip: the 13th panel is lead II's 5 s column
        pos["rhythm"] = (rows[1], xs, xs + col)
    else:
        draw.append(("II", rows[-1], xs, xe, 0.0, 10.0))
        pos["rhythm"] = (rows[-1], xs, xe)
    half = [spacing / 2] * n_rows
    if layout == "6x2":  # half the larger gap to a neighbour, as panels.find_layout measures it
        gaps = np.diff(rows)
        half = [min(spacing, max(gaps[max(0, i - 1)], gaps[min(i, len(gaps) - 1)])) / 2 for i in range(n_rows)]
    boxes = []
    for lead in LEADS:
        r, c0, c1 = pos[lead]
        hh = half[rows.index(r)]
        boxes.append((r - hh, r + hh, c0, c1))
    return {
        "layout": layout,
        "grid_box": (y0, y1, x0, x1),
        "rows": [int(round(r)) for r in rows],
        "x_start": int(round(xs)),
        "x_end": int(round(xe)),
        "spacing": spacing,
        "px_per_mm": (xe - xs) / 250.0,  # 10 s at 25 mm/s
        "draw": draw,
        "boxes": np.round(np.asarray(boxes)).astype(np.int64),
    }


def _draw_grid(page, g, minor, major) -> None:
    """1 mm minor and 5 mm major lines, clipped to the grid box, in place."""
    y0, y1, x0, x1 = g["grid_box"]
    mm = g["px_per_mm"]
    for k, x in enumerate(np.arange(x0, x1, mm)):
        page[y0:y1, int(round(x))] = major if k % 5 == 0 else minor
    for k, y in enumerate(np.arange(y0, y1, mm)):
        page[int(round(y)), x0:x1] = major if k % 5 == 0 else minor
    page[y0:y1, [x0, x1 - 1]] = major
    page[[y0, y1 - 1], x0:x1] = major


def _font(size):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def render_page(
    cls: str = "normal",
    seed: int = 0,
    width: int = 1107,
    height: int = 786,
    look=None,
    signals=None,
    layout: str = "3x4+1",
    grid: bool = True,
):
    """A rendered 12-lead ECG page, uint8 ``(height, width, 3)``.

    Args:
        cls: class whose signal changes are drawn (see module doc).
        seed: random seed of the signals and the header text.
        width, height: page size in pixels.
        look: ``"cardiac"`` (header + grid, the default) or ``"scan"`` (tinted
            grid in a smaller box, noise, slight tilt; the default for ``covid19``).
        signals: optional dict lead -> mV samples at :data:`FS` Hz (10 s) to draw
            instead of generated ones.
        layout: ``"3x4+1"`` (2.5 s per lead), ``"6x2+1"`` (5 s per lead) or
            ``"6x2"`` (5 s per lead, unevenly spaced rows, no rhythm strip);
            the first two end with a 10 s lead II rhythm strip.
        grid: False draws no grid (like the share's 6x2 + rhythm pages).
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed + 7919)
    look = look or ("scan" if cls == "covid19" else "cardiac")
    g = page_geometry(width, height, look, layout)
    sig = signals if signals is not None else leads(cls, seed)
    y0, y1, x0, x1 = g["grid_box"]
    page = np.full((height, width, 3), 255, np.uint8)
    # Grid: 1 mm minor lines, 5 mm major lines, clipped to the grid box.
    mm = g["px_per_mm"]
    minor, major = ((250, 222, 222), (240, 170, 170)) if look == "cardiac" else ((245, 210, 215), (232, 175, 185))
    if look == "scan" and grid:
        page[y0:y1, x0:x1] = (250, 236, 238)
    if grid:
        _draw_grid(page, g, minor, major)
    im = Image.fromarray(page)
    d = ImageDraw.Draw(im)
    lw = max(1, int(round(width / 800)))
    fsz = max(8, int(height * 0.018))
    if look == "cardiac":
        d.text((width * 0.45, height * 0.01), "ECG REPORT", fill=(0, 0, 0), font=_font(int(fsz * 1.4)))
        d.text((width * 0.03, height * 0.05), f"ID : {rng.integers(10000, 999999)}   {rng.integers(20, 90)}Years", fill=(0, 0, 0), font=_font(fsz))
        d.text((width * 0.03, height * 0.08), "Diagnosis Information:", fill=(0, 0, 0), font=_font(fsz))
        d.line([(width * 0.03, height * 0.075), (width * 0.98, height * 0.075)], fill=(0, 0, 0), width=lw)
    px_mv = 10 * mm
    n10 = 10 * FS
    for name, row, c0, c1, ta, tb in g["draw"]:
        x = np.asarray(sig[name], dtype=np.float64)[:n10]
        seg = x[int(ta * FS) : int(tb * FS)]
        seg = seg - np.median(seg)
        xs = np.linspace(c0, c1, len(seg))
        ys = np.clip(row - seg * px_mv, 0, height - 1)
        d.line(list(zip(xs.tolist(), ys.tolist())), fill=(0, 0, 0), width=lw)
        d.text((c0 + 4, row - 0.3 * g["spacing"]), name, fill=(0, 0, 0), font=_font(fsz))
    # The 1 mV calibration pulse before each row.
    for row in g["rows"]:
        px0 = g["x_start"] - 0.035 * (x1 - x0)
        pw = 0.02 * (x1 - x0)
        pts = [(px0, row), (px0 + 0.2 * pw, row), (px0 + 0.2 * pw, row - px_mv), (px0 + 0.8 * pw, row - px_mv), (px0 + 0.8 * pw, row), (px0 + pw, row)]
        d.line(pts, fill=(0, 0, 0), width=lw)
    out = np.asarray(im)
    if look == "scan":
        out = _scan_look(out, rng)
    return out


def _scan_look(page: np.ndarray, rng) -> np.ndarray:
    from PIL import Image

    im = Image.fromarray(page).rotate(rng.uniform(-0.6, 0.6), resample=Image.BILINEAR, fillcolor=(255, 255, 255))
    a = np.asarray(im).astype(np.float32)
    a = a * rng.uniform(0.93, 0.98) + rng.normal(0, 4.0, a.shape[:2] + (1,))
    return np.clip(a, 0, 255).astype(np.uint8)


def pages(
    n_per_class: int = 20,
    classes=None,
    image_size: int | None = 224,
    preprocess: str = "page",
    seed: int = 0,
    binary: bool = False,
    width: int = 1107,
    height: int = 786,
    panel_size=(64, 64),
    layout: str = "3x4+1",
) -> Dataset:
    """A labelled Dataset of rendered pages, preprocessed like :func:`keras_ecg.data.images.load_folder`.

    ``image_size=None`` keeps the full page for ``page``/``grid_removed``;
    ``layout`` is ``"3x4+1"`` or ``"6x2+1"`` (see :func:`render_page`).
    ``meta["synthetic"]`` is True and ``meta["source"]`` is ``"synthetic"``.
    """
    from keras_ecg.data.images import preprocess as prep
    from keras_ecg.data.images.folder import binary_labels

    classes = list(classes) if classes is not None else list(CLASSES)
    for c in classes:
        if c not in CLASSES:
            raise ValueError(f"unknown class {c!r}; choose from {CLASSES}")
    prep.check_preprocess(preprocess)
    xs, ys, groups = [], [], []
    for label, cls in enumerate(classes):
        for i in range(n_per_class):
            s = seed * 1_000_003 + label * 10_007 + i
            page = render_page(cls, seed=s, width=width, height=height, layout=layout)
            xs.append(prep.prepare(page, preprocess, image_size, panel_size))
            ys.append(label)
            groups.append(f"synthetic-{cls}-{seed}-{i}")
    x = prep.normalise(np.stack(xs), preprocess)
    y = np.asarray(ys, np.int64)
    names = list(classes)
    if binary:
        y, names = binary_labels(y, classes, "synthetic pages")
    meta = {
        "source": "synthetic",
        "synthetic": True,
        "preprocess": preprocess,
        "image_size": image_size if preprocess not in ("panels", "digitized") else None,
        "panel_size": list(prep.pair(panel_size)) if preprocess == "panels" else None,
        "panel_names": list(LEADS) if preprocess == "panels" else None,
        "page_size": [height, width],
        "layout": layout,
        "fine_classes": list(classes),
        "binary": bool(binary),
        "class_map": None,
        "layout_failures": [],
        "duplicates": {},
        "seed": seed,
    }
    return Dataset(x, y, np.asarray(groups, dtype=object), names, meta)


def write_folder(root, n_per_class: int = 4, classes=None, seed: int = 0, width: int = 553, height: int = 393,
                 quality: int = 90):
    """Rendered pages saved as JPEG files in one sub-folder per class (a tiny image share for tests and
    the benchmark's quick mode); returns ``root``. ``covid19`` pages get the scanned look, as in the share."""
    import pathlib

    from PIL import Image

    root = pathlib.Path(root)
    classes = list(classes) if classes is not None else list(CLASSES)
    for label, cls in enumerate(classes):
        sub = root / cls
        sub.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            page = render_page(cls, seed=seed * 1_000_003 + label * 10_007 + i, width=width, height=height)
            Image.fromarray(page).save(sub / f"{cls} ({i + 1}).jpg", quality=quality)
    return root
