"""Make any import of a Keras backend fail: make test's one run of the tests marked ``backend_free``.

``tests/conftest.py`` installs it when ``KERAS_ECG_TEST_NO_BACKEND`` is set, in pytest's own processes, and
puts this folder first on ``PYTHONPATH`` so that Python loads it, as ``sitecustomize``, in every subprocess
a test starts. A test that passes under it imports neither keras nor TensorFlow, JAX or torch, here or in a
subprocess: it cannot depend on ``KERAS_BACKEND``, so it runs once instead of once per backend.
"""

import sys

BACKEND_MODULES = ("keras", "tensorflow", "jax", "jaxlib", "torch")


class BackendBlocker:
    """A ``sys.meta_path`` finder that refuses the backend modules with a one-line reason."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BACKEND_MODULES:
            raise ImportError(f"import {name}: a test marked backend_free must not use a Keras backend "
                              "(make test runs those tests once, with none installed)")
        return None


if not any(type(f).__name__ == "BackendBlocker" for f in sys.meta_path):
    sys.meta_path.insert(0, BackendBlocker())
