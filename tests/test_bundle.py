"""Model bundles (``--bundle``, :mod:`keras_ecg.deploy.bundle`): several image models trained, shipped and used as
one model: one folder, one card, one name wherever a model is taken."""

import json
import os
import shutil

import numpy as np
import pytest

from keras_ecg import card as C
from keras_ecg import cli
from keras_ecg.errors import KerasECGError

BACKEND = os.environ.get("KERAS_BACKEND", "jax")
CLASSES = ["normal", "covid19", "mi"]


@pytest.fixture(scope="module")
def bundle_run(tmp_path_factory):
    """A bundle of a page CNN and the classical model on the digitised leads, trained on synthetic pages."""
    from keras_ecg.data.images import synthetic_pages
    from keras_ecg.training import runner

    root = tmp_path_factory.mktemp("bundle")
    cfg = {"name": "bundle_test", "task": "images", "model": "cnn2d", "classes": CLASSES, "synthetic_n": 8,
           "batch_size": 8, "image_size": 32, "model_choices": ["cnn2d", "cnn1d"]}
    runner.main(cfg, ["--backend", BACKEND, "--data", "synthetic", "--epochs", "1", "--verbose", "0", "--no-plots",
                      "--model-args", json.dumps({"filters": [8]}), "--out", str(root / "run"), "--bundle",
                      "--model", "cnn2d,measures_baseline", "--export", "keras,onnx"])
    pages = synthetic_pages.write_folder(root / "pages", n_per_class=1, classes=CLASSES, width=400, height=284)
    return root / "run", pages


def test_bundle_run_writes_one_card_with_its_members(bundle_run):
    run, _ = bundle_run
    card = C.read(run / C.CARD_NAME)
    assert card.model == "bundle" and [m.name for m in card.bundle.members] == ["cnn2d", "measures_baseline"]
    assert [m.kind for m in card.bundle.members] == ["keras", "classical"]
    assert card.bundle.members[1].preprocessing.preprocess == "digitized" and card.bundle.members[1].columns
    assert "validation side" in card.bundle.validation and "content hash" in card.training_data.split
    assert card.calibration is not None and card.calibration.ece_before >= 0  # fitted on the mean's validation
    for f in ("cnn2d/model.keras", "cnn2d/model.onnx", "cnn2d/model_card.json", "measures_baseline/model.skops"):
        assert f in card.files.values() and (run / f).is_file()


def test_predict_is_the_calibrated_mean_of_the_members(bundle_run, capsys):
    """The CLI's answer is the members' mean (each reading the page its own way), calibrated by the bundle's card."""
    from keras_ecg.data.images import preprocess_image
    from keras_ecg.data.images.preprocess import DIGITIZED_FS
    from keras_ecg.deploy import predict as P
    from keras_ecg.evaluation.calibration import calibrated
    from keras_ecg.models import load_model
    from keras_ecg.training import template_baseline as TB

    run, pages = bundle_run
    files = sorted(pages.rglob("*.jpg"))
    assert cli.main(["predict", str(run), *map(str, files), "--json", "--backend", BACKEND]) == 0
    got = json.loads(capsys.readouterr().out)["results"]
    card = C.read(run / C.CARD_NAME)
    page_card = C.read(run / "cnn2d" / C.CARD_NAME)
    cnn = load_model(str(run / "cnn2d" / "model.keras"))
    a = np.asarray(cnn.predict(P.image_batch(files, page_card), verbose=0), np.float64)
    digit = np.stack([preprocess_image(str(f), preprocess="digitized") for f in files])
    gb = TB.load(run / "measures_baseline" / "model.skops")
    b = np.zeros_like(a)
    b[:, card.bundle.members[1].columns] = gb.predict_proba(TB.features(digit, DIGITIZED_FS, "measures_baseline"))
    want, _ = calibrated((a + b) / 2, card.calibration)
    np.testing.assert_allclose([[r["probabilities"][c] for c in CLASSES] for r in got], want, atol=1e-5)
    assert all("evidence" in r and r["measurements"]["layout"] for r in got)  # the measurements behind each call


def test_onnx_members_agree_with_keras_ones(bundle_run):
    from keras_ecg.deploy import bundle, runtime

    run, pages = bundle_run
    files = sorted(pages.rglob("*.jpg"))
    k = runtime.load(str(run), "keras")
    o = runtime.load(str(run), "onnx")
    assert "onnxruntime" in o.runtime and "scikit-learn" in o.runtime and k.runtime.startswith("keras")
    x = bundle.page_inputs(files, k.card)
    assert len(x) == 2 and x[1].shape[0] == len(files)
    np.testing.assert_allclose(o(x), k(x), atol=1e-4)


def test_evaluate_and_explain_take_a_bundle(bundle_run, tmp_path):
    run, pages = bundle_run
    assert cli.main(["evaluate", str(run), str(pages), "--out", str(tmp_path / "ev"), "--backend", BACKEND]) == 0
    rep = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert rep["num_test"] == 3 and rep["accuracy"] is not None
    page = sorted(pages.rglob("*.jpg"))[0]
    assert cli.main(["explain", str(run), str(page), "--out", str(tmp_path / "ex"), "--backend", BACKEND]) == 0
    items = json.loads((tmp_path / "ex" / "explanations.json").read_text())["items"]
    assert items[0]["method"] == "gradcam" and isinstance(items[0]["evidence"], list)
    assert (tmp_path / "ex" / items[0]["picture"]).stat().st_size > 5_000


def test_a_bundle_ships_under_one_pretrained_name(bundle_run, tmp_path, monkeypatch, capsys):
    import keras_ecg
    from keras_ecg.deploy import pretrained as PT

    run, pages = bundle_run
    shutil.copytree(run, tmp_path / "my_pages", ignore=shutil.ignore_patterns("checkpoints", "*.npz"))
    monkeypatch.setenv("KERAS_ECG_PRETRAINED", str(tmp_path))
    assert PT.list_pretrained() == ["my_pages"]
    b = keras_ecg.pretrained("my_pages")
    probs = b.predict_pages(sorted(pages.rglob("*.jpg")))
    assert probs.shape == (3, 3) and np.allclose(probs.sum(axis=1), 1.0)
    assert cli.main(["predict", "pretrained:my_pages", str(pages), "--backend", BACKEND]) == 0
    assert capsys.readouterr().out.count(".jpg: ") == 3
    with pytest.raises(KerasECGError, match="retired; use pretrained:ecg_pages_5class"):
        PT.model_path("ecg_images_panels")


@pytest.mark.backend_free
def test_classical_member_loads_only_trusted_types(tmp_path):
    """The skops file is read without pickle; a file holding anything beyond the trusted tree types is refused."""
    pytest.importorskip("skops")
    from sklearn.preprocessing import FunctionTransformer

    from keras_ecg.training import format_baseline as FB
    from keras_ecg.training import template_baseline as TB

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)).astype(np.float32), np.arange(40) % 2
    good = TB.save(FB.classifier(0, 40).fit(x, y), tmp_path / "good.skops")
    assert TB.load(good).predict_proba(x).shape == (40, 2)
    bad = TB.save(FunctionTransformer(os.system), tmp_path / "bad.skops")  # would run a shell command
    with pytest.raises(KerasECGError, match="does not trust \\(posix.system\\)"):
        TB.load(bad)
    (tmp_path / "junk.skops").write_bytes(b"not a zip")
    with pytest.raises(KerasECGError, match="not a readable skops"):
        TB.load(tmp_path / "junk.skops")
