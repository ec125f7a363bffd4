"""Page orientation: how often an upright page is turned or refused, and how often a page turned by 180 degrees
is caught, refused or missed (digitised upside down).

Every image of every class folder (default $KERAS_ECG_DATA/ecg_images) is assessed as it is and turned by 180
degrees with keras_ecg.data.images.orientation.assess; the decisions of the rule before (the trace cue plus 0.3
x the header cue, turned at a score <= -0.15, never refused) and after (the cues of
keras_ecg.data.images.orientation, with refusal) are counted per half of the pages: split by the sha256 of the
file's bytes (even / odd), the constants having been chosen on the even half only. Synthetic pages rendered by
keras_ecg.data.images.synthetic_pages (every layout and look) are counted the same way.

The cues of each real page are cached by the file's sha256 (the format-features cache,
keras_ecg.data.images.format_features.cached_rows, under $KERAS_ECG_CACHE) so a rerun only decides; the time per
page is measured afresh on a fixed sample of pages each run.

    flock /tmp/keras_ecg_cpu.lock python benchmarks/image_orientation.py [ECG_IMAGES_DIR] [--synthetic 4] [--no-cache]

Writes benchmarks/results/image_orientation.json and .md.
"""

import argparse
import os
import pathlib
import platform
import subprocess
import sys
import time

import numpy as np

from keras_ecg import _atomic
from keras_ecg.data.images import folder, format_features, orientation, panels, read_image, synthetic_pages
from keras_ecg.data.images.dedup import sha256_file
from keras_ecg.data.images.io import is_image_file

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
OLD_THRESHOLD = -0.15  # the rule before: turned at or below, never refused
COLUMNS = ["trace", "text", "up", "down", "trace_r", "text_r", "up_r", "down_r", "old", "old_r"]
CUES_VERSION = 1  # bump when a cue of keras_ecg.data.images.orientation changes
TIMED = 24  # pages timed afresh each run
KINDS = {"3x4+1": dict(layout="3x4+1"), "6x2+1": dict(layout="6x2+1"), "6x2": dict(layout="6x2"),
         "6x2+1 no grid": dict(layout="6x2+1", grid=False), "3x4+1 scan": dict(layout="3x4+1", look="scan")}


def _old(img, ink) -> float:
    return orientation._ink_side(ink) + 0.3 * orientation._text_side(img, ink)


def cues(page) -> list:
    """The row of :data:`COLUMNS` of one page: the cues measured on it and on it turned, and the old score."""
    out = []
    for a in (page, np.ascontiguousarray(page[::-1, ::-1])):
        ink = panels.darkness(a) > 0.5
        out.append([orientation.trace_cue(a, ink), orientation.text_cue(a, ink), *orientation.pulse_cue(a),
                    _old(a, ink)])
    (t, x, u, d, o), (tr, xr, ur, dr, orr) = out
    return [t, x, u, d, tr, xr, ur, dr, o, orr]


def _decisions(rows):
    """Counts of the rules before and after on the pages (rows of :data:`COLUMNS`) and their turned copies."""
    after = {"upright_turned": 0, "upright_refused": 0, "upright_kept": 0,
             "rotated_caught": 0, "rotated_refused": 0, "rotated_missed": 0}
    before = {"upright_turned": 0, "rotated_caught": 0, "rotated_missed": 0}
    for r in rows:
        t, x, u, d, tr, xr, ur, dr, o, orr = r
        up = orientation.decide(t, x, int(u), int(d)).decision
        rot = orientation.decide(tr, xr, int(ur), int(dr)).decision
        after[{"upright": "upright_kept", "rotated": "upright_turned", "ambiguous": "upright_refused"}[up]] += 1
        after[{"rotated": "rotated_caught", "ambiguous": "rotated_refused", "upright": "rotated_missed"}[rot]] += 1
        before["upright_turned"] += o <= OLD_THRESHOLD
        before["rotated_caught" if orr <= OLD_THRESHOLD else "rotated_missed"] += 1
    n = len(rows)
    after["pages"] = before["pages"] = n
    after["rotated_caught_or_refused_pct"] = round(100.0 * (n - after["rotated_missed"]) / max(n, 1), 2)
    before["rotated_caught_pct"] = round(100.0 * before["rotated_caught"] / max(n, 1), 2)
    return {"before": {k: int(v) if not isinstance(v, float) else v for k, v in before.items()}, "after": after}


def real_pages(root, use_cache=True, log=print):
    files = [f.relative_to(root) for sub in sorted(p for p in root.iterdir() if p.is_dir())
             for f in sorted((f for f in sub.iterdir() if f.is_file() and is_image_file(f)),
                             key=lambda p: folder.natural_key(p.name))]
    rows = format_features.cached_rows(root, files, f"orientation-{CUES_VERSION}",
                                       lambda i, path: cues(read_image(path)), len(COLUMNS), cache=use_cache, log=log)
    halves = np.array([int(sha256_file(root / f), 16) % 2 for f in files])
    return files, rows, halves


