"""benchmarks/accuracy_mitbih.py: seed runs are averaged per EC57 figure, and the tables name the split."""

import importlib.util
import pathlib

import numpy as np
import pytest

from keras_ecg.evaluation import ec57

pytestmark = pytest.mark.backend_free


ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "accuracy_mitbih.py"


def _module():
    spec = importlib.util.spec_from_file_location("accuracy_mitbih", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, 400)
    pred = np.where(rng.random(400) < 0.7, y, rng.integers(0, 5, 400))
    side = ec57.beat_metrics(y, pred)
    return {"seed": seed, "wall_s": 10.0 + seed, "report": {"ec57": {"reference": side, "detected": side}}}


@pytest.mark.skipif(not SCRIPT.exists(), reason="benchmarks/ not in this checkout")
def test_aggregate_means_and_spreads_over_seeds():
    mod = _module()
    runs = [_run(s) for s in range(3)]
    agg = mod.aggregate(runs, "reference")
    accs = [r["report"]["ec57"]["reference"]["accuracy"] for r in runs]
    f1s = [r["report"]["ec57"]["reference"]["per_class"]["S"]["f1"] for r in runs]
    assert agg["accuracy"] == pytest.approx(np.mean(accs)) and agg["accuracy_std"] == pytest.approx(np.std(accs))
    assert agg["f1"]["S"] == pytest.approx(np.mean(f1s)) and set(agg["f1"]) == {"N", "S", "V", "F"}
    res = {"split": "inter_patient DS1/DS2", "command": "x", "seeds": [0, 1, 2], "backend": "jax", "cpu": "c",
           "validation_records": ["220"], "reference": agg, "detected": mod.aggregate(runs, "detected"),
           "wall_s_mean": 11.0, "wall_s_max": 12.0, "targets_met": {"accuracy >= 0.94": False}}
    md = mod.markdown(res)
    assert "inter_patient DS1/DS2" in md and f"{np.mean(accs):.3f}" in md and "NOT met" in md


CV_SCRIPT = ROOT / "benchmarks" / "cv_mitbih.py"


@pytest.mark.skipif(not CV_SCRIPT.exists(), reason="benchmarks/ not in this checkout")
def test_cv_pools_the_counts_of_both_folds():
    """cv_mitbih.pool: F1 and accuracy of the two held-out folds together, not the mean of the folds."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("cv_mitbih", CV_SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rng = np.random.default_rng(0)
    ys = [rng.integers(0, 4, 300), rng.integers(0, 4, 100)]
    ps = [np.where(rng.random(300) < 0.9, ys[0], 1), np.where(rng.random(100) < 0.5, ys[1], 2)]
    pooled = mod.pool([ec57.beat_metrics(y, p) for y, p in zip(ys, ps)])
    whole = ec57.beat_metrics(np.concatenate(ys), np.concatenate(ps))
    assert pooled["accuracy"] == pytest.approx(whole["accuracy"]) and pooled["n"] == 400
    for c in "NSVF":
        assert pooled["f1"][c] == pytest.approx(whole["f1"][c])
    assert pooled["macro_f1"] == pytest.approx(whole["macro_f1"])
    row = {"name": "v", "seed": 0, "reference": pooled, "detected": pooled}
    md = mod.markdown({"backend": "jax", "cpu": "c", "rows": [row, {**row, "seed": 1}]})
    assert "| v | 0,1 |" in md and f"{whole['accuracy']:.3f} ± 0.000" in md
