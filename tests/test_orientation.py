"""Page orientation (issue 26): an upside-down page is turned or refused before digitising, never read as it is.

:mod:`keras_ecg.data.images.orientation` decides from the calibration pulses (rising at the left of each row),
the traces and the header; a page turned by 180 degrees scores exactly the negative; a page whose orientation
cannot be told is refused in one line naming the file and the override (``--orientation upright|rotated``).
"""

import os
import pathlib
import warnings

import numpy as np
import pytest
import quiet_warns
from PIL import Image

from keras_ecg import cli
from keras_ecg.data.images import digitize, orientation, synthetic_pages
from keras_ecg.data.images import io as image_io

pytestmark = pytest.mark.backend_free


DATA = pathlib.Path(os.environ["KERAS_ECG_DATA"]) / "ecg_images" if os.environ.get("KERAS_ECG_DATA") else None
KINDS = [dict(layout="3x4+1"), dict(layout="6x2+1"), dict(layout="6x2"), dict(layout="6x2+1", grid=False),
         dict(layout="3x4+1", look="scan")]


def _turn(page):
    return np.ascontiguousarray(page[::-1, ::-1])


def _ambiguous(page):
    """The page overlaid on itself turned by 180 degrees: symmetric, so no cue can tell which way is up."""
    return np.minimum(page, _turn(page))


def _corr(a, b):
    ok = np.isfinite(a) & np.isfinite(b)
    assert ok.sum() > 0.5 * np.isfinite(a).sum()
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


@pytest.mark.parametrize("kw", KINDS, ids=lambda kw: "-".join(str(v) for v in kw.values()))
def test_synthetic_pages_are_upright_and_their_rotations_rotated(kw):
    for i, cls in enumerate(synthetic_pages.CLASSES[:3]):
        page = synthetic_pages.render_page(cls, seed=40 + i, **kw)
        up, down = orientation.assess(page), orientation.assess(_turn(page))
        assert up.decision == "upright" and down.decision == "rotated", (cls, up, down)
        assert up.pulses_up >= 2 and up.pulses_up > up.pulses_down  # rising pulses at the left, few falling at the right
        assert (down.pulses_up, down.pulses_down) == (up.pulses_down, up.pulses_up)
        assert down.score == pytest.approx(-up.score, abs=1e-9)


