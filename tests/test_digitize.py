"""Digitisation of ECG pages (keras_ecg.data.images.grid, digitize, digitize_io; keras-ecg digitize)."""

import json

import numpy as np
import pytest

from keras_ecg.data.images import digitize, digitize_check, grid, panels, synthetic_pages

pytestmark = pytest.mark.backend_free


@pytest.mark.parametrize("layout,grid_on,cls", [
    ("3x4+1", True, "normal"),
    ("6x2", True, "mi"),
    ("6x2+1", False, "abnormal_heartbeat"),
])
def test_clean_pages_recovered_with_correlation_over_0_9(layout, grid_on, cls):
    r = digitize_check.render_and_digitize(cls, seed=11, layout=layout, grid=grid_on)
    assert r["layout"] == layout
    assert r["scale_source"] == ("grid" if grid_on else "pulses+width")
    expected = 12 + (layout != "6x2")  # + the rhythm strip
    assert len(r["per_lead"]) == expected
    corr = {k: v["correlation"] for k, v in r["per_lead"].items()}
    assert min(corr.values()) >= 0.9, corr
    assert np.mean([v["snr_db"] for v in r["per_lead"].values()]) > 8.0


def test_scale_in_millivolts_and_seconds():
    """Known 1 mV waves every 0.5 s come back in mV against seconds (grid scale)."""
    fs = synthetic_pages.FS
    t = np.arange(10 * fs) / fs
    wave = sum(np.exp(-0.5 * ((t - c) / 0.03) ** 2) for c in np.arange(0.4, 10, 0.5))  # 1 mV peaks
    page = synthetic_pages.render_page("normal", seed=0, signals={lead: wave for lead in synthetic_pages.TWELVE})
    d = digitize.digitize_page(page, fs=fs)
    g = synthetic_pages.page_geometry()
    assert d.grid_period_px[0] == pytest.approx(g["px_per_mm"], rel=0.01)
    assert d.grid_period_px[1] == pytest.approx(5 * g["px_per_mm"], rel=0.01)
    assert d.px_per_s == pytest.approx(25 * g["px_per_mm"], rel=0.01)
    assert d.px_per_mv == pytest.approx(250 * g["px_per_mm"] / 25, rel=0.01)
    assert d.signals.shape == (12, 10 * fs) and d.lead_names[:3] == ["I", "II", "III"]
    v1 = d.segment("V1")  # printed from 5.0 to 7.5 s on a 3x4 page
    assert d.spans["V1"][0] == pytest.approx(5.0, abs=0.02) and len(v1) == pytest.approx(2.5 * fs, abs=3)
    assert np.isnan(d.signals[d.lead_names.index("V1"), : int(4.9 * fs)]).all()
    x = d.rhythm - np.median(d.rhythm)
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(x, height=0.5, distance=int(0.3 * fs))
    assert len(peaks) == 20
    assert np.median(x[peaks]) == pytest.approx(1.0, rel=0.1)  # 1 mV
    assert np.median(np.diff(peaks)) / fs == pytest.approx(0.5, abs=0.01)  # every 0.5 s
    assert peaks[0] / fs == pytest.approx(0.4, abs=0.02)  # at the right time
    w = d.window(2.5, fs=100)
    assert w.shape == (250, 12) and np.isfinite(w).all()


def test_tilted_scan_is_levelled_first():
    from PIL import Image

    page = synthetic_pages.render_page("normal", seed=2)
    tilted = np.asarray(Image.fromarray(page).rotate(0.5, resample=Image.BILINEAR, fillcolor=(255, 255, 255)))
    assert grid.skew_angle(tilted) == pytest.approx(0.5, abs=0.06)
    assert abs(grid.skew_angle(page)) < 0.1
    d = digitize.digitize_page(tilted)
    assert d.skew_deg == pytest.approx(0.5, abs=0.06) and d.layout == "3x4+1"


def test_page_without_layout_is_an_error_naming_it():
    with pytest.raises(panels.LayoutError, match="blank-page"):
        digitize.digitize_page(np.full((600, 800, 3), 255, np.uint8), name="blank-page")


def test_cli_writes_wfdb_csv_overlay_and_json(tmp_path):
    import wfdb
    from PIL import Image

    from keras_ecg import cli

    page = tmp_path / "in" / "Page (1).png"
    page.parent.mkdir()
    Image.fromarray(synthetic_pages.render_page("mi", seed=4, layout="6x2+1")).save(page)
    out = tmp_path / "out"
    assert cli.main(["digitize", str(page), "--out", str(out), "--fs", "200"]) == 0
    names = sorted(p.name for p in out.iterdir() if p.name != ".keras-ecg.outputs.json")  # which run wrote what
    assert names == ["Page_1.csv", "Page_1.dat", "Page_1.hea", "Page_1.json", "Page_1_overlay.png"]
    rec = wfdb.rdrecord(str(out / "Page_1"))
    assert rec.fs == 200 and rec.sig_name[:12] == digitize.LEADS12 and rec.sig_name[12] == "rhythm"
    assert rec.units[0] == "mV" and rec.p_signal.shape == (2000, 13)
    # lead I was printed for the first 5 s of a 6x2 page: samples after it are missing (NaN)
    assert np.isfinite(rec.p_signal[:900, 0]).all() and np.isnan(rec.p_signal[1100:, 0]).all()
    header = (out / "Page_1.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["time_s", "I", "II"] and header[-1] == "rhythm"
    info = json.loads((out / "Page_1.json").read_text())
    assert info["layout"] == "6x2+1" and info["scale_source"] == "grid" and len(info["grid_period_px"]) == 2
    with Image.open(out / "Page_1_overlay.png") as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    red = (rgb[..., 0] > 180) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)
    assert red.sum() > 3000  # the traces drawn over the page


def test_cli_bad_input_is_one_line_naming_the_file(tmp_path):
    from PIL import Image

    from keras_ecg import cli

    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    with pytest.raises(SystemExit) as e:
        cli.main(["digitize", str(bad), "--out", str(tmp_path / "o")])
    msg = str(e.value)
    assert "keras-ecg digitize: error:" in msg and "notes.jpg" in msg and "\n" not in msg
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((500, 700, 3), 255, np.uint8)).save(blank)
    with pytest.raises(SystemExit) as e:
        cli.main(["digitize", str(blank), "--out", str(tmp_path / "o")])
    assert "blank.png" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_column_runs_are_each_columns_runs_in_order():
    """The band's runs of ink found all at once are, column by column, the runs a loop over columns finds."""
    from keras_ecg.data.images.digitize import _column_runs

    rng = np.random.default_rng(0)
    ink = rng.random((40, 30)) < 0.4
    ink[:, 3] = False  # a blank column
    ink[:, 4] = True  # a column inked from edge to edge
    col, start, stop = _column_runs(ink)
    want = []
    for c in range(ink.shape[1]):
        padded = np.concatenate(([False], ink[:, c], [False]))
        edges = np.flatnonzero(padded[1:] != padded[:-1])
        want += [(c, int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
    assert list(zip(col.tolist(), start.tolist(), stop.tolist())) == want
    assert 3 not in col and (4, 0, 40) in want
