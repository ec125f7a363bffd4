"""The README's table of headline figures, generated from ``benchmarks/results/`` (never typed by hand).

``python -m docsgen.readme`` rewrites the table between the ``<!-- headline -->`` markers of README.md;
``tests/test_docs_examples.py`` checks that the README holds what this module generates, so a new results
file that changes a figure fails the suite until the README is regenerated.
"""

from __future__ import annotations

import sys

from docsgen import results

START, END = "<!-- headline -->\n", "<!-- /headline -->"


def headline_table() -> str:
    m = results.load_json("accuracy_mitbih.json")
    ref, det = m["reference"], m["detected"]
    r = results.load_json("rhythm_mitbih.json")["ds2"]["rhythm"]["af_records"]
    im = results.load_json("accuracy_images.json")
    five, risk = im["five_class"], im["risk"]
    ann = next(x for x in results.load_json("annotate_cpu-2core.json") if "keras/jax" in x["annotate_s"])
    long = results.load_json("long_record_cpu-2core.json")
    ls = long["runs"][0]["summary"]
    st = results.load_json("stream_latency.json")
    one = next(lv for lv in st["levels"] if lv["streams"] == 1)
    rows = [
        ["Heartbeats, MIT-BIH DS1 → DS2 (patients never seen), " f"{len(m['seeds'])} seeds",
         f"accuracy {ref['accuracy']:.3f} ± {ref['accuracy_std']:.3f} on reference beats, "
         f"{det['accuracy']:.3f} on detected beats; F1 S {ref['f1']['S']:.2f}, F1 V {ref['f1']['V']:.2f}",
         "[Heartbeats](docs/guide/heartbeats.md)"],
        ["Atrial fibrillation, DS2 records with AF, detected R peaks",
         f"episode Se {r['episode_se']:.2f} / +P {r['episode_ppv']:.2f}; duration Se {r['duration_se']:.2f} / "
         f"+P {r['duration_ppv']:.2f}", "[Rhythm](docs/guide/rhythm.md)"],
        ["Page images, 5 classes, grouped 5-fold CV by content hash",
         f"macro-F1 {five['macro_f1']:.3f}, accuracy {five['accuracy']:.3f} ({five['model']})",
         "[Images](docs/guide/images.md)"],
        ["Page images, normal vs risky", f"ROC-AUC {risk['roc_auc']:.3f}", "[Images](docs/guide/images.md)"],
        [f"Speed: annotate a 30-min record ({ann['annotate_beats']:,} beats), {ann['cpu']}, {ann['cpus']} cores",
         f"{results._median(ann['annotate_s']['keras/jax']):.2f} s (Keras on JAX)",
         "[Whole-record annotation](docs/guide/annotate.md)"],
        [f"Speed: annotate a 24-hour record with its rhythm, {long['machine']['cores']} cores",
         f"{ls['wall_s']['median']:.1f} s, peak {ls['peak_rss_mb']['median']:.0f} MB",
         "[Speed](docs/evaluation/speed.md)"],
        [f"Real time: per-beat latency of one stream at {st['speed']:g}x real speed ({st['record']}), "
         f"{st['cpu']}, {st['cores']} cores",
         f"p50 {one['server_ms']['p50']:.1f} ms, p99 {one['server_ms']['p99']:.1f} ms "
         f"(target {st['target_p99_ms']:.0f} ms)", "[Serving](docs/guide/serving.md#real-time-streaming)"],
    ]
    lines = ["| what | figure | details |", "|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def readme_block(text: str) -> str:
    """What the README holds between the markers."""
    if START not in text or END not in text:
        raise results.ResultsError("README.md lacks the <!-- headline --> markers")
    return text[text.index(START) + len(START):text.index(END)]


def update(path) -> None:
    from keras_ecg import _atomic

    text = path.read_text()
    readme_block(text)
    i, j = text.index(START) + len(START), text.index(END)
    _atomic.write_text(path, text[:i] + headline_table() + text[j:])


if __name__ == "__main__":
    update(results.ROOT / "README.md")
    sys.exit(0)
