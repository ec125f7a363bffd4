"""``keras-ecg digitize PAGE... --out DIR [--format wfdb,csv,dicom]``: ECG page images -> per-lead signals
(WFDB, CSV, a DICOM 12-lead ECG object; overlay PNG).

The work is in :mod:`keras_ecg.data.images.digitize` (trace following) and
:mod:`keras_ecg.data.images.digitize_io` (the files written). The output folder is locked and
staged (:mod:`keras_ecg.deploy.output_folder`): the files move in when every page is done. Two pages
that would get one record name (``a/1.jpg``, ``b/1.jpg``) are written as ``1`` and ``1-2`` (the
record name is chosen here, so it is written consistently inside the WFDB header).
"""

from __future__ import annotations

import argparse
import pathlib
import re

from keras_ecg.data import rates


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise SystemExit(f"{self.prog}: error: {message}")


def _pages(paths):
    from keras_ecg.data.images.io import is_image_file

    for p in map(pathlib.Path, paths):
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file() and is_image_file(f))
        else:
            yield p


def record_name(path) -> str:
    """A WFDB-safe record name from a page's file name (``Normal (10).jpg`` -> ``Normal_10``)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", pathlib.Path(path).stem).strip("_") or "page"


def digitize(argv) -> int:
    p = _Parser(prog="keras-ecg digitize", description="Turn ECG page images into per-lead signals in mV "
                "against seconds (the grid gives the scale: 25 mm/s, 10 mm/mV): a WFDB record, a CSV, a "
                "JSON summary and an overlay PNG per page.")
    p.add_argument("pages", nargs="+", metavar="PAGE", help="image files or folders of them")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--fs", type=rates.flag, default=250.0,
                   help=f"sampling rate of the written signals, Hz (default 250; {rates.RANGE_TEXT})")
    from keras_ecg.data import formats
    from keras_ecg.data.images.digitize_io import FORMATS

    p.add_argument("--format", type=formats.flag(FORMATS, always=("wfdb", "csv")), default=("wfdb", "csv"),
                   metavar="LIST", help="also write the 12 leads in these formats, comma-separated: aecg (HL7 aECG "
                   "XML, NAME.xml), dicom (a DICOM 12-lead ECG object, NAME.dcm); the WFDB record and the CSV "
                   "are always written")
    p.add_argument("--orientation", choices=("auto", "upright", "rotated"), default="auto",
                   help="auto (default): turn an upside-down page by 180 degrees (with a warning) and refuse one "
                        "whose orientation cannot be told; upright: take every page as it is; rotated: turn every "
                        "page by 180 degrees")
    args = p.parse_args(argv)
    from keras_ecg.data.images import digitize as dg
    from keras_ecg.data.images import digitize_io
    from keras_ecg.data.images.io import read_image

    from keras_ecg.deploy.output_folder import writing

    n = 0
    with writing(args.out, "digitize") as o:  # locked, staged; the files move in when every page is done
        for page_path in _pages(args.pages):
            page = read_image(page_path)  # ImageError names the file (one line via the CLI)
            d = dg.digitize_page(page, fs=args.fs, name=str(page_path), orientation=args.orientation)
            name = o.claim(record_name(page_path), page_path)  # a/1.jpg, b/1.jpg: 1 and 1-2
            o.add(name, digitize_io.write_digitized(d, page, o.stage, name, formats=args.format))
            grid = f"grid {d.grid_period_px[0]:.2f}/{d.grid_period_px[1]:.2f} px" if d.grid_period_px else \
                f"no grid, scale from {d.scale_source}"
            print(f"{page_path}: {name}, layout {d.layout}, {grid}, {d.px_per_s:.1f} px/s, {d.px_per_mv:.1f} px/mV")
            n += 1
    print(f"{n} page(s) digitised into {args.out}")
    return 0
