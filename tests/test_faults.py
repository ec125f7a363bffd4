"""Faults that once failed quietly, one test per class (issue 26 item 5). Each is now fixed or refused in one line:

1. near duplicates: a grayscale, recompressed or slightly rescaled copy of a page lands in its original's
   group (so ``--cv`` never trains on a page's own source), while distinct pages stay apart
   (:func:`keras_ecg.data.images.dedup.gray_hash`; real pages where ``KERAS_ECG_DATA`` has them, and
   synthetic ones always);
2. page orientation: an upside-down page is turned by 180 degrees, with a warning, before digitising, and
   one whose orientation cannot be told is refused in one line (tests/test_orientation.py);
3. explanation methods that do not fit a model are refused (``ig`` on a page model, ``gradcam`` on a beat model);
4. ``predict --with``: a combination has no fitted uncertainty threshold, and says so (``uncertain: null``
   and ``uncertain_note``) instead of ``uncertain: false``;
5. an unregistered custom layer in a ``.keras`` file is refused in one line naming the layer;
6. an annotation one sample past a record's end is dropped with a warning, the record's other beats kept;
7. a corrupt ``--backend auto`` cache is named in one line and rebuilt.
"""

import dataclasses
import hashlib
import io
import json
import os
import pathlib

import numpy as np
import pytest
import quiet_warns
from PIL import Image

from keras_ecg.data.images import dedup, synthetic_pages
from keras_ecg.data.images import io as image_io
from keras_ecg.errors import DataError

DATA = pathlib.Path(os.environ["KERAS_ECG_DATA"]) / "ecg_images" if os.environ.get("KERAS_ECG_DATA") else None


def _copy(page, gray=False, quality=85, scale=None):
    """A JPEG copy of ``page`` (grayscale, recompressed, rescaled), read back as the loader reads it."""
    im = Image.fromarray(page)
    if gray:
        im = im.convert("L")
    if scale:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return image_io._to_rgb(Image.open(buf))


COPIES = [dict(gray=True), dict(gray=True, quality=50), dict(gray=True, scale=0.9), dict(gray=True, scale=1.1, quality=60),
          dict(quality=50), dict(scale=0.9)]


def _groups(pages):
    """:func:`dedup.find_duplicates` groups of in-memory pages, hashed as ``load_folder`` hashes them."""
    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(len(pages))]
    return dedup.find_duplicates(shas, np.stack([dedup.page_hash(p) for p in pages]),
                                 gray_hashes=np.stack([dedup.gray_hash(p) for p in pages]),
                                 colour=[dedup.is_colour(p) for p in pages])[0]