def timing(root, files):
    """Seconds per page of :func:`orientation.assess` (decoding not counted) on :data:`TIMED` pages spread over
    the folders, measured afresh."""
    pick = files[:: max(1, len(files) // TIMED)][:TIMED]
    secs = []
    for f in pick:
        page = read_image(root / f)
        t0 = time.perf_counter()
        orientation.assess(page)
        secs.append(time.perf_counter() - t0)
    return {"pages": len(pick), "mean_s": round(float(np.mean(secs)), 4), "max_s": round(float(np.max(secs)), 4)}


def synthetic(n):
    out = {}
    for kind, kw in KINDS.items():
        rows = [cues(synthetic_pages.render_page(synthetic_pages.CLASSES[i % 5], seed=900 + i, **kw))
                for i in range(n)]
        out[kind] = _decisions(rows)
    return out


def _machine():
    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in subprocess.run(["lscpu"], capture_output=True, text=True)
                    .stdout.splitlines() if ln.startswith("Model name")), "")
    except OSError:
        pass
    return {"cpu": cpu or platform.processor(), "load_1min": round(os.getloadavg()[0], 2),
            "python": sys.version.split()[0]}


def markdown(res) -> str:
    lines = ["# Page orientation", "",
             f"Pages of `{res['source']}` ({res['pages']}) as they are and turned by 180 degrees; split by the sha256 "
             "of each file (the constants were chosen on the even half). *Before*: trace cue + 0.3 x header cue, "
             "turned at <= -0.15, never refused. *After*: `keras_ecg.data.images.orientation` (calibration pulses, "
             f"trace and header cues; margin {res['constants']['MARGIN']}, pulse weight "
             f"{res['constants']['PULSE_WEIGHT']}), ambiguous pages refused.", "",
             "| pages | n | before: upright turned | before: rotated caught | after: upright turned | "
             "after: upright refused | after: rotated caught | after: rotated refused | after: rotated missed |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in [*res["real"].items(), *((f"synthetic {k}", v) for k, v in res["synthetic"].items())]:
        b, a = r["before"], r["after"]
        lines.append(f"| {name} | {a['pages']} | {b['upright_turned']} | {b['rotated_caught']} "
                     f"({b['rotated_caught_pct']} %) | {a['upright_turned']} | {a['upright_refused']} | "
                     f"{a['rotated_caught']} | {a['rotated_refused']} | {a['rotated_missed']} |")
    t = res["time_per_page"]
    lines += ["", f"Time per page (assess, decoding not counted): mean {t['mean_s']} s, max {t['max_s']} s over "
              f"{t['pages']} pages; {res['machine']['cpu']}, load {res['machine']['load_1min']}.", ""]
    if res["refused_or_missed"]:
        lines += ["Real pages refused or missed (upright score; the turned copy scores the negative):", ""]
        lines += [f"- `{f['file']}`: {f['upright']} / turned: {f['rotated']} (score {f['score']:+.2f}, pulses "
                  f"{f['pulses']})" for f in res["refused_or_missed"]]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", nargs="?", default=None, help="folder of class folders of pages")
    p.add_argument("--synthetic", type=int, default=4, help="synthetic pages per page kind (default 4)")
    p.add_argument("--no-cache", action="store_true", help="measure every page's cues again")
    p.add_argument("--out", default=str(RESULTS / "image_orientation"), help="results path without extension")
    args = p.parse_args(argv)
    root = pathlib.Path(args.root or pathlib.Path(os.environ.get("KERAS_ECG_DATA", "../shared/data")) / "ecg_images").resolve()
    t0 = time.perf_counter()
    files, rows, halves = real_pages(root, use_cache=not args.no_cache)
    real = {"even half (chosen on)": _decisions(rows[halves == 0]), "odd half (held out)": _decisions(rows[halves == 1]),
            "all": _decisions(rows)}
    odd = []
    for f, r in zip(files, rows):
        up = orientation.decide(r[0], r[1], int(r[2]), int(r[3]))
        rot = orientation.decide(r[4], r[5], int(r[6]), int(r[7]))
        if up.decision != "upright" or rot.decision != "rotated":
            odd.append({"file": str(f), "upright": up.decision, "rotated": rot.decision, "score": round(up.score, 3),
                        "pulses": f"{up.pulses_up} up / {up.pulses_down} down", "why": up.why or rot.why})
    res = {"source": str(root), "pages": len(files),
           "constants": {"MARGIN": orientation.MARGIN, "PULSE_WEIGHT": orientation.PULSE_WEIGHT,
                         "TEXT_WEIGHT": orientation.TEXT_WEIGHT, "old_threshold": OLD_THRESHOLD},
           "real": real, "synthetic": synthetic(args.synthetic), "refused_or_missed": odd,
           "time_per_page": timing(root, files), "seconds": round(time.perf_counter() - t0, 1), "machine": _machine()}
    _atomic.write_json(args.out + ".json", res)
    _atomic.write_text(args.out + ".md", markdown(res))
    print(markdown(res))
    print(f"written {args.out}.json and .md")


if __name__ == "__main__":
    main()
