"""A 12-lead 1-D model on signals digitised from ECG pages (preprocess ``digitized``)."""

import json
import os

import numpy as np
import pytest

from keras_ecg.data import images
from keras_ecg.data.images import preprocess, synthetic_pages


@pytest.fixture(scope="module", autouse=True)
def _synthetic_pages_made_once():
    """The recipe runs below train on the same synthetic pages (same classes, count, seed, preprocessing): each
    distinct set is rendered and digitised once for the module (about 0.7 s a page), every run given its own copy."""
    import copy

    made, real = {}, synthetic_pages.pages

    def pages(*args, **kwargs):
        key = repr((args, sorted(kwargs.items())))
        if key not in made:
            made[key] = real(*args, **kwargs)
        return copy.deepcopy(made[key])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(synthetic_pages, "pages", pages)
        yield


@pytest.mark.backend_free
def test_digitized_dataset_is_fixed_length_12_lead_and_cached(tmp_path):
    from PIL import Image

    root = tmp_path / "pages"
    for cls, layout in (("normal", "3x4+1"), ("mi", "6x2"), ("covid19", "6x2+1")):
        d = root / cls
        d.mkdir(parents=True)
        for i in range(2):
            page = synthetic_pages.render_page(cls, seed=i, layout=layout, grid=layout != "6x2+1", look="cardiac")
            Image.fromarray(page).save(d / f"{cls}_{i}.png")
    Image.fromarray(np.full((500, 700, 3), 255, np.uint8)).save(root / "mi" / "blank.png")
    with pytest.warns(UserWarning, match=r"1 page\(s\) without a readable layout left out \(digitized\)"):
        ds = images.load_folder(root, class_map={"normal": "normal", "mi": "mi", "covid19": "covid19"},
                                preprocess="digitized", cache_dir=tmp_path / "cache", on_layout_error="skip")
    n = int(preprocess.DIGITIZED_SECONDS * preprocess.DIGITIZED_FS)
    assert ds.x.shape == (6, n, 12) and ds.x.dtype == np.float32 and np.isfinite(ds.x).all()
    assert [f["file"] for f in ds.meta["layout_failures"]] == ["mi/blank.png"]
    assert sorted(ds.meta["layouts"]) == ["3x4+1", "3x4+1", "6x2", "6x2", "6x2+1", "6x2+1"]
    assert ds.meta["normalisation"] == "mV"
    # millivolt-scale signals: QRS complexes of about 1 mV in the limb leads
    assert 0.4 < np.percentile(np.ptp(ds.x[:, :, 1], axis=1), 50) < 4.0
    with pytest.warns(UserWarning, match="blank.png"):  # named again, from the cache
        again = images.load_folder(root, class_map={"normal": "normal", "mi": "mi", "covid19": "covid19"},
                                   preprocess="digitized", cache_dir=tmp_path / "cache")
    assert again.meta["decoded"] == 0 and np.array_equal(again.x, ds.x)  # from the cache: no page read again


def test_image_recipe_trains_cnn1d_on_digitized_leads(tmp_path):
    from keras_ecg.training import runner

    cfg = {"name": "test_digitized", "task": "images", "model": "cnn1d", "classes": ["normal", "covid19"],
           "synthetic_n": 6, "batch_size": 8}
    out = tmp_path / "run"
    tiny = json.dumps({"filters": [8], "dense_units": [8], "dropout": 0.0})
    reports = runner.main(cfg, ["--backend", os.environ.get("KERAS_BACKEND", "jax"), "--out", str(out),
                                "--data", "synthetic", "--epochs", "1", "--model-args", tiny, "--export", "keras",
                                "--verbose", "0", "--no-plots", "--calibration", "none"])
    rep = reports["cnn1d"]
    assert rep["extra"]["input_kind"] == "digitized"
    assert rep["extra"]["input_shape"] == [int(preprocess.DIGITIZED_SECONDS * preprocess.DIGITIZED_FS), 12]
    card = json.loads(next(out.rglob("model_card.json")).read_text())
    assert card["input_kind"] == "digitized" and card["preprocessing"]["preprocess"] == "digitized"
    # predict digitises a page file the same way
    from PIL import Image

    from keras_ecg.deploy import predict

    page = tmp_path / "page.png"
    Image.fromarray(synthetic_pages.render_page("covid19", seed=99)).save(page)
    model_path = next(out.rglob("model.keras"))
    results, _ = predict.predict(str(model_path), [str(page)])
    assert results[0]["class"] in ("normal", "covid19")


