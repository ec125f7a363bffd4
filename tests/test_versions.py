"""keras_ecg.versions: the one version probe used by reports, model cards and benchmarks."""

from importlib import metadata

from keras_ecg import versions


def test_package_versions_reads_installed_metadata():
    out = versions.package_versions("torch", extra=("numpy", "surely-not-installed-pkg"))
    assert list(out)[:4] == ["python", "keras_ecg", "keras", "numpy"]
    assert out["keras"] == metadata.version("keras") and out["numpy"] == metadata.version("numpy")
    assert "torch" in out and out["surely-not-installed-pkg"] is None


def test_default_backend_without_importing_keras(monkeypatch):
    import subprocess
    import sys

    code = ("import sys; from keras_ecg import versions; v = versions.package_versions(); "
            "print('keras' in sys.modules, 'jax' in v)")
    env = {"KERAS_BACKEND": "jax", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split() == ["False", "True"]
