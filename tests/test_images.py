"""Image folders -> Datasets: class maps, preprocessing, cache, bad input, augmentation, fit."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from keras_ecg.data import images
from keras_ecg.data.images import panels, synthetic_pages

KHAN = {
    "Normal Person ECG Images (859)": "normal",
    "ECG Images of Patient that have abnormal heart beats (548)": "abnormal_heartbeat",
    "ECG Images of Myocardial Infarction Patients (77)": "mi",
    "ECG Images of Patient that have History of MI (203)": "history_of_mi",
    "ECG Images of COVID-19 Patients (250)": "covid19",
}


def test_khan_folder_names_map_by_keyword():
    for folder, cls in KHAN.items():
        assert images.folder_class(folder) == cls
        # counts in the names do not matter
        assert images.folder_class(folder.replace("(", "(1")) == cls
    assert images.folder_class("Cats") == "Cats"  # unknown folders keep their name
    assert images.folder_class("a_normal_x", {"normal": "N"}) == "N"
    assert images.folder_class("other", {"normal": "N"}) is None  # dropped
    assert images.folder_class("x", lambda name: name.upper()) == "X"


def test_one_list_of_image_suffixes_for_data_auto_load_folder_and_predict(tmp_path):
    # a folder of .webp pages: found by --data auto, loaded, and (one list) accepted by predict
    from keras_ecg.training import sources

    root = tmp_path / "ecg_images"
    for c in ("normal", "mi"):
        (root / c).mkdir(parents=True)
        page = synthetic_pages.render_page(c, seed=3, width=400, height=284)
        Image.fromarray(page).save(root / c / f"{c}.WEBP", "WEBP")
    (root / "normal" / "notes.txt").write_text("not a page")
    assert sources.find_in(tmp_path, "ecg_images") == root
    assert images.is_image_file(root / "mi" / "mi.WEBP") and not images.is_image_file(root / "normal" / "notes.txt")
    assert sources.IMAGE_SUFFIXES is images.IMAGE_SUFFIXES
    ds = images.load_folder(root, image_size=32, cache=False, on_error="skip")
    assert ds.class_names == ["normal", "mi"] and ds.x.shape == (2, 32, 32, 3)
    assert [s["file"] for s in ds.meta["skipped"]] == ["normal/notes.txt"]


def _folder(tmp_path, classes=("normal", "mi", "covid19"), n=2, size=(400, 284), fmt="JPEG"):
    root = tmp_path / "pages"
    folder_of = {v: k for k, v in KHAN.items()}
    for c in classes:
        d = root / folder_of.get(c, c)
        d.mkdir(parents=True)
        for i in range(n):
            page = synthetic_pages.render_page(c, seed=7 * i + len(c), width=size[0], height=size[1])
            ext = ".jpg" if fmt == "JPEG" else ".png"
            Image.fromarray(page).save(d / f"{c} ({i + 1}){ext}", fmt)
    return root


def test_load_folder_page(tmp_path):
    root = _folder(tmp_path)
    ds = images.load_folder(root, image_size=40, cache_dir=tmp_path / "c")
    assert ds.class_names == ["normal", "mi", "covid19"]
    assert ds.x.shape == (6, 40, 40, 3) and ds.x.dtype == np.float32
    assert -1.0 <= ds.x.min() < 0.5 and ds.x.max() == 1.0  # (x/255 - .5)/.5: white paper is 1
    first = sorted((root / "Normal Person ECG Images (859)").iterdir())[0]
    ref = np.asarray(Image.open(first).convert("RGB").resize((40, 40), Image.BILINEAR), np.float32)
    np.testing.assert_allclose(ds.x[0], (ref / 255.0 - 0.5) / 0.5, atol=1e-6)
    assert np.bincount(ds.y).tolist() == [2, 2, 2]
    m = ds.meta
    assert m["source"] == str(root) and m["synthetic"] is False and m["preprocess"] == "page"
    assert m["image_size"] == 40 and m["class_map"]["Normal Person ECG Images (859)"] == "normal"
    assert m["layout_failures"] == [] and m["skipped"] == []
    assert len(set(ds.groups)) == 6
    assert "normal 2" in images.format_report(ds)


def test_classes_subset_and_binary(tmp_path):
    root = _folder(tmp_path)
    four = images.load_folder(root, classes=["normal", "mi"], image_size=24, cache_dir=tmp_path / "c")
    assert four.class_names == ["normal", "mi"] and len(four) == 4
    binary = images.load_folder(root, binary=True, image_size=24, cache_dir=tmp_path / "c")
    assert binary.class_names == ["normal", "risky"]
    assert binary.y.tolist() == [0, 0, 1, 1, 1, 1]
    assert binary.meta["fine_classes"] == ["normal", "mi", "covid19"]
    with pytest.raises(ValueError, match="not found"):
        images.load_folder(root, classes=["normal", "cats"], cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="normal"):
        images.load_folder(root, classes=["mi", "covid19"], binary=True, cache_dir=tmp_path / "c")


@pytest.mark.backend_free
def test_panels_and_grid_removed(tmp_path):
    root = _folder(tmp_path, size=(700, 497))
    ds = images.load_folder(root, preprocess="panels", panel_size=(32, 48), cache_dir=tmp_path / "c")
    assert ds.x.shape == (6, 13, 32, 48, 1) and 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    assert ds.meta["panel_names"][-1] == "rhythm" and ds.meta["panel_size"] == [32, 48]
    gr = images.load_folder(root, preprocess="grid_removed", image_size=64, cache_dir=tmp_path / "c")
    assert gr.x.shape == (6, 64, 64, 1)
    # grid removed: paper is white (1.0) almost everywhere except ink
    assert np.median(gr.x) == pytest.approx(1.0, abs=0.02)


def test_preprocess_image_path_and_array(tmp_path):
    page = synthetic_pages.render_page("mi", seed=4)
    p = tmp_path / "one.png"
    Image.fromarray(page).save(p)
    a = images.preprocess_image(p, "page", image_size=64)
    b = images.preprocess_image(page, "page", image_size=64)
    assert a.shape == (64, 64, 3) and np.allclose(a, b)  # PNG is lossless
    pan = images.preprocess_image(page, "panels", panel_size=(20, 30))
    assert pan.shape == (13, 20, 30, 1)
    full = images.preprocess_image(page, "grid_removed", image_size=None)
    assert full.shape == (786, 1107, 1)
    with pytest.raises(ValueError, match="unknown preprocess"):
        images.preprocess_image(page, "pagez")
    blank = np.full((300, 400, 3), 255, np.uint8)
    with pytest.raises(panels.LayoutError, match="<array>"):
        images.preprocess_image(blank, "panels")


@pytest.mark.backend_free
def test_cache_second_load_decodes_nothing(tmp_path):
    root = _folder(tmp_path, n=2)
    cache = tmp_path / "cache"
    first = images.load_folder(root, image_size=32, cache_dir=cache)
    assert first.meta["decoded"] == 6
    files = list(cache.rglob("*"))
    assert any(f.suffix == ".npz" for f in files)
    assert not [f for f in files if f.name.endswith(".tmp")]  # written to a temp name, renamed
    second = images.load_folder(root, image_size=32, cache_dir=cache)
    assert second.meta["decoded"] == 0
    np.testing.assert_array_equal(first.x, second.x)
    np.testing.assert_array_equal(first.groups, second.groups)
    # other parameters are another cache entry
    other = images.load_folder(root, image_size=16, cache_dir=cache)
    assert other.meta["decoded"] == 6 and other.x.shape[1] == 16
    # cache off: decodes each time
    assert images.load_folder(root, image_size=32, cache=False).meta["decoded"] == 6


# ---------------------------------------------------------------- bad input


def _bad_folder(tmp_path, kind):
    root = _folder(tmp_path, classes=("normal", "mi"), n=1)
    d = root / "Normal Person ECG Images (859)"
    good = next(d.iterdir()).read_bytes()
    if kind == "corrupt":
        (d / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2000))
    elif kind == "truncated":
        (d / "bad.jpg").write_bytes(good[: len(good) // 3])
    elif kind == "text":
        (d / "bad.txt").write_text("not an image")
    elif kind == "tiny":
        Image.new("RGB", (8, 8), "white").save(d / "bad.png")
    elif kind == "bomb":
        Image.new("L", (3000, 3000), 255).save(d / "bad.png")
    return root, "bad"


@pytest.mark.parametrize(
    "kind,message",
    [
        ("corrupt", "not a readable image|corrupt"),
        ("truncated", "truncated"),
        ("text", "not a readable image"),
        ("tiny", "too small"),
        ("bomb", "max_pixels"),
    ],
)
def test_bad_files_raise_or_skip(tmp_path, kind, message):
    root, name = _bad_folder(tmp_path, kind)
    kw = dict(image_size=24, cache_dir=tmp_path / "c", max_pixels=4_000_000)
    with pytest.raises(images.ImageError, match=message) as err:
        images.load_folder(root, **kw)
    assert name in str(err.value)  # the message names the file
    ds = images.load_folder(root, on_error="skip", **kw)
    assert len(ds) == 2
    assert len(ds.meta["skipped"]) == 1 and name in ds.meta["skipped"][0]["file"]
    assert "skipped:" in images.format_report(ds)


def test_bomb_refused_before_decoding(tmp_path, monkeypatch):
    p = tmp_path / "big.png"
    Image.new("L", (5000, 4000), 255).save(p)
    calls = []
    orig = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: calls.append(1) or orig(self))
    with pytest.raises(images.ImageError, match="20.0 Mpx"):
        images.read_image(p, max_pixels=1_000_000)
    assert calls == []  # only the header was read


def test_empty_class_folder(tmp_path):
    root = _folder(tmp_path, classes=("normal", "mi"), n=1)
    (root / "ECG Images of COVID-19 Patients (250)").mkdir()
    with pytest.raises(images.ImageError, match="no images"):
        images.load_folder(root, image_size=24, cache_dir=tmp_path / "c")
    ds = images.load_folder(root, image_size=24, on_error="skip", cache_dir=tmp_path / "c")
    assert "covid19" in ds.class_names and ds.class_counts()["covid19"] == 0
    assert ds.meta["skipped"][0]["reason"] == "class folder has no images"


def test_gray_rgba_palette_16bit_images_load(tmp_path):
    page = synthetic_pages.render_page("normal", seed=1, width=500, height=355)
    gray = Image.fromarray(page).convert("L")
    rgba = Image.fromarray(page).convert("RGBA")
    a = np.asarray(rgba).copy()
    a[..., 3] = 0  # fully transparent -> composited on white
    paths = {"gray": tmp_path / "g.png", "rgba": tmp_path / "a.png", "p": tmp_path / "p.png",
             "i16": tmp_path / "i16.png"}
    gray.save(paths["gray"])
    Image.fromarray(a).save(paths["rgba"])
    Image.fromarray(page).convert("P").save(paths["p"])
    Image.fromarray((np.asarray(gray).astype(np.uint16) * 257)).save(paths["i16"])
    for k, p in paths.items():
        out = images.read_image(p)
        assert out.shape == (355, 500, 3) and out.dtype == np.uint8, k
    assert (images.read_image(paths["rgba"]) == 255).all()
    np.testing.assert_array_equal(images.read_image(paths["gray"])[..., 0], np.asarray(gray))
    # gray pages go through every preprocessing
    assert images.preprocess_image(paths["gray"], "page", image_size=32).shape == (32, 32, 3)


# ------------------------------------------------------------ augmentation


def test_image_augment():
    ds = synthetic_pages.pages(n_per_class=1, classes=["normal", "mi"], image_size=48)
    fn = images.image_augment()
    out = fn(ds.x, np.random.default_rng(0))
    assert out.shape == ds.x.shape and out.dtype == np.float32
    assert not np.allclose(out, ds.x)
    assert ds.x.min() <= out.min() and out.max() <= ds.x.max()  # stays in range
    np.testing.assert_array_equal(out, fn(ds.x, np.random.default_rng(0)))  # seeded
    assert not np.array_equal(out, fn(ds.x, np.random.default_rng(1)))
    # identity when everything is off
    off = images.image_augment(0, 0, 0, 0, 0, 0)
    np.testing.assert_allclose(off(ds.x, np.random.default_rng(0)), ds.x)
    # a pure rotation moves the trace but keeps the paper value at the corners
    rot = images.image_augment(rotation=10, scale=0, brightness=0, contrast=0, blur=0, noise=0)
    r = rot(ds.x, np.random.default_rng(3))
    assert np.abs(r - ds.x).mean() > 0.01
    # panel batches (B, 13, H, W, 1)
    pan = synthetic_pages.pages(n_per_class=1, classes=["normal"], preprocess="panels", panel_size=(16, 24))
    p = fn(pan.x, np.random.default_rng(0))
    assert p.shape == pan.x.shape and 0 <= p.min() and p.max() <= 1


# ---------------------------------------------------------------- pipelines


def _tiny_model(input_shape, n_classes):
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_fit_with_tf_dataset_and_pydataset(tmp_path, backend_name):
    from keras_ecg.data import pipeline

    root = _folder(tmp_path, classes=("normal", "mi"), n=3)
    ds = images.load_folder(root, image_size=32, cache_dir=tmp_path / "c")
    model = _tiny_model((32, 32, 3), 2)
    aug = images.image_augment()
    py = pipeline.to_pydataset(ds, batch_size=4, shuffle=True, augment=aug)
    hist = model.fit(py, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2 and np.isfinite(hist.history["loss"]).all()
    if backend_name == "tensorflow" or _has_tf():
        tfds = pipeline.to_tf_dataset(ds, batch_size=4, shuffle=True, augment=aug)
        hist = model.fit(tfds, epochs=1, verbose=0, shuffle=False)  # the dataset shuffles itself
        assert np.isfinite(hist.history["loss"]).all()


def _has_tf():
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def test_lazy_loader_decodes_each_file_once(tmp_path):
    from keras_ecg.data import pipeline
    from keras_ecg.data.dataset import Dataset

    root = _folder(tmp_path, classes=("normal", "mi"), n=2)
    paths = sorted(str(p) for p in root.rglob("*.jpg"))
    calls = []
    base = images.image_loader("page", image_size=24)

    def loader(items):
        calls.extend(items)
        return base(items)

    ds = Dataset(np.array(paths, dtype=object), np.array([0, 0, 1, 1]), np.arange(4), ["a", "b"])
    py = pipeline.to_pydataset(ds, batch_size=2, shuffle=True, loader=loader)
    for epoch in range(3):
        for i in range(len(py)):
            x, y = py[i]
            assert x.shape == (2, 24, 24, 3)
        py.on_epoch_end()
    assert sorted(calls) == paths  # each file decoded once over 3 epochs


# ---------------------------------------------------------------- real data


@pytest.mark.backend_free
def test_real_folder_classes(ecg_images_dir):
    ds = images.load_folder(ecg_images_dir, image_size=32)
    counts = ds.meta["counts"]
    print(images.format_report(ds))
    assert set(counts) == {"normal", "abnormal_heartbeat", "mi", "history_of_mi", "covid19"}
    assert sum(counts.values()) == len(ds) and len(ds) > 0
    four = images.load_folder(ecg_images_dir, image_size=32,
                              classes=["normal", "abnormal_heartbeat", "mi", "history_of_mi"])
    assert four.num_classes == 4 and len(four) == len(ds) - counts["covid19"]
    assert four.meta["decoded"] == 0  # everything came from the cache
    binary = images.load_folder(ecg_images_dir, image_size=32, binary=True)
    assert binary.class_counts() == {"normal": counts["normal"], "risky": len(ds) - counts["normal"]}


def test_image_loader_bad_file_raises_or_blanks(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(synthetic_pages.render_page("normal", seed=2, width=500, height=355)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff" + b"\x00" * 100)
    strict = images.image_loader("page", image_size=16)
    with pytest.raises(images.ImageError, match="bad.jpg"):
        strict([str(good), str(bad)])
    lenient = images.image_loader("page", image_size=16, on_error="blank")
    out = lenient(np.array([str(good), str(bad)], dtype=object))
    assert out.shape == (2, 16, 16, 3)
    assert (out[1] == 1.0).all() and not (out[0] == 1.0).all()
    assert [p for p, _ in lenient.failures] == [str(bad)]
    pan = images.image_loader("panels", panel_size=(8, 8), on_error="blank")
    blank_page = tmp_path / "blank.png"
    Image.new("RGB", (400, 300), "white").save(blank_page)
    assert pan([str(blank_page)]).shape == (1, 13, 8, 8, 1) and "blank.png" in pan.failures[0][1]