def test_cv_scores_a_1d_model_on_digitized_leads_under_the_same_folds(tmp_path):
    """--cv with cnn1d in an images recipe: the 1-D model reads the digitised leads, under the fold table
    the page models and the format baseline use."""
    from keras_ecg.training import runner

    cfg = {"name": "cv_digitized", "task": "images", "model": "cnn1d", "classes": ["normal", "covid19"],
           "synthetic_n": 6, "batch_size": 8}
    out = tmp_path / "run"
    tiny = json.dumps({"filters": [8], "dense_units": [8], "dropout": 0.0})
    res = runner.main(cfg, ["--backend", os.environ.get("KERAS_BACKEND", "jax"), "--out", str(out), "--data",
                            "synthetic", "--epochs", "1", "--model-args", tiny, "--cv", "2", "--verbose", "0",
                            "--no-plots", "--calibration", "none"])
    rep = json.loads((out / "report.json").read_text())
    assert rep["cv"] == 2 and "cnn1d" in rep["models"] and "cnn1d" in res
    row = rep["models"]["cnn1d"]
    assert len(row["folds"]) == 2 and sum(f["num_test"] for f in row["folds"]) == row["num_items"] == 12
    fold = json.loads((out / "cnn1d" / "fold1" / "report.json").read_text())
    assert fold["extra"]["input_kind"] == "digitized"


def test_cv_pools_out_of_fold_predictions_and_scores_the_models_combined(tmp_path):
    """Two models under one fold table: each leaves its out-of-fold probabilities (every page once,
    from the fold that held it out), and the mean of the two is scored as its own row."""
    import numpy as np

    from keras_ecg.training import predictions, runner

    cfg = {"name": "cv_combined", "task": "images", "model": "cnn1d", "classes": ["normal", "covid19"],
           "synthetic_n": 6, "batch_size": 8, "image_size": 32}
    out = tmp_path / "run"
    tiny = json.dumps({"filters": [8], "dense_units": [8], "dropout": 0.0})
    runner.main(cfg, ["--backend", os.environ.get("KERAS_BACKEND", "jax"), "--out", str(out), "--data",
                      "synthetic", "--epochs", "1", "--model-args", tiny, "--cv", "2", "--verbose", "0",
                      "--no-plots", "--calibration", "none", "--model", "cnn1d,cnn2d"])
    rep = json.loads((out / "report.json").read_text())
    row = rep["models"]["mean of cnn1d + cnn2d"]
    assert row["members"] == ["cnn1d", "cnn2d"] and row["num_items"] == 12 and len(row["folds"]) == 2
    assert row["deployable"]  # two Keras models: `keras-ecg predict` can combine them
    oof = {m: predictions.read(out / m / predictions.OOF) for m in ("cnn1d", "cnn2d")}
    for m, t in oof.items():  # every page held out exactly once, in the fold the table gave it
        assert len(t["keys"]) == len(set(t["keys"])) == 12 and sorted(set(t["fold"])) == [0, 1]
        assert np.allclose(t["probs"].sum(1), 1.0, atol=1e-4)
    order = np.argsort(oof["cnn2d"]["keys"])
    a = oof["cnn1d"]["probs"][np.argsort(oof["cnn1d"]["keys"])]
    b, y = oof["cnn2d"]["probs"][order], oof["cnn2d"]["y"][order]
    want = float(np.mean((a + b).argmax(1) == y))
    assert abs(row["pooled"]["accuracy"] - want) < 1e-6
    assert json.loads((out / "ensemble" / "fold1" / "report.json").read_text())["extra"]["model"] == \
        "mean of cnn1d + cnn2d"


