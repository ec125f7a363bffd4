"""Choosing the backend: the one default, ``--backend auto`` (measure each backend once, pick the
fastest, cache the choice) end to end through a recipe, and model names checked without keras."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import pytest

from keras_ecg import autobackend, backend, registry
from keras_ecg.errors import KerasECGError
from keras_ecg.training import runner

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = json.dumps({"filters": [4], "units": [4], "dense_units": [4], "dropout": 0.0})


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_ECG_CACHE", str(tmp_path))
    return tmp_path / "backend_choice.json"


def test_picks_the_fastest_and_caches_the_choice(cache, monkeypatch):
    rates = {"tensorflow": 100.0, "jax": 300.0, "torch": 200.0}
    measured = []
    monkeypatch.setattr(autobackend, "measure", lambda b, *a, **k: measured.append(b) or rates[b])
    kwargs = dict(backends=list(rates), log=lambda m: None)
    assert autobackend.choose("cnn_lstm", (187, 1), **kwargs) == "jax"
    assert measured == list(rates)
    assert cache.exists()
    rates["torch"] = 1000.0  # a later call must not measure again
    assert autobackend.choose("cnn_lstm", (187, 1), **kwargs) == "jax"
    assert len(measured) == 3
    assert autobackend.choose("cnn_lstm", (187, 1), refresh=True, **kwargs) == "torch"
    # another model or input shape is measured on its own
    assert autobackend.choose("cnn1d", (187, 1), **kwargs) == "torch"
    assert len(measured) == 9


def test_a_failing_backend_is_skipped_and_all_failing_is_an_error(cache, monkeypatch):
    monkeypatch.setattr(autobackend, "measure", lambda b, *a, **k: None if b == "jax" else 50.0)
    assert autobackend.choose("lstm", (50, 1), backends=["jax", "torch"], log=lambda m: None) == "torch"
    monkeypatch.setattr(autobackend, "measure", lambda *a, **k: None)
    with pytest.raises(RuntimeError, match="no backend could train"):
        autobackend.choose("gru", (50, 1), backends=["jax"], log=lambda m: None)


def test_measure_trains_in_a_subprocess_on_this_backend():
    rate = autobackend.measure(keras.backend.backend(), "cnn1d", (32, 1), batch_size=16, steps=4)
    assert rate is not None and rate > 0


def test_one_default_backend(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert backend.default() == backend.DEFAULT == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "")
    assert backend.default() == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "theano")  # a name that is no backend is an error, never silently jax
    with pytest.raises(KerasECGError, match="KERAS_BACKEND='theano'"):
        backend.default()
    with pytest.raises(SystemExit) as e:
        runner.parse_args({"model": "cnn1d"}, [])
    assert "KERAS_BACKEND='theano'" in str(e.value) and "\n" not in str(e.value)
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert backend.default() == "torch"
    assert runner.parse_args({"model": "cnn1d"}, []).backend == "torch"


def test_cache_root_is_shared_with_the_data_cache(monkeypatch, tmp_path):
    from keras_ecg.data import cache

    monkeypatch.setenv("KERAS_ECG_CACHE", str(tmp_path))
    assert autobackend._cache_file() == cache.cache_dir() / "backend_choice.json" == tmp_path / "backend_choice.json"


def test_registry_names_and_kinds_need_no_keras():
    code = ("import sys; from keras_ecg import registry; names = registry.list_models(); "
            "kinds = {n: registry.input_kind(n) for n in names}; assert 'keras' not in sys.modules; print(len(kinds))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(registry.BUILTIN_KINDS)


def test_static_kinds_match_the_registered_models():
    registry._load()
    assert {k: v["input_kind"] for k, v in registry._REGISTRY.items() if k in registry.BUILTIN_KINDS} == \
        registry.BUILTIN_KINDS
    assert set(registry.BUILTIN_KINDS) <= set(registry._REGISTRY)
    with pytest.raises(KeyError, match="Did you mean 'cnn_lstm'"):
        registry.input_kind("cnn_lstn")


def test_backend_auto_uses_autobackend(monkeypatch):
    seen = {}

    def choose(model, shape, num_classes=5, batch_size=64, log=print, **kw):
        seen.update(model=model, shape=shape, num_classes=num_classes, batch_size=batch_size)
        return "jax"

    monkeypatch.setattr(autobackend, "choose", choose)
    cfg = runner.parse_args({"model": "cnn_lstm", "fs": 100, "template_beats": 0}, ["--backend", "auto", "--batch-size", "8"])
    assert runner._auto_backend(cfg) == "jax"
    assert seen == {"model": "cnn_lstm", "shape": (70, 1), "num_classes": 5, "batch_size": 8}


_NEXT = {"tensorflow": "jax", "jax": "torch", "torch": "tensorflow"}


def _recipe_input_shape(name):
    """The beat input shape a recipe's MIT-BIH settings give (what --backend auto measures)."""
    import importlib.util

    from keras_ecg.training.sources import beat_spec

    spec = importlib.util.spec_from_file_location(name, ROOT / "recipes" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return beat_spec(runner.parse_args(mod.CONFIG, [])).input_shape


def test_backend_auto_runs_a_recipe_end_to_end(tmp_path):
    """The measured winner runs the recipe, whatever $KERAS_BACKEND says. Each suite pass runs it once, with
    the next backend winning, so the three passes run the recipe once on each backend: with $KERAS_BACKEND set
    to the suite's on the TensorFlow and torch passes, unset on the JAX pass (JAX is the default: the winner,
    torch, is not what an unset variable would give)."""
    suite = keras.backend.backend()
    env_backend = "unset" if suite == backend.DEFAULT else "set"
    winner = _NEXT[suite]
    installed = autobackend.installed_backends()
    if winner not in installed:
        pytest.skip(f"{winner} is not installed")
    cache = tmp_path / "cache"
    cache.mkdir()
    key = autobackend._key("cnn_lstm", _recipe_input_shape("mitbih_hybrid"), 16, installed)
    rates = {b: (100.0 if b == winner else 1.0) for b in installed}
    (cache / "backend_choice.json").write_text(json.dumps({key: {"choice": winner, "samples_per_s": rates}}))
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if env_backend == "set":
        env["KERAS_BACKEND"] = suite
    env.update(KERAS_ECG_CACHE=str(cache), KERAS_ECG_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3")
    out = tmp_path / "run"
    cmd = [sys.executable, str(ROOT / "recipes" / "mitbih_hybrid.py"), "--backend", "auto", "--model", "cnn_lstm",
           "--data", "synthetic",
           "--epochs", "1", "--synthetic-n", "12", "--batch-size", "16", "--members", "1", "--export", "none",
           "--no-plots",
           "--verbose", "0", "--model-args", TINY, "--out", str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"--backend auto: {winner} (cached measurement" in done.stdout
    saved = json.loads((out / runner.RUN_CONFIG).read_text())
    assert saved["config"]["backend"] == winner
    report = json.loads((out / "report.json").read_text())
    assert report["extra"]["model"] == "cnn_lstm" and report["synthetic"] is True
