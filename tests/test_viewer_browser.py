"""The web viewer end to end in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``, Selenium).

``keras-ecg serve`` runs the shipped beat model on 127.0.0.1; the browser opens ``/``, uploads MIT-BIH record 100
(``$KERAS_ECG_DATA/mitdb``; a synthetic WFDB record named 100 without it), waits for the strip chart and checks
that the beat labels it drew are the API's ``/v1/annotate`` answer for the same files: every beat in the
overview, and the beats of the strip's window. A screenshot goes to the test's folder and, when
``$KERAS_ECG_SCREENSHOT_DIR`` is set, there too (docs/images/viewer.png is one). Nothing leaves 127.0.0.1.
"""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ROOT = pathlib.Path(__file__).resolve().parents[1]
MODEL = ROOT / "saved_models" / "mitbih_beats"


def _need_browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not pathlib.Path(p).exists()]
    if missing and not os.environ.get("CI"):
        pytest.skip(f"{', '.join(missing)} missing: apt-get install chromium chromium-driver (.ci/run does)")
    assert not missing, f"CI: {', '.join(missing)} missing (.ci/run installs chromium and chromium-driver)"
    if os.environ.get("CI"):
        import selenium  # noqa: F401 - in CI the browser test must run
    else:
        pytest.importorskip("selenium")


def _record(tmp_path) -> list:
    """The .hea and .dat files of record 100: the real one where the data is, else a synthetic record."""
    root = os.environ.get("KERAS_ECG_DATA")
    real = pathlib.Path(root) / "mitdb" / "100" if root else None
    if real is not None and real.with_suffix(".hea").is_file():
        return [real.with_suffix(".hea"), real.with_suffix(".dat")]
    from keras_ecg.data import synthetic_wfdb

    base = tmp_path / "rec" / "100"
    synthetic_wfdb.write_record(base, minutes=2.0, seed=1)
    return [base.with_suffix(".hea"), base.with_suffix(".dat")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def service():
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from keras_ecg import cli; sys.exit(cli.main())",
                             "serve", str(MODEL), "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        assert proc.poll() is None, proc.stdout.read().decode(errors="replace")[-2000:]
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture()
def browser():
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1100,1000"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def _api_annotate(url, files) -> dict:
    import httpx

    parts = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in files]
    r = httpx.post(url + "/v1/annotate", files=parts, timeout=600)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_viewer_draws_the_apis_beats(service, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    files = _record(tmp_path)
    browser.get(service + "/")
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
    browser.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in files))
    browser.find_element(By.ID, "analyse").click()
    WebDriverWait(browser, 600).until(
        lambda d: d.find_element(By.ID, "strip").get_attribute("data-ready") == "1"
        or "error" in d.find_element(By.ID, "status").get_attribute("class"))
    assert "error" not in browser.find_element(By.ID, "status").get_attribute("class"), \
        browser.find_element(By.ID, "status").text

    drawn = browser.execute_script(
        "const f = (s) => [...document.querySelectorAll(s)].map(e => [Number(e.dataset.sample), e.dataset.label,"
        " e.dataset.uncertain === '1']);"
        "return {ticks: f('#overview .beat-tick'), labels: f('#strip .beat-label'),"
        " episodes: document.querySelectorAll('#overview .episode').length,"
        " summary: document.querySelectorAll('#summary tr').length};")
    answer = _api_annotate(service, files)
    want = [[b["sample"], b["label"], b["uncertain"]] for b in answer["beats"]]
    assert drawn["ticks"] == want and len(want) > 100  # every beat of the record, label and flag
    start = json.loads(browser.execute_script(
        "return JSON.stringify(document.getElementById('window-label').textContent)"))
    fs = answer["fs"]
    shown = [w for w in want if drawn["labels"] and drawn["labels"][0][0] <= w[0] <= drawn["labels"][-1][0]]
    assert drawn["labels"] == shown and 5 <= len(shown) <= 40, start  # the strip's window: every beat in it
    assert all(shown[0][0] // (10 * fs) == w[0] // (10 * fs) for w in shown)  # one 10 s window
    assert drawn["episodes"] == len(answer["episodes"]) and drawn["summary"] >= 5

    shot = tmp_path / "viewer.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("KERAS_ECG_SCREENSHOT_DIR"):
        out = pathlib.Path(os.environ["KERAS_ECG_SCREENSHOT_DIR"])
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, out / "viewer.png")

    browser.find_element(By.ID, "next").click()  # the next window draws the next beats
    WebDriverWait(browser, 60).until(lambda d: d.execute_script(
        "const l = document.querySelectorAll('#strip .beat-label');"
        f"return l.length > 0 && Number(l[0].dataset.sample) > {shown[-1][0]};"))
