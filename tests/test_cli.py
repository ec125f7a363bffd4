"""The `keras-ecg` command line: subcommands, defaults from the run configuration, one-line errors."""

import subprocess
import sys

import pytest

from keras_ecg import cli, config, errors
from keras_ecg.training import runner

pytestmark = pytest.mark.backend_free


def test_train_forwards_to_runner(monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(runner, "main", lambda config, argv: seen.update(config=config, argv=argv))
    cli.main(["train", "--task", "images", "--binary", "--classes", "normal,mi", "--model", "cnn2d", "--epochs", "2"])
    assert seen["config"]["task"] == "images" and seen["config"]["binary"] is True
    assert seen["config"]["classes"] == ["normal", "mi"] and seen["argv"] == ["--model", "cnn2d", "--epochs", "2"]
    with pytest.raises(SystemExit, match="unknown command 'fly'"):
        cli.main(["fly"])
    cli.main(["models", "cnn*"])
    assert "cnn_lstm" in capsys.readouterr().out


@pytest.mark.parametrize("task", ["mitbih", "images"])
def test_train_defaults_come_from_the_run_config(task):
    cfg = runner.parse_args(cli.TRAIN_DEFAULTS[task], ["--data", "synthetic"])
    overlay = config.TASK_DEFAULTS.get(task, {})
    for key in ("epochs", "batch_size", "patience", "learning_rate", "synthetic_n"):
        assert getattr(cfg, key) == overlay.get(key, config.default(key)), key
    assert set(cli.TRAIN_DEFAULTS[task]) <= {"name", "task", "model"}  # nothing else redefined here


def test_models_lists_input_kinds_without_keras():
    code = ("import sys; from keras_ecg import cli; cli.main(['models']); "
            "assert 'keras' not in sys.modules, 'keras imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split() for line in done.stdout.splitlines())
    assert lines["cnn_lstm"] == "waveform" and lines["attention_vgg"] == "image" and lines["td_cnn"] == "panels"


@pytest.mark.parametrize("exc", [errors.DataError("x.csv: not a CSV"), errors.CardError("card.json: no classes"),
                                 errors.RunError("--out: taken"), errors.ExportError("onnx: mismatch")])
def test_any_keras_ecg_error_is_one_line(monkeypatch, exc):
    def boom(argv):
        raise exc

    monkeypatch.setitem(cli.COMMANDS, "models", boom)
    with pytest.raises(SystemExit) as e:
        cli.main(["models"])
    assert str(e.value) == f"keras-ecg models: error: {exc}"


def test_predict_missing_model_is_one_line_without_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "keras_ecg.cli", "predict", str(tmp_path / "nope.keras"),
                           str(tmp_path / "x.csv")], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [f"keras-ecg predict: error: {tmp_path / 'nope.keras'}: no such model file"]


def test_recipe_errors_are_one_line_without_traceback(tmp_path):
    code = ("from keras_ecg.training import runner; runner.main({'name': 'r', 'model': 'cnn1d', 'epoch': 2}, "
            "['--out', %r])" % str(tmp_path / "run"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip() == "r: error: recipe r CONFIG: unknown setting 'epoch'; did you mean 'epochs'?"
