"""Every command and Python example of the README and the docs runs (docsgen/examples.py says how blocks
are marked), and the README's headline figures are the results files' own.

The examples run once per ``make test``, in their own step (KERAS_ECG_DOCS_EXAMPLES=1), not in the backend
runs: they are commands a user types, not backend tests (they run on ``BACKEND`` below). The blocks of one page
run in order in one fresh folder on synthetic or generated data; blocks marked ``needs-data`` run only when
KERAS_ECG_DATA is set.
"""

import os
import pathlib
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from docsgen import examples, readme

ROOT = pathlib.Path(__file__).resolve().parents[1]
ONCE = os.environ.get("KERAS_ECG_DOCS_EXAMPLES") == "1"
TIMEOUT_S = 300
# The backend the examples' commands run on (those that do not choose one): torch, whose one-shot commands
# start fastest here (a page prediction: 13 s of CPU against JAX's 21 s, which compiles every weight's
# initialiser); the suite's backend tests cover all three.
BACKEND = os.environ.get("KERAS_ECG_DOCS_BACKEND", "torch")

if not ONCE:
    pytest.skip("the docs' examples run in their own step of `make test` (KERAS_ECG_DOCS_EXAMPLES=1)",
                allow_module_level=True)

PAGES = {str(p.relative_to(ROOT)): examples.extract(p) for p in examples.pages()}
RUNNABLE = {k: v for k, v in PAGES.items() if any(e.marker in (None, "server") for e in v)}
NEEDS_DATA = {k: v for k, v in PAGES.items() if any(e.marker == "needs-data" for e in v)}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("docs_examples_cache")


def _env(cache_dir):
    env = dict(os.environ)
    env.update(KERAS_BACKEND=BACKEND, KERAS_ECG_OFFLINE="1", KERAS_ECG_CACHE=str(cache_dir), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
               PATH=os.pathsep.join([str(pathlib.Path(sys.executable).parent), env.get("PATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="2")
    return env


def _workdir(tmp_path):
    for name in ("recipes", "saved_models", "benchmarks"):  # what a command may name relative to a checkout
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def _check(ex, proc):
    assert proc.returncode == 0, (f"{ex.where} ({ex.lang}) exited {proc.returncode}:\n{ex.code}\n"
                                  f"--- output ---\n{(proc.stdout or '')[-2000:]}\n{(proc.stderr or '')[-3000:]}")


def _run(ex, cwd, env):
    if ex.lang == "python":
        cmd = [sys.executable, "-c", ex.code]
    else:
        cmd = ["bash", "-euo", "pipefail", "-c", ex.code]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    _check(ex, proc)


def _run_server(ex, cwd, env):
    """The first line starts the server (``... --port N &``); the rest runs once it answers /healthz."""
    first, _, rest = ex.code.strip().partition("\n")
    assert first.rstrip().endswith("&"), f"{ex.where}: a server example starts with `... &`"
    port = int(re.search(r"--port\s+(\d+)", first).group(1))
    server = subprocess.Popen(shlex.split(first.rstrip().rstrip("&")), cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            assert server.poll() is None, f"{ex.where}: the server exited:\n{server.stdout.read()[-3000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{ex.where}: no answer on port {port}"
            time.sleep(0.5)
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", rest], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT_S)
        _check(ex, proc)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.mark.parametrize("page", sorted(RUNNABLE))
def test_examples_run(page, tmp_path, cache_dir):
    cwd, env = _workdir(tmp_path), _env(cache_dir)
    for ex in PAGES[page]:
        if ex.marker is None:
            _run(ex, cwd, env)
        elif ex.marker == "server":
            _run_server(ex, cwd, env)


@pytest.mark.real_data
@pytest.mark.parametrize("page", sorted(NEEDS_DATA))
def test_examples_on_real_data_run(page, tmp_path, cache_dir):
    if not os.environ.get("KERAS_ECG_DATA"):
        pytest.skip("KERAS_ECG_DATA is not set")
    cwd, env = _workdir(tmp_path), _env(cache_dir)
    for ex in PAGES[page]:  # each real-data block stands alone: it reads only $KERAS_ECG_DATA
        if ex.marker == "needs-data":
            _run(ex, cwd, env)


def test_the_main_examples_are_run_not_skipped():
    """The README's examples run (only the set-up commands are exempt), and few blocks anywhere are exempt."""
    readme_examples = PAGES["README.md"]
    assert sum(e.marker in (None, "server") for e in readme_examples) >= 5
    not_run = [e for v in PAGES.values() for e in v if e.marker == "not-run"]
    assert all(e.reason for e in not_run)
    assert len(not_run) <= 4, [e.where for e in not_run]


def test_readme_headline_figures_are_generated_from_the_results():
    text = (ROOT / "README.md").read_text()
    assert readme.readme_block(text) == readme.headline_table(), "run: python -m docsgen.readme"


def test_readme_is_short_and_names_the_two_setup_commands_first():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    first_block = text[text.index("```bash"):]
    assert first_block.splitlines()[1].startswith("make run") and first_block.splitlines()[2].startswith("make test")


def test_readme_citation_names_this_version():
    import keras_ecg

    cite = (ROOT / "README.md").read_text().split("## Licence and citation", 1)[1]
    assert f"version {keras_ecg.__version__}" in cite
