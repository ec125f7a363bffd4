"""The typed run configuration: one default/type/help per setting, checked recipes, generated flags, reload."""

import dataclasses
import json
import pathlib
import runpy

import pytest

from keras_ecg import config
from keras_ecg.training import runner
from keras_ecg.config import RunConfig
from keras_ecg.errors import RunError
from keras_ecg.training import TrainConfig

pytestmark = pytest.mark.backend_free


ROOT = pathlib.Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.py"))
# Every flag the recipes took before the configuration was typed.
OLD_FLAGS = ["--backend", "--strategy", "--precision", "--epochs", "--batch-size", "--lr", "--patience", "--monitor",
             "--data", "--out", "--seed", "--resume", "--overwrite", "--balance", "--class-weight",
             "--class-weight-cap", "--augment", "--bn-momentum", "--tensorboard", "--no-plots", "--export",
             "--verbose", "--synthetic-n", "--model-args", "--model"]
TASK_FLAGS = {"mitbih": ["--split", "--source", "--mi-top"], "images": ["--image-size"]}


def test_every_setting_has_one_type_default_and_help():
    for f in dataclasses.fields(RunConfig):
        assert f.metadata["help"] and "\n" not in f.metadata["help"], f.name
        assert f.type, f.name
        config.default(f.name)  # exists
        assert f.metadata["group"] in ("common", *config.TASKS), f.name
    flags = [config.flag_name(f) for f in dataclasses.fields(RunConfig) if f.metadata["flag"]]
    assert len(flags) == len(set(flags))


@pytest.mark.parametrize("task", config.TASKS)
def test_parser_is_generated_with_every_old_flag(task):
    parser = runner.build_parser(RunConfig.for_recipe({"task": task, "name": "r"}))
    options = {o for a in parser._actions for o in a.option_strings}
    assert set(OLD_FLAGS + TASK_FLAGS[task]) <= options
    other = [f for t, fs in TASK_FLAGS.items() if t != task for f in fs]
    assert not options & set(other)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipes_validate(path):
    recipe = runpy.run_path(str(path), run_name="recipe")["CONFIG"]
    cfg = RunConfig.for_recipe(recipe)
    assert cfg.name == path.stem and cfg.model


@pytest.mark.parametrize("recipe, needle", [
    ({"epoch": 3}, "unknown setting 'epoch'; did you mean 'epochs'?"),
    ({"lr": 0.1}, "unknown setting 'lr'; did you mean 'learning_rate'?"),
    ({"bacth_size": 3}, "did you mean 'batch_size'"),
    ({"epochs": "3"}, "setting 'epochs' must be int, got '3'"),
    ({"augment": 1}, "setting 'augment' must be bool"),
    ({"monitor": "val_f1"}, "'val_f1' is not one of val_loss, val_macro_f1, val_accuracy (did you mean 'val_macro_f1'?)"),
    ({"export": ["keras", "tflite"]}, "'tflite' is not one of keras, saved_model, onnx"),
    ({"epochs": 0}, "--epochs must be >= 1"),
    ({"val_size": 1.5}, "val_size must lie between 0 and 1"),
])
def test_bad_recipe_settings_are_named(recipe, needle):
    with pytest.raises(RunError) as e:
        RunConfig.for_recipe({"name": "r", **recipe})
    assert needle in str(e.value) and str(e.value).startswith("recipe r CONFIG") and "\n" not in str(e.value)
    with pytest.raises(SystemExit, match="^r: error: recipe r CONFIG"):
        runner.parse_args({"name": "r", **recipe}, [])


def test_task_overlay_and_recipe_precedence():
    images = RunConfig.for_recipe({"task": "images"})
    assert images.batch_size == config.TASK_DEFAULTS["images"]["batch_size"] != config.default("batch_size")
    assert RunConfig.for_recipe({"task": "images", "batch_size": 4}).batch_size == 4
    assert RunConfig.for_recipe({}).batch_size == config.default("batch_size")
    assert RunConfig.for_recipe({"fs": 360}).fs == 360.0 and RunConfig.for_recipe({"model": ["a", "b"]}).model == "a,b"


def test_flags_override_recipe_and_convert():
    cfg = runner.parse_args({"name": "r", "epochs": 7, "export": ["keras"]},
                            ["--lr", "0.01", "--export", "keras,onnx", "--verbose", "2", "--no-plots",
                             "--model-args", '{"units": [8]}', "--augment"])
    assert (cfg.epochs, cfg.learning_rate, cfg.export, cfg.verbose, cfg.plots) == (7, 0.01, ["keras", "onnx"], 2, False)
    assert cfg.builder_args == {"units": [8]} and cfg.augment is True
    assert runner.parse_args({"name": "r"}, ["--export", "none"]).export == []
    assert runner.parse_args({"name": "r", "export": ["keras"]}, []).export == ["keras"]


def test_train_config_defaults_are_the_run_config_defaults():
    for f in dataclasses.fields(TrainConfig):
        if f.name != "augment":
            assert f.default == config.default(f.name), f.name
    cfg = RunConfig.for_recipe({"task": "images"})
    assert TrainConfig.from_run(cfg).batch_size == cfg.batch_size


def test_run_config_json_round_trip():
    cfg = runner.parse_args({"name": "r", "task": "images", "classes": ["normal", "mi"], "model": "cnn2d"},
                            ["--seed", "3", "--export", "keras"])
    again = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    with pytest.raises(RunError, match="run_config.json: unknown setting 'sed'"):
        RunConfig.from_dict({**cfg.to_dict(), "sed": 1}, what="run_config.json")


def test_resume_reloads_the_saved_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    saved = runner.parse_args({"name": "r", "model": "cnn1d"},
                              ["--out", str(out), "--seed", "7", "--class-weight", "sqrt", "--backend", "torch"])
    (out / runner.RUN_CONFIG).write_text(json.dumps({"config": saved.to_dict()}))
    cfg = runner.parse_args({"name": "r", "model": "cnn1d"}, ["--out", str(out), "--resume", "--epochs", "9"])
    assert (cfg.seed, cfg.class_weight, cfg.backend, cfg.epochs, cfg.resume) == (7, "sqrt", "torch", 9, True)
    assert cfg.identity() == saved.identity()  # the same run: check_out_dir accepts the folder
    runner.check_out_dir(out, cfg.to_dict(), overwrite=False, resume=True)
    (out / runner.RUN_CONFIG).write_text("{broken")
    with pytest.raises(SystemExit, match="cannot reload the run's settings"):
        runner.parse_args({"name": "r", "model": "cnn1d"}, ["--out", str(out), "--resume"])