def test_median_beats_recover_the_beat_shape_of_each_lead():
    """A lead repeating one known beat: its median beat is that beat around the largest deflection, whatever
    its polarity; a flat lead gives zeros."""
    import numpy as np

    from keras_ecg.data.images import beat_template

    fs, n = 100.0, 250
    t = np.arange(n)
    beat = lambda c, a: a * np.exp(-0.5 * ((t - c) / 1.5) ** 2) - 0.3 * a * np.exp(-0.5 * ((t - c - 25) / 4) ** 2)
    x = np.zeros((n, 3))
    for c in (40, 120, 200):
        x[:, 0] += beat(c, 1.0)
        x[:, 1] += beat(c, -0.8)  # an inverted lead (aVR)
    tb = beat_template.median_beats(x, fs)
    pre = int(beat_template.PRE_S * fs)
    assert tb.shape == (3, pre + int(beat_template.POST_S * fs))
    assert tb[0].argmax() == pre and abs(tb[0, pre] - 1.0) < 0.05
    assert tb[1].argmin() == pre and abs(tb[1, pre] + 0.8) < 0.05
    assert tb[0, pre + 25] < -0.2 and not tb[2].any()
    assert beat_template.features(x, fs).shape == (3 * tb.shape[1] // beat_template.STEP,)


def test_template_baseline_is_a_cv_row_and_joins_the_combination(tmp_path):
    from keras_ecg.training import runner

    cfg = {"name": "cv_template", "task": "images", "model": "cnn2d", "classes": ["normal", "covid19"], "binary": True,
           "synthetic_n": 6, "batch_size": 8, "image_size": 32}
    common = ["--backend", os.environ.get("KERAS_BACKEND", "jax"), "--data", "synthetic", "--epochs", "1",
              "--verbose", "0", "--no-plots", "--calibration", "none", "--model-args", json.dumps({"filters": [8]})]
    with pytest.raises(SystemExit, match="--cv K \\(or joins a --bundle\\) only"):
        runner.main(cfg, [*common, "--out", str(tmp_path / "single"), "--model", "template_baseline"])
    out = tmp_path / "run"
    runner.main(cfg, [*common, "--out", str(out), "--cv", "2", "--model", "cnn2d,template_baseline,measures_baseline"])
    rows = json.loads((out / "report.json").read_text())["models"]
    tb = rows["template_baseline"]
    assert tb["num_items"] == 12 and len(tb["folds"]) == 2 and "median beat" in tb["input"]
    both = rows["mean of cnn2d + template_baseline"]  # a sigmoid risk and two class columns, combined as risks
    assert both["members"] == ["cnn2d", "template_baseline"] and both["roc_auc"] is not None
    assert not both["deployable"]
    assert sorted(r for r in rows if r.startswith("mean of")) == [  # all three; the deep one with each classical
        "mean of cnn2d + measures_baseline", "mean of cnn2d + template_baseline",
        "mean of cnn2d + template_baseline + measures_baseline"]
    assert set(both["recall"]) == {"normal", "risky"} and both["num_items"] == 12
    mb = rows["measures_baseline"]  # the median beats and the measurements: more features, the same folds
    assert mb["num_items"] == 12 and "measurements" in mb["input"]


def test_predict_with_several_models_gives_the_mean_of_their_probabilities(tmp_path, capsys):
    """`keras-ecg predict PAGE_MODEL --with LEADS_MODEL page`: each model reads the page through its own card
    (the page; the digitised leads), and the prediction is the mean of their probabilities."""
    import shutil

    from PIL import Image

    from keras_ecg import cli
    from keras_ecg.deploy import predict
    from keras_ecg.training import runner

    backend = os.environ.get("KERAS_BACKEND", "jax")
    cfg = {"name": "combined", "task": "images", "model": "cnn1d", "classes": ["normal", "covid19", "mi"],
           "synthetic_n": 6, "batch_size": 8, "image_size": 32}
    out = tmp_path / "run"
    runner.main(cfg, ["--backend", backend, "--out", str(out), "--data", "synthetic", "--epochs", "1",
                      "--model", "cnn1d,cnn2d", "--model-args", json.dumps({"filters": [8], "dropout": 0.0}),
                      "--export", "keras", "--verbose", "0", "--no-plots", "--calibration", "none"])
    a, b = (next((out / m).rglob("model.keras")) for m in ("cnn2d", "cnn1d"))
    pages = tmp_path / "pages"
    pages.mkdir()
    for i, kind in enumerate(("mi", "covid19")):
        Image.fromarray(synthetic_pages.render_page(kind, seed=50 + i)).save(pages / f"p{i}.png")
    capsys.readouterr()  # the training's log
    cli.main(["predict", str(a), "--with", str(b), str(pages), "--json", "--backend", backend])
    got = json.loads(capsys.readouterr().out)
    assert got["models"] == [str(a), str(b)] and len(got["results"]) == 2
    alone = [predict.predict(str(m), [str(pages)])[0] for m in (a, b)]
    for r, ra, rb in zip(got["results"], *alone):
        for c in cfg["classes"]:
            assert abs(r["probabilities"][c] - (ra["probabilities"][c] + rb["probabilities"][c]) / 2) < 1e-5
        assert r["members"] == {str(a): ra["class"], str(b): rb["class"]}
    other = tmp_path / "other"  # a model whose classes differ cannot join
    shutil.copytree(b.parent, other)
    card_path = other / "model_card.json"
    card = json.loads(card_path.read_text())
    card["class_names"] = ["normal", "mi", "covid19"]
    card_path.write_text(json.dumps(card))
    with pytest.raises(SystemExit, match="differ from .*cannot combine"):
        cli.main(["predict", str(a), "--with", str(other / "model.keras"), str(pages), "--backend", backend])
