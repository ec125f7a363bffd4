"""Time building MIT-BIH beats from raw records, then the cached reload.

    python benchmarks/data_cache.py [MITDB_DIR] [--workers N]   # default $KERAS_ECG_DATA/mitdb

Uses a fresh temporary cache folder, so the first build really reads and
windows all records. Writes benchmarks/results/data_cache.json.
"""

import argparse
import json
import os
import pathlib
import platform
import tempfile
import time

from keras_ecg.data import mitbih


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", nargs="?", default=None)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    path = pathlib.Path(args.path or pathlib.Path(os.environ.get("KERAS_ECG_DATA", "../shared/data")) / "mitdb")
    runs = {}
    with tempfile.TemporaryDirectory(prefix="keras_ecg_bench_") as cache:
        for label, kw in [("first_build", {}), ("cached_reload", {}), ("cached_reload_rr", {"rr_features": True})]:
            t0 = time.perf_counter()
            ds = mitbih.load_beats(path, cache_dir=cache, workers=args.workers, **kw)
            runs[label] = round(time.perf_counter() - t0, 3)
        size = sum(f.stat().st_size for f in pathlib.Path(cache).rglob("*.npz"))
    result = {
        "dataset": str(path), "records": len(ds.meta["records"]), "beats": len(ds),
        "class_counts": ds.class_counts(), "edge_dropped": ds.meta["edge_dropped"],
        "window": ds.meta["window"], "sampling_rate": ds.meta["sampling_rate"],
        "workers": args.workers, "seconds": runs, "cache_megabytes": round(size / 2**20, 1),
        "targets_seconds": {"first_build": 20, "cached_reload": 1},
        "machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
    }
    out = pathlib.Path(__file__).parent / "results" / "data_cache.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, out)
    print(json.dumps(result["seconds"]), f"{len(ds)} beats")
    return result


if __name__ == "__main__":
    main()