def test_an_upright_page_is_digitised_as_it_is_and_its_rotation_turned_with_a_warning():
    page = synthetic_pages.render_page("normal", seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the upright page: no warning, not turned
        upright = digitize.digitize_page(page, fs=100.0)
    with pytest.warns(UserWarning, match=r"turned\.jpg: the page is upside down.*rotated by 180 degrees"):
        fixed = digitize.digitize_page(_turn(page), fs=100.0, name="turned.jpg")
    assert _corr(upright.signals, fixed.signals) > 0.9
    # the override: "upright" takes the turned page as it is (no warning), and its traces are wrong ...
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        as_is = digitize.digitize_page(_turn(page), fs=100.0, orientation="upright")
    assert _corr(upright.signals, as_is.signals) < 0.5
    # ... "rotated" turns it without asking
    forced = digitize.digitize_page(_turn(page), fs=100.0, orientation="rotated")
    np.testing.assert_allclose(forced.signals, fixed.signals, equal_nan=True)


def test_a_page_whose_orientation_cannot_be_told_is_refused_in_one_line_and_the_override_works():
    page = _ambiguous(synthetic_pages.render_page("normal", seed=7))
    o = orientation.assess(page)
    assert o.decision == "ambiguous" and abs(o.score) < orientation.MARGIN
    with pytest.raises(orientation.OrientationError) as e:
        digitize.digitize_page(page, name="scan (1).jpg")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("scan (1).jpg: ") and "upside down" in msg
    assert "--orientation upright" in msg and "--orientation rotated" in msg
    d = digitize.digitize_page(page, fs=100.0, orientation="upright")  # the user says: as it is
    assert np.isfinite(d.signals).any()
    with pytest.raises(ValueError, match="orientation must be one of"):
        orientation.orient(page, "x.jpg", "sideways")


def test_the_digitize_command_refuses_turns_and_obeys_orientation(tmp_path, capsys):
    page = synthetic_pages.render_page("normal", seed=11)
    Image.fromarray(_ambiguous(page)).save(tmp_path / "odd page.png")
    Image.fromarray(_turn(page)).save(tmp_path / "turned.png")
    with pytest.raises(SystemExit) as e:
        cli.main(["digitize", str(tmp_path / "odd page.png"), "--out", str(tmp_path / "o1")])
    msg = str(e.value.code)
    assert "\n" not in msg and "odd page.png" in msg and "upside down" in msg and "--orientation" in msg
    assert not (tmp_path / "o1" / "odd_page.csv").exists()
    assert cli.main(["digitize", str(tmp_path / "odd page.png"), "--orientation", "upright",
                     "--out", str(tmp_path / "o2")]) == 0
    with quiet_warns.warns(UserWarning, match="upside down"):
        assert cli.main(["digitize", str(tmp_path / "turned.png"), "--out", str(tmp_path / "o3")]) == 0
    with pytest.raises(SystemExit, match="invalid choice"):
        cli.main(["digitize", str(tmp_path / "turned.png"), "--orientation", "left", "--out", str(tmp_path / "o4")])


def test_predict_measurements_of_an_ambiguous_page_are_left_out_with_the_reason(tmp_path):
    from keras_ecg.deploy import predict as P

    page = _ambiguous(synthetic_pages.render_page("normal", seed=7))
    Image.fromarray(page).save(tmp_path / "p.png")
    e = P.page_evidence(tmp_path / "p.png")
    assert e["measurements"] is None and "may be upside down" in e["measurement_error"]
    assert P.page_evidence(tmp_path / "p.png", "upright")["measurements"] is not None


@pytest.mark.real_data
def test_real_pages_are_never_turned_wrongly_nor_digitised_upside_down():
    if DATA is None or not DATA.is_dir():
        pytest.skip(f"no real pages at {DATA} (set KERAS_ECG_DATA)")
    files = sorted(DATA.rglob("*.jpg"))
    picked = files[:: max(1, len(files) // 8)][:8]
    right = 0
    for f in picked:
        page = image_io.read_image(f)
        up, down = orientation.assess(page), orientation.assess(_turn(page))
        assert up.decision != "rotated" and down.decision != "upright", f  # never wrong: turned or refused
        right += up.decision == "upright" and down.decision == "rotated"
    assert right >= len(picked) - 1


def test_digitised_pages_are_memoised_but_the_orientation_is_checked_each_time(tmp_path, monkeypatch):
    """Several models reading one page digitise it once; the upside-down warning and the refusal still come
    every time, and a changed page (same file name) is digitised again."""
    from keras_ecg.data.images import preprocess as PRE

    calls = []
    real = digitize.digitize_page
    monkeypatch.setattr(digitize, "digitize_page", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(PRE, "_memo", type(PRE._memo)())
    page = synthetic_pages.render_page("mi", seed=11)
    f = tmp_path / "p.png"
    Image.fromarray(_turn(page)).save(f)
    for _ in range(2):
        with pytest.warns(UserWarning, match="upside down"):
            got = PRE.preprocess_image(str(f), preprocess="digitized")
    assert len(calls) == 1 and got.shape[1] == 12
    first = got.copy()
    got[:] = 0  # the caller's copy: the memo keeps its own
    again = PRE.preprocess_image(page, preprocess="digitized", orientation="upright")
    assert len(calls) == 1  # the upright page's pixels: the same entry
    np.testing.assert_array_equal(again, first)
    Image.fromarray(_ambiguous(page)).save(f)
    with pytest.raises(orientation.OrientationError, match="may be upside down"):
        PRE.preprocess_image(str(f), preprocess="digitized")
    Image.fromarray(synthetic_pages.render_page("normal", seed=12)).save(f)
    PRE.preprocess_image(str(f), preprocess="digitized")
    assert len(calls) == 2
    monkeypatch.setattr(PRE, "DIGITIZED_MEMO_SIZE", 1)  # bounded: the oldest entries go
    PRE.preprocess_image(synthetic_pages.render_page("normal", seed=13), preprocess="digitized")
    assert len(PRE._memo) == 1 and len(calls) == 3
