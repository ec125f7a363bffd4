"""Rendered synthetic ECG pages (keras_ecg.data.images.synthetic_pages)."""

import numpy as np
import pytest

from keras_ecg.data.images import panels, synthetic_pages

pytestmark = pytest.mark.backend_free


def test_render_page_basics():
    page = synthetic_pages.render_page("normal", seed=0)
    assert page.shape == (786, 1107, 3) and page.dtype == np.uint8
    np.testing.assert_array_equal(page, synthetic_pages.render_page("normal", seed=0))  # seeded
    assert not np.array_equal(page, synthetic_pages.render_page("normal", seed=1))
    g = synthetic_pages.page_geometry()
    y0, y1, x0, x1 = g["grid_box"]
    assert panels.grid_mask(page)[y0:y1, x0:x1].mean() > 0.05  # pink grid inside the box
    assert not panels.grid_mask(page)[: y0 - 2].any()  # none in the header
    assert (page[: y0 - 2].max(-1) < 100).sum() > 200  # header text is drawn
    small = synthetic_pages.render_page("mi", seed=0, width=300, height=213)
    assert small.shape == (213, 300, 3)
    with pytest.raises(ValueError, match="unknown class"):
        synthetic_pages.render_page("cats")


def test_class_signal_changes():
    fs = synthetic_pages.FS
    normal = synthetic_pages.leads("normal", seed=3)
    assert set(normal) == set(synthetic_pages.TWELVE) and len(normal["II"]) == 10 * fs

    def rr_cv(sig):
        x = sig["II"]
        peaks = [i for i in range(1, len(x) - 1) if x[i] > 0.6 and x[i] >= x[i - 1] and x[i] > x[i + 1]]
        rr = np.diff(peaks)
        return rr.std() / rr.mean(), len(peaks)

    cv_n, _ = rr_cv(normal)
    assert cv_n < 0.06
    # abnormal heartbeat: irregular rhythm in most records
    irregular = [rr_cv(synthetic_pages.leads("abnormal_heartbeat", seed=s))[0] > 0.1 for s in range(6)]
    assert sum(irregular) >= 4
    # covid19 pages are tachycardic
    _, n_beats = rr_cv(synthetic_pages.leads("covid19", seed=3))
    assert n_beats >= 16

    # MI and history of MI change the same beats as a normal record of the same seed:
    # MI raises the ST segment (0.2-0.4 mV) in one territory, lowers it in others;
    # history of MI deepens Q waves and inverts T waves in one territory only.
    mi = synthetic_pages.leads("mi", seed=3)
    old = synthetic_pages.leads("history_of_mi", seed=3)
    up = {k: (mi[k] - normal[k]).max() for k in synthetic_pages.TWELVE}
    assert 0.2 <= max(up.values()) <= 0.41
    assert sum(v > 0.15 for v in up.values()) >= 3
    assert min((mi[k] - normal[k]).min() for k in synthetic_pages.TWELVE) < -0.05
    changed = [k for k in synthetic_pages.TWELVE if not np.allclose(old[k], normal[k])]
    assert 3 <= len(changed) <= 4
    assert all((old[k] - normal[k]).min() < -0.2 for k in changed)


def test_pages_dataset():
    ds = synthetic_pages.pages(n_per_class=2, image_size=32, seed=1)
    assert ds.x.shape == (10, 32, 32, 3) and ds.x.dtype == np.float32
    assert ds.class_names == synthetic_pages.CLASSES
    assert np.bincount(ds.y).tolist() == [2] * 5
    assert ds.meta["synthetic"] is True and ds.meta["source"] == "synthetic"
    assert len(set(ds.groups)) == 10
    assert "SYNTHETIC" in ds.summary()
    b = synthetic_pages.pages(n_per_class=1, image_size=16, binary=True)
    assert b.class_names == ["normal", "risky"] and b.y.tolist() == [0, 1, 1, 1, 1]
    sub = synthetic_pages.pages(n_per_class=1, classes=["normal", "mi"], image_size=16)
    assert sub.class_names == ["normal", "mi"] and len(sub) == 2
    full = synthetic_pages.pages(n_per_class=1, classes=["mi"], image_size=None, width=400, height=284)
    assert full.x.shape == (1, 284, 400, 3)
    pan = synthetic_pages.pages(n_per_class=1, classes=["normal", "covid19"], preprocess="panels",
                                panel_size=(24, 32))
    assert pan.x.shape == (2, 13, 24, 32, 1) and pan.x.max() > 0.5
    with pytest.raises(ValueError):
        synthetic_pages.pages(n_per_class=1, classes=["cats"])


def test_synthetic_wrapper_if_present():
    from keras_ecg.data import synthetic

    if not hasattr(synthetic, "pages"):
        pytest.skip("keras_ecg.data.synthetic has no pages() wrapper yet")
    ds = synthetic.pages(n_per_class=1, classes=["normal"], image_size=16)
    assert ds.meta["synthetic"] is True and ds.x.shape == (1, 16, 16, 3)


def test_classes_are_learnable_from_panels():
    """A nearest-centroid rule on panel row profiles beats chance clearly on held-out pages."""
    kw = dict(preprocess="panels", panel_size=(24, 32), width=600, height=426)
    train = synthetic_pages.pages(n_per_class=4, seed=0, **kw)
    test = synthetic_pages.pages(n_per_class=3, seed=1, **kw)
    # ink per row of each panel: where the trace lies relative to its baseline
    xtr = train.x[..., 0].sum(-1).reshape(len(train), -1)
    xte = test.x[..., 0].sum(-1).reshape(len(test), -1)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-3
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    cents = np.stack([xtr[train.y == c].mean(0) for c in range(train.num_classes)])
    pred = np.argmin(((xte[:, None, :] - cents[None]) ** 2).sum(-1), axis=1)
    acc = (pred == test.y).mean()
    assert acc > 0.4, acc  # chance is 0.2
