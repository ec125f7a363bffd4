"""Grouped K-fold cross-validation of the image recipes (``--cv K``), the format-only baseline, and the
format-removing preprocessing (crop / degrid / binary), on rendered synthetic pages."""

import json
import os
import pathlib

import numpy as np
import pytest

from keras_ecg.data.dataset import Dataset
from keras_ecg.data.folds import FoldTable, assign_folds
from keras_ecg.data.images import format_features as ff
from keras_ecg.data.images import preprocess_image, synthetic_pages

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--epochs", "1", "--image-size", "32", "--batch-size", "8", "--model-args", '{"filters": [4, 8]}',
        "--export", "none", "--no-plots", "--verbose", "0"]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_ECG_CACHE", str(tmp_path / "cache"))  # decoded pages and format features


def _dupes_dataset(seed=0):
    """60 items in groups of 1-3 (copies), 3 classes of unequal size."""
    rng = np.random.default_rng(seed)
    groups, y = [], []
    for g in range(30):
        c = 0 if g < 16 else (1 if g < 26 else 2)
        for _ in range(int(rng.integers(1, 4))):
            groups.append(f"g{g}")
            y.append(c)
    y = np.array(y)
    return Dataset(np.arange(len(y))[:, None].astype(np.float32), y, np.array(groups, dtype=object), ["a", "b", "c"])


def test_folds_keep_groups_and_hold_every_item_out_once():
    ds = _dupes_dataset()
    table = FoldTable.from_dataset(ds, 4, seed=1)
    held = np.zeros(len(ds), int)
    for train, test in table.split(ds):
        assert not set(train.groups) & set(test.groups)  # a duplicate group never straddles the sides
        held[test.x[:, 0].astype(int)] += 1
        assert len(train) + len(test) == len(ds)
        assert set(np.unique(test.y)) == {0, 1, 2}  # stratified: every class in every held-out fold
    assert (held == 1).all()
    fold = assign_folds(ds.y, ds.groups, 4, seed=1)
    for g in np.unique(ds.groups):
        assert len(set(fold[ds.groups == g])) == 1
    keyed = FoldTable.from_dataset(ds, 4, seed=1, keys=[f"file{i}" for i in range(len(ds))])
    sub = ds.subset(np.arange(0, len(ds), 2))  # another input of fewer pages gets the same folds by key
    np.testing.assert_array_equal(keyed.of([f"file{i}" for i in range(0, len(ds), 2)]), fold[::2])
    assert sum(len(te) for _, te in keyed.split(sub, keys=[f"file{i}" for i in range(0, len(ds), 2)])) == len(sub)
    with pytest.raises(Exception, match="not in the fold table"):
        keyed.of(["nope"])


def test_validation_side_is_carved_from_the_training_folds(monkeypatch, tmp_path):
    from keras_ecg.config import RunConfig
    from keras_ecg.training import cv, runner

    seen = []

    def fake_run_one(cfg, model_name, out, strategy, cache, callbacks):
        (data, train, val), = cache.values()
        seen.append((set(data.test.groups), set(train.groups), set(val.groups), set(data.train.groups)))
        n = len(data.test)
        return {"accuracy": 1.0, "macro_f1": 1.0, "confusion_matrix": np.diag(np.bincount(data.test.y, minlength=3)),
                "per_class": {}, "num_test": n, "roc_auc_macro": None}

    monkeypatch.setattr(runner, "_run_one", fake_run_one)
    ds = _dupes_dataset(2)
    loaded = cv.Loaded(ds, None, {"preprocess": "page"}, "test data", True, [])
    cfg = RunConfig.for_recipe({"name": "t", "task": "images", "cv": 3, "val_size": 0.25})
    table = FoldTable.from_dataset(ds, 3)
    s = cv.cv_model(cfg, "cnn2d", table, loaded, tmp_path, type("S", (), {"is_chief": True})())
    assert len(seen) == 3 and s["folds_run"] == 3
    all_held = set()
    for test, train, val, train_folds in seen:
        assert val and not val & test and not train & test and not val & train
        assert val <= train_folds and train | val == train_folds
        all_held |= test
    assert all_held == set(ds.groups)


@pytest.mark.backend_free
def test_format_features_hold_no_trace(tmp_path):
    a = synthetic_pages.render_page("normal", seed=3, width=600, height=426)
    b = synthetic_pages.render_page("normal", seed=3, width=600, height=426,
                                    signals=synthetic_pages.leads("mi", seed=9))  # another trace, same format
    scan = synthetic_pages.render_page("normal", seed=3, width=600, height=426, look="scan")
    assert np.abs(a.astype(int) - b.astype(int)).sum() > 1000  # the traces differ
    from PIL import Image

    for name, page in (("a", a), ("b", b), ("scan", scan)):
        Image.fromarray(page).save(tmp_path / f"{name}.png")
    fa, fb, fs = (ff.page_file_features(tmp_path / f"{n}.png") for n in ("a", "b", "scan"))
    assert fa.shape == (len(ff.FEATURES),)
    np.testing.assert_allclose(fa, fb, rtol=0.02, atol=0.01)  # the trace changes no format feature
    assert np.abs(fa - fs).max() > 1.0  # the scanned look does


