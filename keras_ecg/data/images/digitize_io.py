"""Writing a :class:`~.digitize.Digitized` page: WFDB record, CSV and an overlay PNG.

For a page ``NAME`` (the file's stem), :func:`write_digitized` writes into the
output folder, each file atomically:

- ``NAME.hea`` / ``NAME.dat``: a WFDB record (``wfdb.rdrecord("DIR/NAME")``),
  the 12 leads (and ``rhythm``, the rhythm strip's lead, where the page has one) in mV at
  ``fs`` over the page's 10 s; samples where a lead was not printed are NaN;
- ``NAME.csv``: ``time_s`` and one column per lead (empty where not printed);
- ``NAME_overlay.png``: the page with the followed traces drawn over it in red;
- ``NAME.json``: layout, scale (grid period px, px per s and per mV, where it came from), leads and spans;
- ``NAME.xml`` (``aecg`` among the formats, :func:`write_aecg`): the 12 leads as HL7 aECG, each lead in
  the span it was printed (:func:`keras_ecg.data.formats.aecg.write`); the rhythm strip is not written;
- ``NAME.dcm`` (``dicom`` among the formats): the 12 leads as a DICOM 12-lead ECG waveform object
  (:mod:`keras_ecg.data.formats.dicom`; NaN where a lead was not printed, as the padding value), with
  an empty patient module, ready for an ECG management system.

``formats`` chooses among :data:`FORMATS` (default ``wfdb`` and ``csv``, which ``digitize`` always writes).
"""

from __future__ import annotations

import io
import pathlib
import tempfile

import numpy as np

from keras_ecg import _atomic


def _columns(d):
    names = list(d.lead_names)
    cols = [d.signals[k] for k in range(len(names))]
    if d.rhythm is not None:
        r = np.full(d.signals.shape[1], np.nan, np.float32)
        r[: len(d.rhythm)] = d.rhythm[: len(r)]
        names.append("rhythm")
        cols.append(r)
    return names, np.stack(cols, axis=1)


def csv_text(d) -> str:
    names, sig = _columns(d)
    t = np.arange(sig.shape[0]) / d.fs
    lines = [",".join(["time_s"] + names)]
    for i in range(sig.shape[0]):
        vals = ["" if not np.isfinite(v) else f"{v:.4f}" for v in sig[i]]
        lines.append(f"{t[i]:.4f}," + ",".join(vals))
    return "\n".join(lines) + "\n"


def overlay_png(page: np.ndarray, d, max_width: int = 1400) -> bytes:
    """The page with the followed traces drawn over it (red), as PNG bytes."""
    from PIL import Image, ImageDraw

    im = Image.fromarray(np.asarray(page)).convert("RGB")
    draw = ImageDraw.Draw(im)
    for lead, (x, y) in d.traces.items():
        pts = [(float(a), float(b)) for a, b in zip(x, y) if np.isfinite(b)]
        if len(pts) > 1:
            draw.line(pts, fill=(230, 0, 0), width=1)
    if im.width > max_width:
        im = im.resize((max_width, int(im.height * max_width / im.width)), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def summary(d) -> dict:
    return {"source": d.source, "layout": d.layout, "fs": d.fs, "leads": list(d.lead_names),
            "rhythm_strip": d.rhythm is not None, "scale_source": d.scale_source,
            "grid_period_px": list(d.grid_period_px) if d.grid_period_px else None,
            "px_per_s": d.px_per_s, "px_per_mv": d.px_per_mv, "skew_deg": d.skew_deg,
            "spans_s": {k: list(v) for k, v in d.spans.items()},
            "units": "mV", "paper": "25 mm/s, 10 mm/mV"}


FORMATS = ("wfdb", "csv", "aecg", "dicom")


def write_digitized(d, page: np.ndarray, out_dir, name: str, formats=("wfdb", "csv")) -> list:
    """Write the record (as ``formats`` say), overlay and summary of ``d`` as ``out_dir/name.*``; the paths
    written."""
    from keras_ecg.data.synthetic_wfdb import wfdb_files, write_files

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names, sig = _columns(d)
    written = []
    if "wfdb" in formats:
        with tempfile.TemporaryDirectory(dir=out, prefix=".digitize-") as tmp:
            files = wfdb_files(name, sig.astype(np.float64), d.fs, names,
                               comments=[f"digitised from {pathlib.Path(d.source).name}: layout {d.layout}, "
                                         f"scale from {d.scale_source}"], write_dir=tmp)
            written += write_files(out / name, files)
    if "csv" in formats:
        written.append(_atomic.write_text(out / f"{name}.csv", csv_text(d)))
    if "aecg" in formats:
        written.append(write_aecg(d, out / f"{name}.xml"))
    if "dicom" in formats:
        from keras_ecg.data.formats import dicom

        from keras_ecg.data import wfdb_io

        rec = wfdb_io.Record(name, np.asarray(d.signals, dtype=np.float32).T, d.fs, list(d.lead_names))
        written.append(dicom.write(out / f"{name}.dcm", rec, description="digitised from a paper ECG"))
    written.append(_atomic.write_bytes(out / f"{name}_overlay.png", overlay_png(d.page if d.page is not None else page, d)))
    written.append(_atomic.write_json(out / f"{name}.json", summary(d)))
    return written


def write_aecg(d, path) -> pathlib.Path:
    """The 12 leads of ``d`` as an HL7 aECG document at ``path`` (no rhythm strip, no source file name)."""
    from keras_ecg.data import wfdb_io
    from keras_ecg.data.formats import aecg

    rec = wfdb_io.Record(pathlib.Path(path).stem, np.asarray(d.signals, dtype=np.float32).T, d.fs, list(d.lead_names))
    return aecg.write(path, rec, text=f"keras_ecg digitize: a {d.layout} page, scale from {d.scale_source}")
