"""Page layout detection, panel crops and grid removal (keras_ecg.data.images.panels)."""

import os
import pathlib

import numpy as np
import pytest

from keras_ecg.data import images
from keras_ecg.data.images import panels, synthetic_pages

pytestmark = pytest.mark.backend_free


def test_import_does_not_import_keras():
    import subprocess
    import sys

    code = (
        "import sys, keras_ecg.data.images, keras_ecg.data.images.synthetic_pages, keras_ecg.training.sources; "
        "print([m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "cls,size",
    [("normal", (1107, 786)), ("mi", (553, 393)), ("covid19", (1107, 786)), ("history_of_mi", (952, 1232))],
)
def test_layout_found_where_it_was_drawn(cls, size):
    w, h = size
    page = synthetic_pages.render_page(cls, seed=3, width=w, height=h)
    look = "scan" if cls == "covid19" else "cardiac"
    drawn = synthetic_pages.page_geometry(w, h, look)
    found = panels.find_layout(page)
    tol = max(3, 0.01 * max(w, h))
    np.testing.assert_allclose(found.rows, drawn["rows"], atol=tol)
    assert abs(found.x_start - drawn["x_start"]) <= tol
    assert abs(found.x_end - drawn["x_end"]) <= tol
    # every panel box within a few px of the drawn one, in LEADS order
    assert found.boxes.shape == (13, 4)
    np.testing.assert_allclose(found.boxes, drawn["boxes"], atol=2 * tol)
    np.testing.assert_allclose(found.grid_box, drawn["grid_box"], atol=tol)


@pytest.mark.parametrize("look,size", [("cardiac", (1107, 786)), ("scan", (800, 1000))])
def test_six_by_two_layout_found_where_it_was_drawn(look, size):
    w, h = size
    page = synthetic_pages.render_page("normal", seed=4, width=w, height=h, look=look, layout="6x2+1")
    drawn = synthetic_pages.page_geometry(w, h, look, "6x2+1")
    found = panels.find_layout(page)
    assert found.kind == "6x2+1" and found.gridded
    tol = max(3, 0.01 * max(w, h))
    np.testing.assert_allclose(found.rows, drawn["rows"], atol=tol)
    np.testing.assert_allclose(found.boxes, drawn["boxes"], atol=2 * tol)
    if look != "cardiac":
        return
    # the same page without its grid is still measured (below the header, the top fifth)
    plain = page.copy()
    plain[panels.grid_mask(page)] = 255
    nogrid = panels.find_layout(plain)
    assert nogrid.kind == "6x2+1" and not nogrid.gridded
    np.testing.assert_allclose(nogrid.rows, drawn["rows"], atol=tol)
    np.testing.assert_allclose(nogrid.boxes[:, 2:], drawn["boxes"][:, 2:], atol=2 * tol)
    # only 3x4 asked for: the page is reported, not cropped wrong
    with pytest.raises(panels.LayoutError, match="trace rows"):
        panels.find_layout(page, layouts=("3x4+1",))


def test_crop_panels_shape_and_ink():
    page = synthetic_pages.render_page("normal", seed=1)
    crops = panels.crop_panels(page, size=(48, 80))
    assert crops.shape == (13, 48, 80, 1) and crops.dtype == np.uint8
    # inverted: background ~0, trace bright; every panel holds a trace near its middle row
    for k in range(13):
        c = crops[k, :, :, 0].astype(float)
        assert np.median(c) < 10, panels.LEADS[k]
        assert c.max() > 150, panels.LEADS[k]
        rows = c.sum(axis=1)
        assert 0.25 * 48 < np.argmax(rows) < 0.8 * 48, panels.LEADS[k]


