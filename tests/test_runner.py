"""The shared recipe runner, end to end on tiny synthetic data, and its bad-input errors.

Runs in-process with the suite's backend (``KERAS_BACKEND``), 1 epoch, tiny models.
"""

import json
import os

import numpy as np
import pytest

from keras_ecg.training import runner

TINY = json.dumps({"filters": [4], "units": [4], "dense_units": [4], "dropout": 0.0})
CONFIG = {
    "name": "test_recipe",
    "task": "mitbih",
    "model": "cnn_lstm",
    "fs": 100,  # beats of 25 + 45 = 70 samples
    "rr_features": False,
    "template_beats": 0,
    "epochs": 1,
    "batch_size": 32,
    "synthetic_n": 16,
}


def _backend():
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def _argv(out, *extra):
    return ["--backend", _backend(), "--out", str(out), "--model-args", TINY, "--export", "none",
            "--verbose", "0", *extra]


def test_end_to_end_auto_falls_back_to_synthetic(tmp_path, offline, capsys):
    out = tmp_path / "run"
    reports = runner.main(CONFIG, _argv(out, "--data", "auto", "--export", "keras"))
    rep = reports["cnn_lstm"]
    saved = json.loads((out / "report.json").read_text())
    assert saved["synthetic"] is True
    assert saved["split"].startswith("group_split")
    assert any("EMBEDDED SYNTHETIC" in w for w in saved["warnings"]), saved["warnings"]
    assert "EMBEDDED SYNTHETIC" in (out / "report.md").read_text()
    assert "EMBEDDED SYNTHETIC" in capsys.readouterr().err
    assert saved["extra"]["model"] == "cnn_lstm" and saved["extra"]["epochs_run"] == 1
    assert 0.0 <= rep["accuracy"] <= 1.0
    assert (out / "training_log.csv").exists() and (out / "checkpoints" / "last.keras").exists()
    cfg = json.loads((out / runner.RUN_CONFIG).read_text())["config"]
    assert cfg["backend"] == _backend() and cfg["data"] == "auto"
    assert list(out.glob("*.keras")), "export wrote no .keras file"
    card = json.loads((out / "model_card.json").read_text())
    prep = card["preprocessing"]
    assert card["card_version"] == 1 and card["input_kind"] == "waveform" and prep["before"] + prep["after"] == 70
    assert card["model"] == "cnn_lstm" and card["model_args"]["input_shape"] == [70, 1]
    assert card["training_data"]["synthetic"] is True and card["class_names"] == ["N", "S", "V", "F", "Q"]
    assert card["rhythm"]["af_rule"] == "no_s_in_af"  # beats cut around R peaks: the rhythm analysis applies
    # the run's export is what `keras-ecg predict` reads
    from keras_ecg import cli

    beats = tmp_path / "beats.csv"
    np.savetxt(beats, np.random.default_rng(0).normal(size=(2, 70)), delimiter=",")
    capsys.readouterr()
    cli.main(["predict", str(out / "model.keras"), str(beats), "--json", "--backend", _backend()])
    res = json.loads(capsys.readouterr().out)["results"][0]
    assert res["beats"] == 2 and set(res["items"][0]["probabilities"]) == {"N", "S", "V", "F", "Q"}


def test_same_config_reruns_different_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    cfg = runner.parse_args(CONFIG, _argv(out, "--data", "synthetic"))
    other = cfg.to_dict()
    other["seed"] = 99
    (out / runner.RUN_CONFIG).write_text(json.dumps({"config": other}))
    with pytest.raises(SystemExit) as e:
        runner.main(CONFIG, _argv(out, "--data", "synthetic"))
    msg = str(e.value)
    assert "already holds a different run" in msg and "seed" in msg and "\n" not in msg
    same = cfg.to_dict()
    runner.check_out_dir(out, {**same, "seed": 99}, overwrite=False, resume=False)  # same run: accepted
    runner.check_out_dir(out, same, overwrite=True, resume=False)  # different, --overwrite: cleared
    assert not (out / runner.RUN_CONFIG).exists()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--backend", "theano"], "invalid choice: 'theano'"),
        (["--strategy", "model_parallel"], "invalid choice: 'model_parallel'"),
        (["--precision", "float8"], "invalid choice: 'float8'"),
        (["--export", "tflite"], "unknown value(s) tflite"),
        (["--epochs", "0"], "--epochs must be >= 1"),
        (["--model-args", "{oops"], "not valid JSON"),
    ],
)
def test_bad_flags_exit_with_one_line(argv, needle):
    with pytest.raises(SystemExit) as e:
        runner.parse_args(CONFIG, argv)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_missing_data_path(tmp_path):
    with pytest.raises(SystemExit) as e:
        runner.main(CONFIG, _argv(tmp_path / "run", "--data", str(tmp_path / "nope")))
    assert "no such file or directory" in str(e.value) and "\n" not in str(e.value)


