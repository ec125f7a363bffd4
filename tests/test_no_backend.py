"""make test's one run of the tests marked ``backend_free``: no Keras backend can be imported there, in pytest's
processes or in a subprocess a test starts (``tests/conftest.py``, ``tests/no_backend/sitecustomize.py``)."""

import importlib
import os
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.backend_free,
    pytest.mark.skipif(not os.environ.get("KERAS_ECG_TEST_NO_BACKEND"),
                       reason="checks make test's run of the backend_free tests (KERAS_ECG_TEST_NO_BACKEND=1)"),
]

BACKEND_MODULES = ("keras", "tensorflow", "jax", "torch")


@pytest.mark.parametrize("module", BACKEND_MODULES)
def test_a_backend_import_fails_in_this_process(module):
    with pytest.raises(ImportError, match=f"import {module}: a test marked backend_free"):
        importlib.import_module(module)


def test_a_backend_import_fails_in_a_subprocess():
    code = "import keras_ecg.cli\nimport keras\n"  # keras_ecg itself imports no backend
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "import keras: a test marked backend_free" in done.stderr, done.stderr[-2000:]