def test_remove_grid_keeps_trace_drops_grid():
    page = synthetic_pages.render_page("normal", seed=2)
    g = synthetic_pages.page_geometry(1107, 786)
    out = panels.remove_grid(page)
    assert out.shape == page.shape[:2] and out.dtype == np.uint8
    pink = panels.grid_mask(page)
    assert pink.mean() > 0.05  # the page has a grid
    assert (out[pink] > 240).mean() > 0.99  # grid pixels became paper
    dark = page.max(axis=-1) < 60
    assert dark.sum() > 1000 and (out[dark] < 80).mean() > 0.99  # ink kept
    y0, y1, x0, x1 = g["grid_box"]
    assert out[y0:y1, x0:x1].mean() > 245  # the grid area is mostly white now


def test_page_without_grid_is_reported():
    page = synthetic_pages.render_page("normal", seed=0)
    gray = np.repeat(page.min(axis=-1, keepdims=True), 3, axis=-1)  # grid turned gray
    gray[gray > 200] = 255
    with pytest.raises(panels.LayoutError, match="no pink grid"):
        panels.find_layout(gray)


def test_three_row_page_is_reported():
    page = synthetic_pages.render_page("normal", seed=0).copy()
    g = synthetic_pages.page_geometry(1107, 786)
    y0, y1, x0, x1 = g["grid_box"]
    cut = int(g["rows"][3] - g["spacing"] / 2)
    # paint the rhythm strip over with plain grid paper
    page[cut : y1 - 2, x0 + 2 : x1 - 2] = page[y0 + 2 : y0 + 2 + (y1 - 2 - cut), x0 + 2 : x1 - 2]
    page[cut : y1 - 2, x0 + 2 : x1 - 2][page[cut : y1 - 2, x0 + 2 : x1 - 2].max(-1) < 200] = 255
    with pytest.raises(panels.LayoutError, match="trace rows"):
        panels.find_layout(page)


def test_blank_page_is_reported():
    with pytest.raises(panels.LayoutError):
        panels.find_layout(np.full((300, 400, 3), 255, np.uint8))