def test_data_path_without_dataset(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as e:
        runner.main(CONFIG, _argv(tmp_path / "run", "--data", str(tmp_path / "empty")))
    assert "no MIT-BIH (WFDB) data found" in str(e.value)


def test_unknown_model(tmp_path):
    with pytest.raises(SystemExit) as e:
        runner.main(CONFIG, _argv(tmp_path / "run", "--data", "synthetic", "--model", "cnn9d"))
    assert "unknown model 'cnn9d'" in str(e.value)


def test_one_class_dataset(tmp_path, monkeypatch):
    from keras_ecg.data import synthetic

    real = synthetic.record_beats

    def one_class(*a, **kw):
        ds = real(*a, **kw)
        return ds.subset(np.flatnonzero(ds.y == 0))

    monkeypatch.setattr(synthetic, "record_beats", one_class)
    with pytest.raises(SystemExit) as e:
        runner.main(CONFIG, _argv(tmp_path / "run", "--data", "synthetic"))
    assert "1 class (N)" in str(e.value) and "at least two classes" in str(e.value)


def test_split_inter_needs_records_for_csv(tmp_path):
    d = tmp_path / "csv"
    d.mkdir()
    for n in ("mitbih_train.csv", "mitbih_test.csv"):
        (d / n).write_text("0\n")
    with pytest.raises(SystemExit) as e:
        runner.main(CONFIG, _argv(tmp_path / "run", "--data", str(d), "--source", "csv"))
    assert "use --split intra" in str(e.value)


def test_kaggle_csv_source_intra(tmp_path):
    from keras_ecg.data import mitbih, signal, synthetic, splits

    ds = synthetic.beats(n_per_class=12, window=187, seed=0)
    ds.x = signal.minmax(ds.x, axis=-1)
    train, test = splits.intra_patient(ds, test_size=0.3, seed=0)
    d = tmp_path / "kaggle"
    mitbih.write_kaggle_csv(d / "mitbih_train.csv", train)
    mitbih.write_kaggle_csv(d / "mitbih_test.csv", test)
    out = tmp_path / "run"
    reports = runner.main(CONFIG, _argv(out, "--data", str(d), "--source", "csv", "--split", "intra", "--no-plots"))
    rep = reports["cnn_lstm"]
    assert rep["split"].startswith("kaggle") and rep["num_test"] == len(test) and rep["synthetic"] is False
    assert rep["extra"]["preprocessing"]["format"] == "kaggle_csv"
    assert rep["extra"]["input_shape"] == [187, 1]


def test_rr_and_template_model_trains_exports_and_predicts_a_record(tmp_path, offline, capsys):
    """The main job's two-input model (beats + RR features): fit, report, every export format, predict."""
    pytest.importorskip("wfdb")
    from test_predict import _write_record

    from keras_ecg import cli

    out = tmp_path / "run"
    config = {**CONFIG, "rr_features": True, "template_beats": 4}
    runner.main(config, _argv(out, "--data", "synthetic", "--export", "keras,saved_model,onnx"))
    card = json.loads((out / "model_card.json").read_text())
    assert [i["name"] for i in card["inputs"]] == ["input", "rr"] and card["inputs"][0]["shape"] == [None, 70, 2]
    assert card["preprocessing"]["template_beats"] == 4 and len(card["preprocessing"]["rr_features"]) == 8
    assert card["rhythm"]["af_rule"] == "no_s_in_af" and card["rhythm"]["af_detector"] == "irregularity"
    assert set(card["files"]) == {"keras", "saved_model", "onnx"}  # each verified against the model
    base, n = _write_record(tmp_path / "rec")
    capsys.readouterr()
    cli.main(["predict", str(out / "model.keras"), str(base), "--json", "--backend", _backend()])
    res = json.loads(capsys.readouterr().out)["results"][0]
    assert res["type"] == "record" and n - 3 <= res["beats"] <= n and sum(res["counts"].values()) == res["beats"]


def test_members_train_apart_and_export_one_averaged_model(tmp_path, offline, capsys):
    """--members 2 with shape features: two members fitted in members/1 and members/2, one exported model
    whose output is the mean of its members', rebuilt from the card, predicting a record."""
    pytest.importorskip("wfdb")
    from test_predict import _write_record

    import keras_ecg
    from keras_ecg import cli
    from keras_ecg.models.ensemble import member_models

    out = tmp_path / "run"
    config = {**CONFIG, "model": "cnn1d", "rr_features": True, "template_beats": 4, "shape_features": True}
    argv = _argv(out, "--data", "synthetic", "--members", "2", "--export", "keras,onnx")
    argv[argv.index("--model-args") + 1] = json.dumps({"filters": [4], "dense_units": [4], "dropout": 0.0})
    reports = runner.main(config, argv)
    assert [m["seed"] for m in reports["cnn1d"]["extra"]["members"]] == [0, 1000]
    for k in (1, 2):
        assert (out / "members" / str(k) / "checkpoints" / "best.weights.h5").exists()
    card = json.loads((out / "model_card.json").read_text())
    assert card["model_args"]["members"] == 2 and card["inputs"][1]["shape"] == [None, 16]
    assert len(card["preprocessing"]["shape_features"]) == 8 and set(card["files"]) == {"keras", "onnx"}
    model = keras_ecg.load_model(out / "model.keras")
    members = member_models(model)
    assert [m.name for m in members] == ["member1", "member2"]
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(5, 70, 2)).astype("float32"), rng.normal(size=(5, 16)).astype("float32")]
    mean = np.mean([np.asarray(m.predict(x, verbose=0)) for m in members], axis=0)
    np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)), mean, atol=1e-6)
    assert not np.allclose(members[0].predict(x, verbose=0), members[1].predict(x, verbose=0))  # trained apart
    rebuilt = keras_ecg.build(card["model"], **card["model_args"])
    assert rebuilt.count_params() == model.count_params()
    base, n = _write_record(tmp_path / "rec")
    capsys.readouterr()
    cli.main(["predict", str(out / "model.keras"), str(base), "--json", "--backend", _backend()])
    res = json.loads(capsys.readouterr().out)["results"][0]
    assert res["type"] == "record" and n - 3 <= res["beats"] <= n


def test_ds1cv_trains_on_one_ds1_fold_and_scores_the_other(tmp_path, offline):
    """--split ds1cv --fold 0: fold B trains (validated on 223 and 207), fold A is scored with EC57 figures on
    reference and detected beats; DS2 records in the folder are not read."""
    from test_predict import _write_record

    for name in ["109", "207", "223", "101", "100"]:
        _write_record(tmp_path / "mitdb", name)
    out = tmp_path / "run"
    runner.main(CONFIG, _argv(out, "--data", str(tmp_path / "mitdb"), "--split", "ds1cv", "--fold", "0", "--no-plots"))
    rep = json.loads((out / "report.json").read_text())
    assert "ds1cv fold 0 held out" in rep["split"] and "DS2 unused" in rep["split"]
    assert rep["extra"]["validation"] == "records 223, 207 of the training side"
    assert rep["ec57"]["records"] == ["101"] and rep["ec57"]["reference"]["n"] == rep["num_test"] > 0
    assert rep["ec57"]["detected"]["n"] > 0
    assert "100" not in json.dumps(rep.get("warnings", []))  # DS2 is not even listed as missing
