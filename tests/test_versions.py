"""keras_ecg.versions: the one version probe used by reports, model cards and benchmarks."""

from importlib import metadata

import pytest

from keras_ecg import versions

pytestmark = pytest.mark.backend_free


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


def test_version_comes_from_the_package_metadata_and_pyproject():
    import pathlib
    import tomllib

    import keras_ecg

    pyproject = tomllib.loads((pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert keras_ecg.__version__ == metadata.version("keras-ecg") == pyproject["project"]["version"]


def test_cli_version_prints_the_package_version(capsys):
    import keras_ecg
    from keras_ecg import cli

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"keras-ecg {keras_ecg.__version__}"
