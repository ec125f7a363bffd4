"""Shared test fixtures.

The suite runs once per backend (``KERAS_BACKEND``), except the tests marked ``backend_free``: they use no
backend, and make test runs them once (see ``KERAS_ECG_TEST_NO_BACKEND`` below). Tests on real data read
``$KERAS_ECG_DATA`` (``.ci/run`` points it at ``../shared/data``) and are
skipped with a visible reason when it is unset or lacks the dataset.
"""

import os
import pathlib

import numpy as np
import pytest

DATA_ENV = "KERAS_ECG_DATA"

# JAX on the CPU: XLA compiles every model a test builds, and at LLVM's default optimisation the compile
# takes most of the JAX run (the suite's models are tiny, so the code it makes barely matters: test_models
# 124 s -> 90 s on 2 Xeon cores). Set before any test imports jax; subprocesses inherit it. Tests only:
# what users run compiles at XLA's defaults. KERAS_ECG_TEST_XLA_FLAGS="" keeps the defaults.
_XLA_TEST_FLAGS = os.environ.get("KERAS_ECG_TEST_XLA_FLAGS", "--xla_backend_optimization_level=0")
if _XLA_TEST_FLAGS and "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_XLA_TEST_FLAGS}".strip()

# JAX again: many tests compile the same tiny graphs (a model and its clone or reloaded file, the shared beat
# model in several files, both processes of a multi-host run). JAX's persistent compilation cache, in one
# folder for the run (made by the process that loads this file first; xdist workers and subprocesses inherit
# it), compiles each once: test_models + test_layers 113 s -> 95 s cold. A size bound turns on JAX's file lock,
# so two workers never read an entry half-written. Tests only; KERAS_ECG_TEST_JAX_CACHE="" turns it off.
if os.environ.get("KERAS_ECG_TEST_JAX_CACHE", "1") and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _jax_cache = tempfile.mkdtemp(prefix="keras_ecg_test_jax_cache_")
    atexit.register(shutil.rmtree, _jax_cache, ignore_errors=True)
    os.environ.update(JAX_COMPILATION_CACHE_DIR=_jax_cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                      JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0", JAX_COMPILATION_CACHE_MAX_SIZE=str(4 << 30))


# make test runs the tests marked backend_free once, with KERAS_ECG_TEST_NO_BACKEND set, and the rest once per
# backend (-m "not backend_free"). Here any import of keras, TensorFlow, JAX or torch then fails, in this
# process and (through PYTHONPATH) in every subprocess: a marked test that passes cannot depend on the backend.
if os.environ.get("KERAS_ECG_TEST_NO_BACKEND"):
    import importlib.util
    import sys

    _blocker = pathlib.Path(__file__).with_name("no_backend") / "sitecustomize.py"
    _spec = importlib.util.spec_from_file_location("keras_ecg_test_no_backend", _blocker)
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
    _loaded = [m for m in _module.BACKEND_MODULES if m in sys.modules]
    if _loaded:
        raise pytest.UsageError(f"KERAS_ECG_TEST_NO_BACKEND: {', '.join(_loaded)} imported before the tests")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(_blocker.parent), os.environ.get("PYTHONPATH")) if p)


def real_data(subdir: str) -> pathlib.Path:
    """Path of a real dataset under $KERAS_ECG_DATA, or skip the test."""
    root = os.environ.get(DATA_ENV)
    if not root:
        pytest.skip(f"real data: set {DATA_ENV} (e.g. ../shared/data) to run")
    path = pathlib.Path(root) / subdir
    if not path.exists():
        pytest.skip(f"real data: {path} does not exist")
    return path


@pytest.fixture
def mitdb_dir():
    return real_data("mitdb")


@pytest.fixture
def ecg_images_dir():
    return real_data("ecg_images")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def xbackend_files():
    """``{backend: folder}`` of models saved under each backend (tests/make_xbackend_files.py)."""
    from model_specs import BACKENDS, xbackend_folders

    return xbackend_folders(BACKENDS)


@pytest.fixture(scope="session")
def beat_model(tmp_path_factory):
    """The small trained beat classifier of ``beat_model_helper`` (its ``.keras`` path), trained once per run and
    shared by the annotate, evaluate, calibration and output-folder tests. Read it only: a test that changes its
    folder (a card, a calibration) works on a copy."""
    import beat_model_helper

    return beat_model_helper.make(tmp_path_factory.mktemp("beat_model"))


@pytest.fixture(scope="session")
def backend_name():
    import keras

    return keras.backend.backend()


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No $KERAS_ECG_DATA, an empty keras cache, no download (data resolution falls back to synthetic)."""
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("KERAS_ECG_OFFLINE", "1")


# The longest files first (about 15-110 s each in the JAX run, --durations on 2 Xeon cores), in that order,
# then the rest as collected: with two xdist workers taking one file at a time (--dist loadfile), a long file
# started last would leave one worker idle while the other finishes it.
LONGEST_FIRST = ("test_models.py", "test_explain.py", "test_digitized_model.py", "test_pretrained.py",
                 "test_runner.py", "test_layers.py", "test_bundle.py", "test_export.py", "test_multihost.py",
                 "test_card.py", "test_backend_choice.py", "test_cv.py", "test_distributed.py",
                 "test_formats_commands.py", "test_benchmarks.py", "test_calibration.py",
                 "test_viewer_browser.py", "test_stream.py", "test_panels.py")


def pytest_ignore_collect(collection_path, config):
    """With KERAS_ECG_TEST_NO_BACKEND, a test file that marks nothing backend_free is not even imported (many
    import keras at the top)."""
    if os.environ.get("KERAS_ECG_TEST_NO_BACKEND") and collection_path.suffix == ".py" \
            and collection_path.name.startswith("test_"):
        return "backend_free" not in collection_path.read_text() or None
    return None


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order
