"""Explanations on the suite's backend: synthetic tasks whose answer sits in a known region (a marked area of
an image, a marked lead panel, a marked segment of a beat); tiny models trained for a few epochs; most of the
attribution must land there. Plus integrated gradients' completeness and ``keras-ecg explain`` end to end."""

import json
import os

import numpy as np
import pytest

from keras_ecg import cli, registry
from keras_ecg.deploy import explain as E
from keras_ecg.errors import DataError

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


def _bar(img, r, c, horizontal, size=6):
    if horizontal:
        img[r, c:c + size] += 2.0
    else:
        img[r:r + size, c] += 2.0


def _fit(model, x, y, epochs):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    acc = float((model.predict(x, verbose=0).argmax(1) == y).mean())
    assert acc > 0.9, f"the tiny model did not learn the synthetic task (accuracy {acc:.2f})"
    return model


def _image_task(n, seed):
    """24x24 images of noise and small blobs; the class is the orientation of a bar in the top-left quadrant."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.3, size=(n, 24, 24, 1)).astype(np.float32)
    y = rng.integers(0, 2, n)
    for i in range(n):
        _bar(x[i, ..., 0], 3 + rng.integers(0, 3), 3 + rng.integers(0, 3), bool(y[i]))
        for _ in range(3):  # uninformative blobs outside the quadrant
            r, c = rng.integers(12, 22, 2)
            x[i, r:r + 2, c:c + 2, 0] += 2.0 * rng.choice([-1, 1])
    return x, y


def _beat_task(n, seed):
    """96-sample beats of noise and baseline wander; the class is the sign of a narrow bump at samples 44-52."""
    rng = np.random.default_rng(seed)
    t = np.arange(96)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.2, size=(n, 96)) + np.sin(t[None] / 15 + rng.uniform(0, 6, (n, 1))) * rng.uniform(0, .3, (n, 1))
    x += np.where(y == 1, 1.0, -1.0)[:, None] * 2.0 * np.exp(-0.5 * ((t[None] - 48) / 2.0) ** 2)
    return x[..., None].astype(np.float32), y


def _panel_task(n, seed):
    """4 panels of 12x12; every panel holds a bar; the class is the orientation of the bar in panel 3 only."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.3, size=(n, 4, 12, 12, 1)).astype(np.float32)
    y = rng.integers(0, 2, n)
    for i in range(n):
        for p in range(4):
            horizontal = bool(y[i]) if p == 2 else bool(rng.integers(0, 2))
            _bar(x[i, p, ..., 0], 3 + rng.integers(0, 3), 3 + rng.integers(0, 3), horizontal)
    return x, y


def _share(attr, mask):
    a = np.abs(attr).reshape(len(attr), -1)
    return (a[:, mask.ravel()].sum(1) / a.sum(1)).mean()


@pytest.fixture(scope="module")
def beat_model():
    import keras

    keras.utils.set_random_seed(0)
    x, y = _beat_task(600, 0)
    return _fit(registry.build("cnn1d", (96, 1), 2, filters=(8, 16), dense_units=(16,), dropout=0.0), x, y, 8)


def test_grad_cam_lands_on_the_marked_area_of_an_image():
    import keras

    keras.utils.set_random_seed(0)
    x, y = _image_task(600, 0)
    model = _fit(registry.build("cnn2d", (24, 24, 1), 2, filters=(8, 16), dense_units=(16,), dropout=0.0), x, y, 8)
    xt, yt = _image_task(40, 1)
    cam = E.grad_cam(model, [xt], yt)
    assert cam.shape == (40, 24, 24) and cam.min() >= 0 and np.isclose(cam.max(), 1.0)
    quadrant = np.zeros((24, 24), bool)
    quadrant[:12, :12] = True  # a quarter of the image
    share = _share(cam, quadrant)
    assert share > 0.6, f"only {share:.2f} of the Grad-CAM mass on the marked quadrant"


def test_grad_cam_picks_the_marked_lead_panel():
    import keras

    keras.utils.set_random_seed(0)
    x, y = _panel_task(800, 0)
    model = registry.build("td_cnn", (4, 12, 12, 1), 2, filters=(8, 16), units=(8,), dense_units=(16,), dropout=0.0)
    _fit(model, x, y, 12)
    xt, yt = _panel_task(30, 1)
    cam = E.grad_cam(model, [xt], yt)
    assert cam.shape == (30, 4, 12, 12)
    mask = np.zeros((4, 12, 12), bool)
    mask[2] = True
    share = _share(cam, mask)
    assert share > 0.6, f"only {share:.2f} of the Grad-CAM mass on the deciding panel"


