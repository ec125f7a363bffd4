"""The web viewer end to end in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``, Selenium).

``keras-ecg serve`` runs the shipped beat model on 127.0.0.1; the browser opens ``/``, uploads MIT-BIH record 100
(``$KERAS_ECG_DATA/mitdb``; a synthetic WFDB record named 100 without it), waits for the strip chart and checks
that the beat labels it drew are the API's ``/v1/annotate`` answer for the same files: every beat in the
overview, and the beats of the strip's window. A screenshot goes to the test's folder and, when
``$KERAS_ECG_SCREENSHOT_DIR`` is set, there too (docs/images/viewer.png is one). A second test clicks "Play demo
stream", which plays ``/v1/demo/record`` through the WebSocket ``/v1/stream``, waits for the strip's
``data-stream-state="ended"`` and checks the beats drawn against ``/v1/annotate`` on the same demo record
(>= 99.5 % of beats, the stream's own agreement level). Nothing leaves 127.0.0.1.
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

pytestmark = pytest.mark.backend_free


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


def _matched(got, want, tolerance=3) -> int:
    """How many beats of ``want`` ([sample, label, ...]) have a beat of ``got`` within 3 samples with its label."""
    import bisect

    got = sorted((int(g[0]), g[1]) for g in got)
    samples = [g[0] for g in got]
    n = 0
    for w in want:
        i = bisect.bisect_left(samples, int(w[0]) - tolerance)
        n += any(abs(samples[j] - int(w[0])) <= tolerance and got[j][1] == w[1]
                 for j in range(i, min(i + 3, len(got))))
    return n


def test_the_demo_button_plays_the_stream_to_its_end(service, browser, tmp_path):
    """"Play demo stream" against the real /v1/stream: GET /v1/demo/record played through the WebSocket draws the
    beats the stream sent, and they agree with /v1/annotate on the same record (>= 99.5 %, as the stream does)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from keras_ecg.data import synthetic_wfdb
    from keras_ecg.serve import analysis

    browser.get(service + "/")
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
    browser.execute_script(  # keep a copy of the beat messages the page receives (the stream's own answer)
        "const Real = window.WebSocket; window.streamed = [];"
        "window.WebSocket = function (url, p) { const ws = new Real(url, p);"
        " ws.addEventListener('message', (m) => { const x = JSON.parse(m.data);"
        " if (x.type === 'beat') window.streamed.push([x.sample, x.label]); }); return ws; };"
        "window.WebSocket.prototype = Real.prototype;")
    browser.find_element(By.ID, "demo").click()
    WebDriverWait(browser, 120).until(  # 2 min of signal at 10x real speed: about 12 s
        lambda d: d.find_element(By.ID, "strip").get_attribute("data-stream-state") in ("ended", "failed"))
    state = browser.find_element(By.ID, "status")
    assert browser.find_element(By.ID, "strip").get_attribute("data-stream-state") == "ended", state.text
    assert "error" not in state.get_attribute("class"), state.text
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "strip").get_attribute("data-ready") == "1")

    drawn = browser.execute_script(
        "const f = (s) => [...document.querySelectorAll(s)].map(e => [Number(e.dataset.sample), e.dataset.label]);"
        "return {ticks: f('#overview .beat-tick'), labels: f('#strip .beat-label'),"
        " episodes: [...document.querySelectorAll('#overview .episode')].map(e => e.dataset.kind),"
        " status: document.getElementById('status').textContent, streamed: window.streamed};")
    base = tmp_path / "demo" / "demo"  # the demo record as WFDB files, for /v1/annotate
    synthetic_wfdb.write_record(base, minutes=analysis.DEMO_MINUTES, fs=analysis.DEMO_FS, seed=analysis.DEMO_SEED)
    answer = _api_annotate(service, [base.with_suffix(".hea"), base.with_suffix(".dat")])
    assert answer["fs"] == analysis.DEMO_FS
    want = [[b["sample"], b["label"]] for b in answer["beats"]]
    assert len(want) > 100
    assert f"{len(drawn['ticks'])} beats streamed" in drawn["status"]
    assert sorted(drawn["ticks"]) == sorted(drawn["streamed"])  # every beat the stream sent is drawn, as sent
    assert _matched(drawn["ticks"], want) >= 0.995 * len(want), (len(drawn["ticks"]), len(want))
    assert _matched(want, drawn["ticks"]) >= 0.995 * len(drawn["ticks"])  # and nothing drawn that annotate lacks
    assert len(drawn["episodes"]) == len(answer["episodes"]), (drawn["episodes"], answer["episodes"])  # not sinus
    assert 5 <= len(drawn["labels"]) <= 40  # the strip's last 10 s window: its text labels are streamed beats
    ticks = {tuple(t) for t in drawn["ticks"]}
    assert all(tuple(lab) in ticks for lab in drawn["labels"])
    window = [w for w in want if drawn["labels"][0][0] - 3 <= w[0] <= drawn["labels"][-1][0] + 3]
    assert _matched(drawn["labels"], window) >= len(window) - 1  # at most one beat off in the window (99.5 %)