@pytest.mark.backend_free
@pytest.mark.parametrize("kind,channels", [("crop", 3), ("degrid", 1), ("binary", 1)])
def test_format_removing_preprocess(kind, channels):
    small = synthetic_pages.render_page("mi", seed=1, width=553, height=393)
    big = synthetic_pages.render_page("mi", seed=1, width=1106, height=786)
    xs, xb = preprocess_image(small, kind, image_size=64), preprocess_image(big, kind, image_size=64)
    assert xs.shape == (64, 64, channels) and xs.dtype == np.float32
    assert np.abs(xs - xb).mean() < 0.15  # the same page at twice the resolution looks the same
    if kind == "binary":
        assert set(np.unique(xs)) <= {-1.0, 1.0} and (xs > 0).mean() > 0.01  # ink 1, paper -1
        assert (xs != xb).mean() < 0.08  # a fixed mm scale: (nearly) the same pixels at any resolution


def test_card_records_preprocess_and_predict_reproduces_it(tmp_path):
    from keras_ecg import card as C
    from keras_ecg import export, registry
    from keras_ecg.deploy import predict as P
    from keras_ecg.training import sources

    folder = synthetic_pages.write_folder(tmp_path / "pages", n_per_class=2, classes=["normal", "mi"],
                                          width=400, height=284)
    cfg = {"name": "t", "data": str(folder), "page_preprocess": "binary", "image_size": 32}
    ds, prep, _, _ = sources.image_dataset(cfg, str(folder), "image")
    assert prep["preprocess"] == "binary" and ds.x.shape[1:] == (32, 32, 1)
    model = registry.build("cnn2d", (32, 32, 1), 2, filters=(4, 4), dense_units=(4,))
    card = {"class_names": ["normal", "mi"], "binary": False, "input_kind": "image",
            "preprocessing": C.preprocessing_from("image", prep)}
    export(model, tmp_path / "m", formats=("keras",), card=card)
    page = sorted((folder / "mi").glob("*.jpg"))[0]
    results, read = P.predict(tmp_path / "m" / "model.keras", [page])
    assert read.preprocessing.preprocess == "binary"
    want = np.asarray(model.predict(preprocess_image(page, "binary", image_size=32)[None], verbose=0))[0]
    got = [results[0]["probabilities"][c] for c in ("normal", "mi")]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    i = ds.meta["files"].index("mi/" + page.name)  # and the training data held the same array
    np.testing.assert_allclose(ds.x[i], preprocess_image(page, "binary", image_size=32), atol=1e-6)


def test_cv_end_to_end_on_a_tiny_folder(tmp_path):
    from keras_ecg.training import runner

    folder = synthetic_pages.write_folder(tmp_path / "pages", n_per_class=4, classes=["normal", "mi", "covid19"],
                                          width=400, height=284)
    config = {"name": "cv_test", "task": "images", "model": "cnn2d", "binary": True}
    out = tmp_path / "run"
    res = runner.main(config, ["--data", str(folder), "--cv", "2", "--out", str(out), *TINY])
    rep = json.loads((out / "report.json").read_text())
    assert rep["cv"] == 2 and "grouped 2-fold" in rep["split"] and rep["pages"] == 12
    rows = rep["models"]
    assert set(rows) == {"cnn2d", "format_baseline (cnn2d input)", "format_baseline (page files)"} == set(res)
    for row in rows.values():
        assert row["num_items"] == 12 and len(row["folds"]) == 2
        assert sum(f["num_test"] for f in row["folds"]) == 12
        assert set(row["recall"]) == {"normal", "risky"} and row["roc_auc"] is not None
        assert {"std", "min", "max", "mean"} <= set(row["spread"]["accuracy"])
    for f in (1, 2):
        fold = json.loads((out / "cnn2d" / f"fold{f}" / "report.json").read_text())
        assert fold["split"].endswith(f"(fold {f} of 2)") and fold["extra"]["validation"] == "group_split"
    md = (out / "report.md").read_text()
    assert "grouped 2-fold" in md and "format_baseline (page files)" in md


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                    reason="the benchmark's harness (its results files and tables) does not depend on the backend: "
                           "it runs on tensorflow, where image CV is 4-5x faster; the grouped CV it calls runs on "
                           "every backend in test_cv_end_to_end_on_a_tiny_folder")
def test_benchmark_quick_writes_the_results(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("accuracy_images", ROOT / "benchmarks" / "accuracy_images.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--quick", "--results", str(tmp_path), "--runs", str(tmp_path / "runs"),
                "--backend", os.environ.get("KERAS_BACKEND", "tensorflow")])
    res = json.loads((tmp_path / "accuracy_images.json").read_text())
    assert {"five_class", "four_class", "risk"} <= set(res)
    for task, n in (("five_class", 5), ("four_class", 4), ("risk", 2)):
        r = res[task]
        assert {"accuracy", "macro_f1", "recall", "spread", "folds", "model", "wall_s", "cpu",
                "format_baseline", "format_ablation"} <= set(r)
        assert len(r["recall"]) == n and len(r["folds"]) == 2
        assert {"accuracy", "macro_f1", "recall"} <= set(r["format_baseline"])
        assert set(r["format_ablation"]) == {"page files", "model input: page", "model input: crop",
                                             "model input: degrid", "model input: binary"}
    assert res["risk"]["roc_auc"] is not None
    assert "five_class" in (tmp_path / "accuracy_images.md").read_text()