def _real_pages(n):
    if DATA is None or not DATA.is_dir():
        pytest.skip(f"no real pages at {DATA} (set KERAS_ECG_DATA)")
    files = sorted(DATA.rglob("*.jpg"))
    return [image_io.read_image(f) for f in files[:: max(1, len(files) // n)][:n]]


def _synthetic_pages(n):
    return [synthetic_pages.render_page(synthetic_pages.CLASSES[i % 5], seed=500 + i) for i in range(n)]


@pytest.mark.backend_free
@pytest.mark.parametrize("source", ["synthetic", "real"])
def test_copies_of_a_page_are_grouped_with_it_and_distinct_pages_are_not(source):
    originals = (_synthetic_pages if source == "synthetic" else _real_pages)(4)
    assert all(dedup.is_colour(p) for p in originals) and not dedup.is_colour(_copy(originals[0], gray=True))
    pages, owner = list(originals), list(range(len(originals)))
    for i, p in enumerate(originals):
        for kw in COPIES:
            pages.append(_copy(p, **kw))
            owner.append(i)
    groups = _groups(pages)
    for i in range(len(originals)):  # every copy with its original ...
        assert len({groups[k] for k in range(len(pages)) if owner[k] == i}) == 1, f"page {i}: copies split off"
    assert len(set(groups[:len(originals)])) == len(originals)  # ... and the originals apart


@pytest.mark.backend_free
def test_distinct_real_pages_stay_apart_even_in_grayscale():
    pages = _real_pages(12)
    gray = [_copy(p, gray=True) for p in pages]
    groups = _groups(gray)  # every pair compared by the gray hash, the looser one
    assert len(set(groups)) == len(pages)
    assert len(set(_groups(pages))) == len(pages)


def test_explanation_methods_that_do_not_fit_the_model_are_refused():
    from keras_ecg.deploy import explain as E

    with pytest.raises(DataError, match="--method ig: for beat models; image models take gradcam or saliency"):
        E.explain(None, [np.zeros((1, 8, 8, 1))], [0], "image", "ig")
    with pytest.raises(DataError, match="--method ig: for beat models; panels models"):
        E.explain(None, [np.zeros((1, 4, 8, 8, 1))], [0], "panels", "ig")
    with pytest.raises(DataError, match="--method gradcam: for image and panel models"):
        E.explain(None, [np.zeros((1, 96, 1))], [0], "waveform", "gradcam")


@dataclasses.dataclass
class _Card:
    class_names: list
    binary: bool = False
    calibration: object = None
    input_kind: str = "image"


def test_a_combination_without_a_fitted_threshold_says_so(tmp_path, monkeypatch):
    from keras_ecg.deploy import combine
    from keras_ecg.deploy import predict as P

    page = tmp_path / "page.png"
    Image.fromarray(synthetic_pages.render_page("normal", seed=1)).save(page)
    outs = {"a": np.array([[0.51, 0.49]]), "b": np.array([[0.49, 0.51]])}  # a coin toss, mean 0.5
    monkeypatch.setattr(P, "image_batch", lambda files, card: card.class_names[0])
    monkeypatch.setattr(P, "_outputs", lambda model, x, batch_size: outs[model])
    card = _Card(["normal", "risky"])
    (r,) = combine.predict_paths([("a.keras", "a", card), ("b.keras", "b", card)], [str(page)])
    assert r["uncertain"] is None and "no uncertainty threshold" in r["uncertain_note"]
    assert r["members"] == {"a.keras": "normal", "b.keras": "risky"}


def test_an_unregistered_custom_layer_is_named_in_one_line(tmp_path):
    import keras

    from keras_ecg.errors import KerasECGError
    from keras_ecg.saving import load_model

    class Doubler(keras.layers.Layer):  # not registered: its class cannot be found when loading
        def call(self, x):
            return x * 2

    inp = keras.Input((4,))
    keras.Model(inp, keras.layers.Dense(2)(Doubler(name="twice")(inp))).save(tmp_path / "m.keras")
    with pytest.raises(KerasECGError) as e:
        load_model(tmp_path / "m.keras")
    msg = str(e.value)
    assert "\n" not in msg and "unknown custom object 'Doubler'" in msg and "'twice'" in msg and "m.keras" in msg


def test_an_annotation_one_past_the_end_is_dropped_with_a_warning(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    from keras_ecg.data import wfdb_io

    n = 3600
    sig = np.sin(np.arange(n) / 20.0)[:, None]
    wfdb.wrsamp("100", fs=360, units=["mV"], sig_name=["MLII"], p_signal=sig, fmt=["212"], adc_gain=[200.0],
                baseline=[0], write_dir=str(tmp_path))
    peaks = np.array([100, 500, 900, 1300, n])  # the last one sample past the last sample (n - 1)
    wfdb.wrann("100", "atr", peaks, np.array(["N"] * 5), write_dir=str(tmp_path))
    with quiet_warns.warns(UserWarning, match=r"100\.atr: annotation 4 \('N'\) at sample 3600 is one past"):
        rec = wfdb_io.load_record(tmp_path / "100")
    assert list(rec.ann_samples) == [100, 500, 900, 1300] and list(rec.ann_symbols) == ["N"] * 4
    wfdb.wrann("100", "atr", np.array([100, n + 5]), np.array(["N", "N"]), write_dir=str(tmp_path))
    with pytest.raises(DataError, match="outside the record"):  # further out: still refused
        wfdb_io.load_record(tmp_path / "100")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"KEY": {"samples_per_s": 3}}'])
def test_a_corrupt_backend_cache_is_named_and_rebuilt(tmp_path, monkeypatch, text):
    from keras_ecg import autobackend

    monkeypatch.setenv("KERAS_ECG_CACHE", str(tmp_path))
    path = autobackend._cache_file()
    key = autobackend._key("cnn1d", (187, 1), 64, ["jax"])
    path.write_text(text.replace("KEY", key))
    monkeypatch.setattr(autobackend, "measure", lambda b, *a, **k: 10.0)
    lines = []
    assert autobackend.choose("cnn1d", (187, 1), backends=["jax"], log=lines.append) == "jax"
    assert any(str(path) in line and "corrupt" in line for line in lines), lines
    assert json.loads(path.read_text())[key]["choice"] == "jax"  # rebuilt
