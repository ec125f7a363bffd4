"""The shipped models in saved_models/: small, carded, loadable offline on this backend, figures reproducible.

The check figures in each card (``release.check``) were measured when the model was made
(``saved_models/make_pretrained.py``) on a small named real-data subset; re-measured here on
this backend they must agree within the card's stated tolerance (0.02). Skipped without
``$KERAS_ECG_DATA``.
"""

import json
import os

import numpy as np
import pytest

import keras_ecg
from keras_ecg import cli
from keras_ecg.deploy import pretrained as PT

NAMES = PT.list_pretrained()
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


def test_the_four_models_are_shipped():
    """The beat model and one model per image task (issue 23); the panel model and the old risk model retired."""
    assert set(NAMES) == {"mitbih_beats", "ecg_pages_5class", "ecg_pages_4class", "ecg_pages_risk"}
    assert keras_ecg.list_pretrained() == NAMES
    for old, new in PT.RETIRED.items():
        with pytest.raises(keras_ecg.KerasECGError, match=f"retired; use pretrained:{new.split()[0]}"):
            PT.model_path(old)


@pytest.mark.parametrize("name", NAMES)
def test_card_says_what_it_is(name):
    card = PT.card(name)
    rel = card.release
    assert rel.name == name and rel.intended_use and rel.regenerate.endswith(f"make_pretrained.py {name}")
    assert any("not a medical device" in line for line in rel.limitations)
    assert card.training_data and not card.training_data.synthetic
    assert rel.metrics_split == card.training_data.split and card.metrics["accuracy"] > 0.5
    licences = {d.licence.split(" ")[0] + " " + d.licence.split(" ")[1] for d in rel.data_licences}
    if card.input_kind == "waveform":
        assert licences == {"ODC-By 1.0"} and "DS1" in card.training_data.split
        cites = " ".join(rel.data_licences[0].citations)
        assert "Moody" in cites and "Goldberger" in cites
    else:
        assert licences == {"CC BY"} and "Data in Brief" in rel.data_licences[0].citations[0]
        assert any("shortcut" in line for line in rel.limitations)
        assert card.bundle is not None and "grouped 5-fold CV" in rel.metrics_split  # the CV's figures
        cal = card.calibration  # calibrated on the validation side, ECE before and after in the card
        assert cal is not None and cal.ece_after <= cal.ece_before and 0 < cal.uncertain_below < 1
        if not card.binary:  # no shipped model has a class it never recognises (CV recall of every class)
            assert all(card.metrics[f"recall_{c}"] > 0.2 for c in card.class_names), card.metrics
    for f in card.files.values():
        assert (PT.root() / name / f).stat().st_size < 2_200_000


@pytest.mark.parametrize("name", NAMES)
def test_loads_offline_and_onnx_agrees(name, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_ECG_OFFLINE", "1")
    from keras_ecg.deploy import runtime

    model = keras_ecg.pretrained(name)
    card = PT.card(name)
    rng = np.random.default_rng(0)
    if card.bundle is not None:  # a bundle reads pages: three synthetic ones through every member
        from keras_ecg.data.images import synthetic_pages
        from keras_ecg.deploy import bundle

        pages = synthetic_pages.write_folder(tmp_path / "pages", n_per_class=1, classes=["normal", "mi", "covid19"],
                                             width=553, height=393)
        xs = bundle.page_inputs(sorted(pages.rglob("*.jpg")), card)
    else:
        xs = [rng.normal(size=(3, *i.shape[1:])).astype(np.float32) for i in card.inputs]
    got = np.asarray(model.predict(xs if len(xs) > 1 else xs[0], verbose=0))
    assert got.shape == (3, card.output.shape[-1])
    pytest.importorskip("onnxruntime")
    onnx = runtime.load(f"pretrained:{name}", runtime="onnx")
    assert onnx.runtime.split(" + ")[0] == "onnxruntime"  # a bundle: "onnxruntime + scikit-learn"
    np.testing.assert_allclose(onnx(xs), got, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_reproduces_card_check_figures(name):
    from conftest import real_data
    from keras_ecg.deploy.evaluate_data import measure_check

    card = PT.card(name)
    check = card.release.check
    root = real_data(check["data"])
    got = measure_check(PT.model_path(name), card, root, check["items"])
    assert got["n"] == check["n"]
    assert abs(got["accuracy"] - check["accuracy"]) <= check["tolerance"], (got, check)
    assert abs(got["macro_f1"] - check["macro_f1"]) <= check["tolerance"], (got, check)


def test_unknown_name_suggests():
    with pytest.raises(keras_ecg.KerasECGError, match="did you mean 'mitbih_beats'"):
        PT.model_path("mitbih_beat")


def test_predict_cli_takes_pretrained(tmp_path, capsys):
    from keras_ecg.data import synthetic_wfdb

    synthetic_wfdb.write_record(tmp_path / "s", minutes=0.5)
    assert cli.main(["predict", "pretrained:mitbih_beats", str(tmp_path / "s"), "--json", "--backend", BACKEND]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["class_names"] == ["N", "S", "V", "F", "Q"] and out["results"][0]["beats"] > 20


@pytest.mark.backend_free
def test_fresh_clone_demo_without_data(offline, tmp_path, capsys):
    """Issue 12 item 4: no data anywhere; a synthetic record annotated by the shipped beat model."""
    assert cli.main(["synth-record", str(tmp_path / "demo" / "synth"), "--minutes", "2"]) == 0
    assert cli.main(["annotate", "pretrained:mitbih_beats", str(tmp_path / "demo" / "synth"), "--out",
                     str(tmp_path / "ann"), "--backend", BACKEND]) == 0
    import wfdb

    ann = wfdb.rdann(str(tmp_path / "ann" / "synth"), "ann")
    ref = wfdb.rdann(str(tmp_path / "demo" / "synth"), "atr")
    beats = np.array([s for s in ann.symbol if s not in '+"'])  # not the rhythm annotations nor the comments
    assert abs(len(beats) - len(ref.sample)) <= 2
    assert np.mean(beats == "N") > 0.6  # a mostly normal rhythm is seen as one
    s = json.loads((tmp_path / "ann" / "synth_summary.json").read_text())
    assert s["beats"] == len(beats) and (tmp_path / "ann" / "synth_strip.png").stat().st_size > 10_000


def test_pretrained_command_lists_bundles_with_their_calibration(capsys):
    assert cli.main(["pretrained"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(NAMES)
    pages = [line for line in out if line.startswith("pretrained:ecg_pages_")]
    assert len(pages) == 3 and all("bundle of cnn2d + cnn1d" in line and "ECE" in line for line in pages)