@pytest.mark.parametrize("method, least", [("ig", 0.7), ("saliency", 0.4)])  # |gradient| alone is more diffuse
def test_beat_attribution_lands_on_the_marked_segment(beat_model, method, least):
    xt, yt = _beat_task(40, 1)
    attr = E.explain(beat_model, [xt], yt, "waveform", method)[1]
    assert attr.shape == xt.shape
    segment = np.zeros((96, 1), bool)
    segment[36:60] = True  # a quarter of the beat, around the bump (0.25 by chance)
    share = _share(attr, segment)
    assert share > least, f"only {share:.2f} of the {method} attribution on the marked segment"


def test_integrated_gradients_are_complete(beat_model):
    """The attributions of an item sum to its class score (logit) minus the baseline's."""
    from keras import ops

    xt, yt = _beat_task(6, 2)
    attr = E.integrated_gradients(beat_model, [xt], yt, steps=128)

    def score(a):
        return ops.convert_to_numpy(E._run(beat_model, E._tensors([a])))[np.arange(6), yt]

    want = score(xt) - score(np.zeros_like(xt))
    assert np.allclose(attr.reshape(6, -1).sum(1), want, rtol=0.05, atol=0.05 * np.abs(want).max())
    # the class score is the logit: softmax(logits) gives the model's probabilities back
    logits = ops.convert_to_numpy(E._run(beat_model, E._tensors([xt])))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert np.allclose(p, beat_model.predict(xt, verbose=0), atol=1e-5)


def test_explain_command_writes_pictures_arrays_and_json(beat_model, tmp_path, capsys):
    from keras_ecg import export

    card = {"class_names": ["down", "up"], "binary": False, "input_kind": "waveform", "model": "cnn1d",
            "model_args": {"filters": [8, 16], "dense_units": [16], "dropout": 0.0},
            "preprocessing": {"fs": 100.0, "before": 48, "after": 48, "leads": ["MLII"]},
            "training_data": {"source": "test beats", "synthetic": True, "split": "none"}}
    xt, yt = _beat_task(5, 3)
    export(beat_model, tmp_path / "m", formats=("keras",), sample_inputs=xt, card=card)
    beats = tmp_path / "beats.csv"
    np.savetxt(beats, xt[..., 0], delimiter=",")
    out = tmp_path / "why"
    assert cli.main(["explain", str(tmp_path / "m" / "model.keras"), str(beats), "--out", str(out), "--backend",
                     BACKEND, "--max", "4"]) == 0
    assert (out / "beats_ig.png").stat().st_size > 5000
    saved = np.load(out / "beats_ig.npz")
    assert saved["attributions"].shape == (4, 96, 1)
    assert np.allclose(saved["attributions"], E.integrated_gradients(beat_model, [xt[:4]], saved["classes"]),
                       atol=1e-4)
    items = json.loads((out / "explanations.json").read_text())["items"]
    assert len(items) == 4 and items[0]["method"] == "ig" and items[0]["picture"] == "beats_ig.png"
    assert [it["class"] for it in items] == [["down", "up"][k] for k in beat_model.predict(xt[:4], verbose=0).argmax(1)]
    for argv, needle in ((["--class", "sideways"], "--class 'sideways': not one of"),
                         (["--method", "gradcam"], "gradcam: for image and panel models")):
        with pytest.raises(SystemExit) as e:
            cli.main(["explain", str(tmp_path / "m"), str(beats), "--out", str(out), "--backend", BACKEND, *argv])
        assert needle in str(e.value) and "\n" not in str(e.value)
    page = tmp_path / "page.png"
    page.write_bytes(b"not a png")
    with pytest.raises(SystemExit, match="page.png: an image, but this model takes waveform input"):
        cli.main(["explain", str(tmp_path / "m"), str(page), "--out", str(out), "--backend", BACKEND])


def test_no_spatial_map_is_a_clear_error():
    model = registry.build("lstm", (32, 1), 2, units=(4,), dense_units=(4,))
    with pytest.raises(DataError, match="no spatial feature map"):
        E.grad_cam(model, [np.zeros((1, 32, 1), np.float32)], [0])
