"""Output folders of annotate, digitize, explain, evaluate and calibrate: lock, staging, names, clear errors."""

import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from keras_ecg import _atomic
from keras_ecg.deploy import output_folder as OF
from keras_ecg.errors import RunError

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


def _write(o, item, **files):
    """Write ``{name: text}`` under the staging folder as ``item``'s files."""
    paths = []
    for name, text in files.items():
        p = o.stage / name.replace("__", ".")
        p.write_text(text)
        paths.append(p)
    o.add(item, paths)


def _listing(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def _no_leftovers(folder):
    names = _listing(folder)
    assert OF.STAGE not in names and OF.JOURNAL not in names and OF.LOCK not in names
    assert not any(_atomic.is_temp_name(n) for n in names), names


@pytest.fixture
def sleeper():
    """A live process that is not this one (the owner of a lock)."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield p.pid
    p.kill()
    p.wait()


def _hold(out, pid):
    out.mkdir(parents=True, exist_ok=True)
    (out / OF.LOCK).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": "then"}))


# ----------------------------------------------------------------------------- the folder itself


def test_a_held_lock_stops_a_second_run_in_one_line_and_a_stale_one_is_taken_over(tmp_path, sleeper):
    out = tmp_path / "out"
    with OF.writing(out, "annotate") as o:
        _write(o, "100", **{"100__hea": "old"})
    _hold(out, sleeper)
    with pytest.raises(RunError) as e:
        with OF.writing(out, "annotate") as o:
            _write(o, "100", **{"100__hea": "new"})
    msg = str(e.value)
    assert f"pid {sleeper}" in msg and str(out) in msg and "\n" not in msg
    assert (out / "100.hea").read_text() == "old" and not (out / OF.STAGE).exists()
    # the same through the command line, before any input is read
    from keras_ecg import cli

    with pytest.raises(SystemExit) as e:
        cli.main(["digitize", str(tmp_path / "no_such_page.png"), "--out", str(out)])
    assert str(e.value).startswith("keras-ecg digitize: error: --out") and f"pid {sleeper}" in str(e.value)
    # the owner gone: the lock is stale, taken over with a word, and dropped at the end
    _hold(out, 2**22 + 12345)  # above the default pid_max: no such process
    said = []
    with OF.writing(out, "annotate", log=said.append) as o:
        _write(o, "100", **{"100__hea": "new"})
    assert (out / "100.hea").read_text() == "new" and any("stale" in s for s in said)
    _no_leftovers(out)


@pytest.mark.parametrize("stop", [ValueError, KeyboardInterrupt])
def test_a_run_failing_midway_leaves_the_previous_outputs_and_no_temporary_files(tmp_path, stop):
    out = tmp_path / "out"
    with OF.writing(out, "annotate") as o:
        _write(o, "100", **{"100__hea": "old", "100_beats__csv": "old"})
    before = {n: (out / n).read_bytes() for n in _listing(out)}
    with pytest.raises(stop):
        with OF.writing(out, "annotate") as o:
            _write(o, "100", **{"100__hea": "new"})
            _write(o, "200", **{"200__hea": "new"})
            raise stop("killed half-way")
    assert {n: (out / n).read_bytes() for n in _listing(out)} == before
    _no_leftovers(out)
    # a run that created the folder and failed leaves no folder
    with pytest.raises(ValueError):
        with OF.writing(tmp_path / "fresh", "digitize") as o:
            _write(o, "p", p__csv="x")
            raise ValueError
    assert not (tmp_path / "fresh").exists()


def test_a_run_killed_before_the_move_in_is_cleaned_and_one_killed_during_it_is_finished(tmp_path, monkeypatch):
    out = tmp_path / "out"
    with OF.writing(out, "annotate") as o:
        _write(o, "100", **{"100__hea": "old", "100__dat": "old", "100_beats__csv": "old"})
    # killed outright while writing: its staging folder is left; the next run deletes it, keeping the old files
    (out / OF.STAGE).mkdir()
    (out / OF.STAGE / "100.hea").write_text("half")
    with OF.writing(out, "annotate"):
        pass
    assert (out / "100.hea").read_text() == "old"
    _no_leftovers(out)

    # killed after the first rename of the move-in: the next run on the folder finishes it first
    real = OF.os.replace
    calls = []

    def die_after_one(src, dst):  # the renames out of the staging folder; the journal's own write goes through
        if OF.STAGE in str(src):
            if calls:
                raise KeyboardInterrupt("killed")
            calls.append(dst)
        real(src, dst)

    monkeypatch.setattr(OF.os, "replace", die_after_one)
    with pytest.raises(KeyboardInterrupt):
        with OF.writing(out, "annotate") as o:  # the new 100: no .dat (a WFDB record, not a CSV copy)
            _write(o, "100", **{"100__hea": "new", "100_beats__csv": "new"})
    monkeypatch.setattr(OF.os, "replace", real)
    assert (out / OF.JOURNAL).is_file()  # interrupted between its renames
    said = []
    with OF.writing(out, "digitize", log=said.append):
        pass
    assert (out / "100.hea").read_text() == (out / "100_beats.csv").read_text() == "new"
    assert not (out / "100.dat").exists()  # the old run's file of that record is gone with the rest of it
    assert any("interrupted" in s for s in said)
    _no_leftovers(out)


def test_an_item_written_again_loses_its_stale_files_and_other_files_stay(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with OF.writing(out, "annotate") as o:
        _write(o, "100", **{"100__hea": "1", "100__dat": "1"})
        _write(o, "200", **{"200__hea": "1"})
    with OF.writing(out, "evaluate") as o:
        (o.stage / "report.json").write_text("1")
        (o.stage / "roc_curves.png").write_text("1")
    with OF.writing(out, "annotate") as o:
        _write(o, "100", **{"100__hea": "2"})
    with OF.writing(out, "evaluate") as o:  # no ROC this time
        (o.stage / "report.json").write_text("2")
    assert _listing(out) == [OF.MANIFEST, "100.hea", "200.hea", "notes.txt", "report.json"]
    assert (out / "100.hea").read_text() == "2" and (out / "200.hea").read_text() == "1"


def test_inputs_of_one_name_are_told_apart_or_refused():
    said = []
    o = OF.Outputs("out", "digitize", log=said.append)
    assert o.claim("p", "a/p.png") == "p"
    assert o.claim("p", "a/p.png") == "p"  # the same input again keeps its name
    assert o.claim("P", "b/P.png") == "P-2"  # one name on a case-insensitive disk
    assert o.claim("P", "b/P.png") == "P-2"
    assert o.claim("p", "c/p.png") == "p-3"
    assert o.claim("p-2", "d/p-2.png") == "p-2-2"
    assert said[0] == "b/P.png: written as P-2 (a/p.png is p)"
    with pytest.raises(RunError) as e:
        o.claim("p", "e/p", refuse=True)
    assert "a/p.png and e/p would both write p.*" in str(e.value) and "\n" not in str(e.value)


def test_out_that_is_a_file_or_cannot_be_created_is_one_line(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(RunError, match=r"file.txt: exists and is not a folder$"):
        with OF.writing(f, "explain"):
            pass
    with pytest.raises(RunError, match=r"file.txt/sub: cannot create the folder \(Not a directory\)$"):
        with OF.writing(f / "sub", "explain"):
            pass
    assert f.read_text() == "x"


# ----------------------------------------------------------------------------- the commands


def _page(path, seed):
    from PIL import Image

    from keras_ecg.data.images import synthetic_pages

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(synthetic_pages.render_page("mi", seed=seed, layout="6x2+1")).save(path)
    return path


@pytest.mark.backend_free
def test_digitize_tells_two_pages_of_one_name_apart_and_a_failure_keeps_the_old_outputs(tmp_path, capsys):
    import wfdb

    from keras_ecg import cli

    a, b = _page(tmp_path / "a" / "p.png", 4), _page(tmp_path / "b" / "p.png", 5)
    out = tmp_path / "out"
    assert cli.main(["digitize", str(a), str(b), "--out", str(out), "--fs", "100"]) == 0
    assert f"{b}: written as p-2 ({a} is p)" in capsys.readouterr().out
    assert json.loads((out / "p.json").read_text())["source"] == str(a)
    assert json.loads((out / "p-2.json").read_text())["source"] == str(b)
    assert wfdb.rdrecord(str(out / "p-2")).record_name == "p-2"
    assert (out / "p.csv").read_text() != (out / "p-2.csv").read_text()
    before = {n: (out / n).read_bytes() for n in _listing(out)}
    bad = tmp_path / "c" / "z.png"
    bad.parent.mkdir()
    bad.write_text("not an image")
    with pytest.raises(SystemExit, match="z.png"):  # the second page fails: the first one's new files stay out
        cli.main(["digitize", str(b), str(bad), "--out", str(out), "--fs", "200"])
    assert {n: (out / n).read_bytes() for n in _listing(out)} == before
    _no_leftovers(out)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from keras_ecg import cli

    base = tmp_path_factory.mktemp("synth") / "a" / "synth"
    base.parent.mkdir()
    assert cli.main(["synth-record", str(base), "--minutes", "0.5", "--seed", "3"]) == 0
    return base


def test_annotate_refuses_two_records_of_one_name_before_any_work(beat_model, synth, tmp_path):
    from keras_ecg import cli

    other = tmp_path / "b" / "synth"
    shutil.copytree(synth.parent, other.parent)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        cli.main(["annotate", str(beat_model), str(synth), f"{other}.hea", "--out", str(out), "--backend", BACKEND])
    msg = str(e.value)
    assert msg.startswith("keras-ecg annotate: error: ") and f"{synth} and {other}.hea would both write synth.*" \
        in msg and "\n" not in msg
    assert not out.exists()


@pytest.mark.parametrize("command", ["annotate", "evaluate", "explain", "digitize", "calibrate"])
def test_out_that_is_a_file_is_one_line_for_every_command(beat_model, synth, tmp_path, command):
    from keras_ecg import cli

    f = tmp_path / "taken"
    f.write_text("x")
    inputs = [str(_page(tmp_path / "p.png", 1))] if command == "digitize" else [str(beat_model), str(synth)]
    backend = [] if command == "digitize" else ["--backend", BACKEND]
    with pytest.raises(SystemExit) as e:
        cli.main([command, *inputs, "--out", str(f), *backend])
    assert str(e.value) == f"keras-ecg {command}: error: --out {f}: exists and is not a folder"
    assert f.read_text() == "x"


def test_calibrate_never_rewrites_a_shipped_model_and_writes_a_copy_where_told(beat_model, synth, tmp_path,
                                                                              monkeypatch):
    from keras_ecg import card as C
    from keras_ecg import cli
    from keras_ecg.deploy import runtime

    shipped = tmp_path / "saved_models"
    shutil.copytree(beat_model.parent, shipped / "tiny")
    monkeypatch.setenv("KERAS_ECG_PRETRAINED", str(shipped))
    before = {p.name: p.read_bytes() for p in (shipped / "tiny").iterdir()}
    for model in ("pretrained:tiny", str(shipped / "tiny" / "model.keras")):
        with pytest.raises(SystemExit) as e:
            cli.main(["calibrate", model, str(synth), "--backend", BACKEND, "--runtime", "keras"])
        assert "shipped pretrained model" in str(e.value) and "--out" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SystemExit, match="inside the shipped pretrained models' folder"):
        cli.main(["calibrate", "pretrained:tiny", str(synth), "--out", str(shipped / "tiny"), "--backend", BACKEND])
    out = tmp_path / "calibrated"
    assert cli.main(["calibrate", "pretrained:tiny", str(synth), "--out", str(out), "--backend", BACKEND,
                     "--runtime", "keras"]) == 0
    assert {p.name: p.read_bytes() for p in (shipped / "tiny").iterdir()} == before  # untouched, nothing added
    assert C.read(shipped / "tiny" / C.CARD_NAME).calibration is None
    assert C.read(out / C.CARD_NAME).calibration.method == "temperature"
    assert (out / "model.keras").read_bytes() == before["model.keras"]
    copy = runtime.load(out, "keras")  # the copy loads and applies its calibration
    assert copy.card.calibration.fitted_items > 0 and np.isfinite(copy.card.calibration.temperature)
    _no_leftovers(out)
