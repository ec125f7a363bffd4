"""``keras-ecg serve --workers 2`` starts two worker processes of one server on one port, each answering.

Each answer names its worker (header ``x-keras-ecg-worker``: the process id); both workers are children of the
``keras-ecg serve`` process. ``/metrics`` is per worker (each counts what it answered).
"""

import os
import pathlib
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("uvicorn")

from test_viewer_browser import MODEL, ROOT, _free_port  # noqa: E402

pytestmark = pytest.mark.backend_free


def _ppid(pid: int) -> int:
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.mark.skipif(not pathlib.Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_two_workers_answer_on_one_port():
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from keras_ecg import cli; sys.exit(cli.main())",
                             "serve", str(MODEL), "--port", str(port), "--workers", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen, deadline = {}, time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None and len(seen) < 2:
            try:  # a new connection each time: the kernel hands them to the workers in turn
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    seen[int(r.headers["x-keras-ecg-worker"])] = r.read().decode()
            except OSError:
                time.sleep(0.3)
        assert proc.poll() is None, proc.stdout.read().decode(errors="replace")[-2000:]
        assert len(seen) == 2, f"only workers {sorted(seen)} answered"
        assert all(_ppid(pid) == proc.pid for pid in seen)  # two workers of this one server
        assert all("keras_ecg_requests_total" in text for text in seen.values())
    finally:
        proc.terminate()
        proc.wait(timeout=60)
