"""The shared recipe runner, end to end on tiny synthetic data, and its bad-input errors.

Runs in-process with the suite's backend (``KERAS_BACKEND``), 1 epoch, tiny models.
"""

import hashlib
import json
import os
import pathlib

import numpy as np
import pytest

from keras_ecg import runner, sources

TINY = json.dumps({"filters": [4], "units": [4], "dense_units": [4], "dropout": 0.0})
CONFIG = {
    "name": "test_recipe",
    "task": "mitbih",
    "model": "cnn_lstm",
    "window": 64,
    "fs": 125,
    "epochs": 1,
    "batch_size": 32,
    "synthetic_n": 16,
}


def _backend():
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def _argv(out, *extra):
    return ["--backend", _backend(), "--out", str(out), "--model-args", TINY, "--export", "none",
            "--verbose", "0", *extra]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No $KERAS_ECG_DATA, an empty keras cache, no download."""
    monkeypatch.delenv(sources.DATA_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv(sources.OFFLINE_ENV, "1")


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
    assert card["input_kind"] == "waveform" and card["preprocessing"]["window"] == 64
    # the run's export is what `keras-ecg predict` reads
    from keras_ecg import cli

    beats = tmp_path / "beats.csv"
    np.savetxt(beats, np.random.default_rng(0).normal(size=(2, 64)), delimiter=",")
    capsys.readouterr()
    cli.main(["predict", str(out / "model.keras"), str(beats), "--json", "--backend", _backend()])
    res = json.loads(capsys.readouterr().out)["results"][0]
    assert res["beats"] == 2 and set(res["items"][0]["probabilities"]) == {"N", "S", "V", "F", "Q"}


def test_same_config_reruns_different_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    args = runner.parse_args(CONFIG, _argv(out, "--data", "synthetic"))
    other = runner._run_config(CONFIG, args, ["cnn_lstm"])
    other["seed"] = 99
    (out / runner.RUN_CONFIG).write_text(json.dumps({"config": other}))
    with pytest.raises(SystemExit) as e:
        runner.main(CONFIG, _argv(out, "--data", "synthetic"))
    msg = str(e.value)
    assert "already holds a different run" in msg and "seed" in msg and "\n" not in msg
    same = runner._run_config(CONFIG, args, ["cnn_lstm"])
    runner.check_out_dir(out, {**same, "seed": 99}, overwrite=False, resume=False)  # same run: accepted
    runner.check_out_dir(out, same, overwrite=True, resume=False)  # different, --overwrite: cleared
    assert not (out / runner.RUN_CONFIG).exists()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--backend", "theano"], "invalid choice: 'theano'"),
        (["--strategy", "model_parallel"], "invalid choice: 'model_parallel'"),
        (["--precision", "float8"], "invalid choice: 'float8'"),
        (["--export", "tflite"], "unknown format"),
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

    real = synthetic.beats

    def one_class(**kw):
        ds = real(**kw)
        return ds.subset(np.flatnonzero(ds.y == 0))

    monkeypatch.setattr(synthetic, "beats", one_class)
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


# ----------------------------------------------------------------------------- data resolution


def test_resolve_order(tmp_path, monkeypatch, offline):
    mitdb = tmp_path / "root" / "mitdb"
    mitdb.mkdir(parents=True)
    (mitdb / "100.hea").write_text("100 2 360 10\n")
    assert sources.resolve(str(tmp_path / "root"), "mitdb").path == mitdb
    assert sources.resolve(str(mitdb), "mitdb").path == mitdb
    assert sources.resolve("auto", "mitdb").synthetic
    monkeypatch.setenv(sources.DATA_ENV, str(tmp_path / "root"))
    assert sources.resolve("auto", "mitdb").path == mitdb
    assert sources.resolve("synthetic", "mitdb").synthetic
    monkeypatch.delenv(sources.DATA_ENV)
    cache = sources.keras_datasets_dir() / "mitdb"
    cache.mkdir(parents=True)
    (cache / "101.hea").write_text("101 2 360 10\n")
    res = sources.resolve("auto", "mitdb")
    assert res.path == cache and "cache" in res.how


def _fake_server(files):
    def fetch(url, dest, timeout=30.0):
        name = url.rsplit("/", 1)[1]
        if name not in files:
            raise OSError(f"404 {url}")
        pathlib.Path(dest).write_bytes(files[name])

    return fetch


def test_download_verifies_checksums(tmp_path, monkeypatch, offline):
    files = {"100.hea": b"100 2 360 10\r\n", "100.dat": b"\x00" * 30, "100.atr": b"\x01\x02"}
    sums = {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}
    monkeypatch.setattr(sources, "fetch", _fake_server(files))
    dest = sources.download_mitdb(tmp_path / "mitdb", sums=sums, log=lambda m: None)
    assert sorted(p.name for p in dest.iterdir()) == ["100.atr", "100.dat", "100.hea", "RECORDS"]

    bad = dict(sums, **{"100.dat": "0" * 64})
    with pytest.raises(sources.DataError, match="SHA256 mismatch"):
        sources.download_mitdb(tmp_path / "mitdb2", sums=bad, log=lambda m: None)
    assert not (tmp_path / "mitdb2").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mitdb-download")]


def test_auto_downloads_into_keras_cache(tmp_path, monkeypatch, offline):
    files = {"100.hea": b"100 2 360 10\r\n", "100.dat": b"\x00" * 30}
    sums = {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}
    monkeypatch.delenv(sources.OFFLINE_ENV)
    monkeypatch.setattr(sources, "fetch", _fake_server(files))
    monkeypatch.setattr(sources, "read_sha256sums", lambda path=None: sums)
    res = sources.resolve("auto", "mitdb", log=lambda m: None)
    assert res.path == sources.keras_datasets_dir() / "mitdb" and "SHA256 verified" in res.how
    # a failing download falls back to synthetic data with the reason in the warning
    monkeypatch.setattr(sources, "fetch", _fake_server({}))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "other_home"))
    res = sources.resolve("auto", "mitdb", log=lambda m: None)
    assert res.synthetic and "download failed: 404" in res.warnings[0]


def test_shipped_checksums_cover_mitdb():
    sums = sources.read_sha256sums()
    assert len(sums) == 144 and sums["100.hea"].startswith("60ebc904")


def test_cli_train_forwards_to_runner(monkeypatch, capsys):
    from keras_ecg import cli

    seen = {}
    monkeypatch.setattr(runner, "main", lambda config, argv: seen.update(config=config, argv=argv))
    cli.main(["train", "--task", "images", "--binary", "--classes", "normal,mi", "--model", "cnn2d", "--epochs", "2"])
    assert seen["config"]["task"] == "images" and seen["config"]["binary"] is True
    assert seen["config"]["classes"] == ["normal", "mi"] and seen["argv"] == ["--model", "cnn2d", "--epochs", "2"]
    with pytest.raises(SystemExit, match="unknown command 'fly'"):
        cli.main(["fly"])
    cli.main(["models", "cnn*"])
    assert "cnn_lstm" in capsys.readouterr().out


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


def test_backend_auto_uses_autobackend(monkeypatch):
    from keras_ecg import autobackend

    seen = {}

    def choose(model, shape, num_classes=5, batch_size=64, log=print, **kw):
        seen.update(model=model, shape=shape, num_classes=num_classes, batch_size=batch_size)
        return "jax"

    monkeypatch.setattr(autobackend, "choose", choose)
    args = runner.parse_args(CONFIG, ["--backend", "auto", "--batch-size", "8"])
    assert runner._auto_backend(CONFIG, args) == "jax"
    assert seen == {"model": "cnn_lstm", "shape": (64, 1), "num_classes": 5, "batch_size": 8}