def _montage(rows, path):
    """rows: list of (title, crops (13, H, W, 1)). Writes a PNG; returns its path."""
    from PIL import Image, ImageDraw

    h, w = rows[0][1].shape[1:3]
    pad, label = 4, 14
    width = 13 * (w + pad) + 160
    height = len(rows) * (h + pad + label)
    canvas = Image.new("L", (width, height), 128)
    d = ImageDraw.Draw(canvas)
    for r, (title, crops) in enumerate(rows):
        y = r * (h + pad + label)
        d.text((2, y + label + h // 2), title[:26], fill=255)
        for k in range(13):
            x = 160 + k * (w + pad)
            d.text((x, y), panels.LEADS[k], fill=255)
            canvas.paste(Image.fromarray(255 - crops[k, :, :, 0]), (x, y + label))
    canvas.save(path)
    return path


def _out_dir(tmp_path):
    out = os.environ.get("KERAS_ECG_TEST_OUT")
    path = pathlib.Path(out) if out else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_synthetic_crops_picture(tmp_path):
    rows = []
    for cls in synthetic_pages.CLASSES:
        page = synthetic_pages.render_page(cls, seed=5)
        rows.append((f"synthetic {cls}", panels.crop_panels(page, size=(64, 96))))
    path = _montage(rows, _out_dir(tmp_path) / "synthetic_panel_crops.png")
    print(f"synthetic panel crops written to {path}")
    assert path.stat().st_size > 1000


def _link_folder(src_root, tmp_path, picks):
    """A class-folder tree of symlinks to chosen real files (no copies)."""
    root = tmp_path / "subset"
    for folder, names in picks.items():
        d = root / folder
        d.mkdir(parents=True)
        for n in names:
            (d / n).symlink_to(src_root / folder / n)
    return root


def test_real_crops_one_page_per_class(ecg_images_dir, tmp_path):
    """Crops of one real page per class, written as a picture for a person to check."""
    rows = []
    for folder in sorted(p for p in ecg_images_dir.iterdir() if p.is_dir()):
        cls = images.folder_class(folder.name)
        for f in sorted(folder.iterdir(), key=lambda p: images.folder.natural_key(p.name)):
            page = images.read_image(f)
            try:
                layout = panels.find_layout(page)
            except panels.LayoutError:
                continue
            crops = panels.crop_panels(page, size=(64, 96), layout=layout)
            rows.append((f"{cls}: {f.name}", crops))
            # crops hold traces: every panel has ink near its middle
            for k in range(13):
                c = crops[k, :, :, 0].astype(float)
                assert c.max() > 100, (f.name, panels.LEADS[k])
            break
    assert len(rows) == 5
    six = ecg_images_dir / "ECG Images of Myocardial Infarction Patients (77)" / "MI (43).jpg"
    if six.exists():  # a 6x2 + rhythm page without grid
        layout = panels.find_layout(images.read_image(six))
        assert layout.kind == "6x2+1"
        rows.append(("mi (6x2+1): MI (43).jpg", panels.crop_panels(images.read_image(six), (64, 96), layout)))
    path = _montage(rows, _out_dir(tmp_path) / "real_panel_crops.png")
    print(f"real panel crops written to {path}")


def test_real_non_standard_layouts_handled_or_reported_by_name(ecg_images_dir, tmp_path):
    known = {  # 6x2 pages of the share: + rhythm strip without grid, 6 uneven rows with grid (no rhythm strip)
        "ECG Images of Myocardial Infarction Patients (77)": "MI (43).jpg",
        "ECG Images of Patient that have History of MI (203)": "PMI (116).jpg",
    }
    picks = {}
    for folder, bad in known.items():
        if not (ecg_images_dir / folder / bad).exists():
            pytest.skip(f"real data: {folder}/{bad} not in this share")
        names = sorted(os.listdir(ecg_images_dir / folder), key=images.folder.natural_key)
        picks[folder] = [bad, names[0]]  # the first pages of both folders are 3x4 + rhythm
    picks["ECG Images of COVID-19 Patients (250)"] = ["Binder1_Page_002.jpg", "Binder1_Page_125.jpg"]
    root = _link_folder(ecg_images_dir, tmp_path, picks)
    six = panels.find_layout(images.read_image(root / "ECG Images of Myocardial Infarction Patients (77)" / "MI (43).jpg"))
    assert six.kind == "6x2+1" and not six.gridded and len(six.rows) == 7
    # lead panels are the first half (2.5 s) of each 5 s column; the rhythm strip spans both
    widths = six.boxes[:, 3] - six.boxes[:, 2]
    assert np.allclose(widths[:12], (six.x_end - six.x_start) / 4, atol=2)
    assert widths[12] == pytest.approx(six.x_end - six.x_start, abs=2)
    pmi = panels.find_layout(images.read_image(root / "ECG Images of Patient that have History of MI (203)" / "PMI (116).jpg"))
    assert pmi.kind == "6x2" and pmi.gridded and len(pmi.rows) == 6
    assert np.diff(pmi.rows).min() < 0.7 * np.diff(pmi.rows).max()  # its rows are unevenly spaced
    # a page that truly cannot be read (a white page) is named with the reason, and warned about
    from PIL import Image

    Image.fromarray(np.full((600, 800, 3), 255, np.uint8)).save(root / "ECG Images of COVID-19 Patients (250)" / "blank.png")
    with pytest.warns(UserWarning, match=r"1 page\(s\) without a readable layout.*blank\.png"):
        ds = images.load_folder(root, preprocess="panels", panel_size=(32, 48), cache_dir=tmp_path / "c")
    failed = {f["file"].split("/")[-1]: f["reason"] for f in ds.meta["layout_failures"]}
    assert set(failed) == {"blank.png"}
    assert ds.x.shape == (6, 13, 32, 48, 1)
    assert sorted(ds.meta["layouts"]) == ["3x4+1"] * 4 + ["6x2", "6x2+1"]
    by_file = dict(zip(ds.meta["files"], ds.meta["layouts"]))
    assert by_file["ECG Images of Patient that have History of MI (203)/PMI (116).jpg"] == "6x2"
    side = ds.subset(np.array([0, 1]))  # per-item meta follows the items
    assert side.meta["files"] == ds.meta["files"][:2] and side.meta["layouts"] == ds.meta["layouts"][:2]
    report = images.format_report(ds)
    assert "blank.png" in report and "layout failures: 1" in report and "6x2 1" in report
    with pytest.raises(panels.LayoutError, match=r"blank\.png"):
        images.load_folder(root, preprocess="panels", panel_size=(32, 48), on_layout_error="raise",
                           cache_dir=tmp_path / "c")


def test_real_share_every_page_cropped_or_named(ecg_images_dir):
    """A third of the real share's pages (every 3rd of each class folder; benchmarks/image_layouts.py reads
    them all) each get a layout, or are named with the reason; every 4th of those is cropped."""
    kinds, failed, n = {}, {}, 0
    for folder in sorted(p for p in ecg_images_dir.iterdir() if p.is_dir()):
        files = sorted(folder.iterdir(), key=lambda p: images.folder.natural_key(p.name))
        for f in files[::3]:
            page = images.read_image(f)
            n += 1
            try:
                layout = panels.find_layout(page)
            except panels.LayoutError as e:
                failed[f.name] = str(e)
                continue
            kinds[layout.kind] = kinds.get(layout.kind, 0) + 1
            if n % 4 == 0:
                crops = panels.crop_panels(page, size=(32, 48), layout=layout)
                assert (crops.reshape(13, -1).max(axis=1) > 100).all(), f.name
    print(f"{n} pages: {kinds}; not read: {failed}")
    assert all(failed.values())  # a page not read is named with a reason
    assert not failed, failed  # on this share every page is read
    assert set(kinds) == set(panels.LAYOUTS)  # all three layouts occur in the sample


@pytest.mark.parametrize("layout,grid,look,size", [
    ("6x2", True, "cardiac", (1107, 786)),
    ("6x2", True, "scan", (952, 1232)),
    ("6x2+1", False, "cardiac", (1107, 786)),
    ("3x4+1", True, "cardiac", (553, 393)),
])
def test_every_synthetic_layout_cropped_into_the_same_lead_order(layout, grid, look, size):
    w, h = size
    page = synthetic_pages.render_page("mi", seed=6, width=w, height=h, look=look, layout=layout, grid=grid)
    drawn = synthetic_pages.page_geometry(w, h, look, layout)
    found = panels.find_layout(page)
    assert found.kind == layout and found.gridded == grid
    tol = max(3, 0.01 * max(w, h))
    np.testing.assert_allclose(found.rows, drawn["rows"], atol=tol)
    np.testing.assert_allclose(found.boxes[:, 2:], drawn["boxes"][:, 2:], atol=tol)  # columns: the lead order
    np.testing.assert_allclose(found.boxes[:, :2], drawn["boxes"][:, :2], atol=2 * tol if grid else 4 * tol)
    crops = panels.crop_panels(page, size=(32, 48), layout=found)
    assert crops.shape == (13, 32, 48, 1) and (crops.reshape(13, -1).max(axis=1) > 100).all()


def test_rows_found_from_the_calibration_pulses_when_traces_overlap():
    from keras_ecg.data.images import pulses

    page = synthetic_pages.render_page("normal", seed=2, layout="6x2")
    g = synthetic_pages.page_geometry(layout="6x2")
    y0, y1, x0, x1 = g["grid_box"]
    p = pulses.find_pulses(panels.darkness(page[:, x0:x1]) > 0.5)
    np.testing.assert_allclose(p.baselines, g["rows"], atol=3)
    assert p.px_per_mv == pytest.approx(10 * g["px_per_mm"], rel=0.1)
    # tall scribbles across every row hide the baselines from the ink profile; the pulses still give the rows
    noisy = page.copy()
    for x in range(int(g["x_start"] + 40), int(g["x_end"]), 9):
        noisy[y0 + 5 : y1 - 5, x : x + 2] = 0
    found = panels.find_layout(noisy)
    assert found.kind == "6x2"
    np.testing.assert_allclose(found.rows, g["rows"], atol=3)
