"""Page layouts of an ECG image folder: which layout each page has, and which pages cannot be read.

Runs keras_ecg.data.images.panels.find_layout on every image of every class folder
(default $KERAS_ECG_DATA/ecg_images) and counts the layouts per class folder; a page
that cannot be read is listed with the reason.

    python benchmarks/image_layouts.py [ECG_IMAGES_DIR]

Writes benchmarks/results/image_layouts.json.
"""

import os
import pathlib
import sys
import time

from keras_ecg import _atomic
from keras_ecg.data.images import folder, panels, read_image
from keras_ecg.data.images.io import is_image_file

OUT = pathlib.Path(__file__).resolve().parent / "results" / "image_layouts.json"


def main(path=None):
    root = pathlib.Path(path or pathlib.Path(os.environ.get("KERAS_ECG_DATA", "../shared/data")) / "ecg_images")
    t0 = time.perf_counter()
    per_folder, totals, failed, gridless = {}, {}, [], 0
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        counts = {}
        for f in sorted((f for f in sub.iterdir() if f.is_file() and is_image_file(f)),
                        key=lambda p: folder.natural_key(p.name)):
            try:
                layout = panels.find_layout(read_image(f))
            except panels.LayoutError as e:
                failed.append({"file": f"{sub.name}/{f.name}", "reason": str(e)})
                continue
            counts[layout.kind] = counts.get(layout.kind, 0) + 1
            totals[layout.kind] = totals.get(layout.kind, 0) + 1
            gridless += not layout.gridded
        per_folder[sub.name] = counts
    n = sum(totals.values()) + len(failed)
    result = {"source": str(root), "pages": n, "read": sum(totals.values()), "layouts": totals,
              "without_grid": gridless, "per_folder": per_folder, "not_read": failed,
              "seconds": round(time.perf_counter() - t0, 1)}
    _atomic.write_json(OUT, result)
    print(f"{result['read']} of {n} pages read: {totals} ({gridless} without grid); not read: {len(failed)}")
    for f in failed:
        print(f"  {f['file']}: {f['reason']}")
    print(f"written {OUT}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
