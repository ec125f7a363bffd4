"""``keras-ecg annotate`` and ``synth-record``: WFDB/CSV/EDF in; annotations, CSV, summary, strip chart out."""

import json
import os

import numpy as np
import pytest

from keras_ecg import cli
from keras_ecg.deploy import summary

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    base = tmp_path_factory.mktemp("synth") / "synth"
    assert cli.main(["synth-record", str(base), "--minutes", "1.5", "--seed", "3"]) == 0
    return base


def _beats(ann):
    """``(samples, symbols)`` of the beat annotations (not the rhythm ``+`` nor the ``"`` comments)."""
    keep = [i for i, s in enumerate(ann.symbol) if s not in '+"']
    return ann.sample[keep], [ann.symbol[i] for i in keep]


def _annotate(model, out, *inputs, extra=()):
    return cli.main(["annotate", str(model), *map(str, inputs), "--out", str(out), "--backend", BACKEND, *extra])


def test_synth_record_reads_as_wfdb(synth):
    import wfdb

    rec = wfdb.rdrecord(str(synth))
    ann = wfdb.rdann(str(synth), "atr")
    assert rec.fs == 360 and rec.sig_name == ["MLII"] and rec.sig_len == 90 * 360
    assert set(ann.symbol) <= {"N", "A", "V", "F", "Q"} and 80 < len(ann.sample) < 200


def test_annotate_wfdb_writes_everything(beat_model, synth, tmp_path):
    import wfdb

    out = tmp_path / "out"
    assert _annotate(beat_model, out, synth) == 0
    names = sorted(p.name for p in out.iterdir() if p.name != ".keras-ecg.outputs.json")  # which run wrote what
    assert names == ["synth.ann", "synth.hea", "synth_beats.csv", "synth_episodes.csv", "synth_strip.png",
                     "synth_summary.json", "synth_summary.txt"]  # nothing half-written left behind
    assert (out / "synth.hea").read_bytes() == synth.with_suffix(".hea").read_bytes()
    ann = wfdb.rdann(str(out / "synth"), "ann")
    ref = wfdb.rdann(str(synth), "atr")
    assert ann.symbol[0] == "+" and ann.aux_note[0].startswith("(")  # the rhythm before the first beat
    samples, symbols = _beats(ann)
    assert set(symbols) <= {"N", "A", "V", "F", "Q"}
    # detected beats (not the reference ones): each within 150 ms of a reference beat
    assert abs(len(samples) - len(ref.sample)) <= 3
    j = np.searchsorted(ref.sample, samples).clip(1, len(ref.sample) - 1)
    gap = np.minimum(np.abs(ref.sample[j] - samples), np.abs(ref.sample[j - 1] - samples))
    assert (gap <= 54).mean() > 0.95
    # the classes are the model's on predict's inputs for the same peaks (one implementation of the beat inputs)
    from keras_ecg.deploy import predict as P
    from keras_ecg.data import model_inputs as W

    model, card = P.load(beat_model)
    rec = W.record_inputs(synth, card.preprocessing, peaks=samples)
    want = np.asarray(model.predict(rec.inputs, verbose=0)).argmax(axis=1)
    assert symbols == [{"N": "N", "S": "A", "V": "V", "F": "F", "Q": "Q"}[card.class_names[k]] for k in want]
    rows = (out / "synth_beats.csv").read_text().splitlines()
    assert rows[0] == "time_s,sample,class,symbol,p_N,p_S,p_V,p_F,p_Q,uncertain" and len(rows) == len(samples) + 1
    probs = np.array([[float(v) for v in r.split(",")[4:-1]] for r in rows[1:]])
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    s = json.loads((out / "synth_summary.json").read_text())
    classes = [r.split(",")[2] for r in rows[1:]]
    assert s["beats"] == len(classes) and s["beats_per_class"]["V"] == classes.count("V")
    assert 40 < s["heart_rate"]["mean_bpm"] < 120 and s["heart_rate"]["min_bpm"] <= s["heart_rate"]["max_bpm"]
    ect = sum(classes.count(c) for c in "SVF")
    assert s["ectopic_per_hour"] == pytest.approx(ect / (90 / 3600), abs=0.1)
    assert "beats per class" in (out / "synth_summary.txt").read_text()
    # the rhythm: no AF in this regular record; the episodes CSV has one row per episode of the summary
    assert s["af_burden_pct"] == 0.0 and s["episode_counts"]["AFIB"] == 0
    ep_rows = (out / "synth_episodes.csv").read_text().splitlines()
    assert ep_rows[0].startswith("kind,onset_s,offset_s,") and len(ep_rows) == len(s["episodes"]) + 1


def test_strip_chart_is_on_paper_scale(beat_model, synth, tmp_path):
    from PIL import Image

    out = tmp_path / "o"
    assert _annotate(beat_model, out, synth, extra=["--span", "0:10"]) == 0
    w, h = Image.open(out / "synth_strip.png").size
    # one 10 s row: 250 mm at 25 mm/s = 984 px at 100 dpi (plus margins), 30 mm (3 mV) high
    assert 984 <= w <= 1100 and 118 <= h <= 260, (w, h)


def test_annotate_csv_and_edf_match_wfdb(beat_model, synth, tmp_path):
    import wfdb

    rec = wfdb.rdrecord(str(synth))
    csv = tmp_path / "rec.csv"
    t = np.arange(rec.sig_len) / rec.fs
    np.savetxt(csv, np.c_[t, rec.p_signal[:, 0]], delimiter=",", header="time,MLII", comments="", fmt="%.5f")
    assert _annotate(beat_model, tmp_path / "a", synth) == 0
    assert _annotate(beat_model, tmp_path / "b", csv, extra=["--fs", "360"]) == 0
    a = wfdb.rdann(str(tmp_path / "a" / "synth"), "ann")
    b = wfdb.rdann(str(tmp_path / "b" / "rec"), "ann")
    assert np.array_equal(a.sample, b.sample) and a.symbol == b.symbol and a.aux_note == b.aux_note
    assert wfdb.rdrecord(str(tmp_path / "b" / "rec")).sig_name == ["MLII"]  # a WFDB copy beside the annotations
    from wfdb.io.convert.edf import wfdb_to_edf

    edf = tmp_path / "rec.edf"
    wfdb_to_edf(str(synth), output_filename=str(edf))
    assert _annotate(beat_model, tmp_path / "c", edf) == 0
    c = wfdb.rdann(str(tmp_path / "c" / "rec"), "ann")
    assert abs(len(_beats(c)[0]) - len(_beats(a)[0])) <= 1


def test_annotate_errors_are_one_line(beat_model, tmp_path):
    csv = tmp_path / "x.csv"
    np.savetxt(csv, np.zeros((100, 1)), delimiter=",")
    with pytest.raises(SystemExit) as e:
        _annotate(beat_model, tmp_path / "o", csv)
    assert str(e.value) == f"keras-ecg annotate: error: {csv}: a CSV of samples needs its sampling rate (--fs HZ)"
    with pytest.raises(SystemExit) as e:
        _annotate(beat_model, tmp_path / "o", tmp_path / "missing")
    assert "missing: no such recording" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SystemExit) as e:
        _annotate("pretrained:no_such_model", tmp_path / "o", csv)
    assert "pretrained:no_such_model: no such pretrained model" in str(e.value)


def test_no_analysable_ecg_is_refused_and_unreadable_stretches_are_not_classified(beat_model, synth, tmp_path,
                                                                                   monkeypatch):
    import wfdb

    from keras_ecg.deploy import strip_chart

    drawn = []  # what annotate gives the strip chart
    real_draw = strip_chart.draw
    monkeypatch.setattr(strip_chart, "draw", lambda *a, **k: (drawn.append((a, k)), real_draw(*a, **k))[1])

    rng = np.random.default_rng(0)
    for name, x in (("noise", rng.standard_normal(250 * 60)), ("flat", np.zeros(250 * 60))):
        csv = tmp_path / f"{name} (1).csv"  # a name with a space and parentheses
        np.savetxt(csv, x[:, None], delimiter=",")
        with pytest.raises(SystemExit) as e:
            _annotate(beat_model, tmp_path / "o", csv, extra=["--fs", "250"])
        assert "no analysable ECG" in str(e.value) and name in str(e.value) and "\n" not in str(e.value)
    rec = wfdb.rdrecord(str(synth))
    x = rec.p_signal[:, 0].copy()
    x[int(20 * rec.fs):int(40 * rec.fs)] = 0.0  # a lead off for 20 s
    csv = tmp_path / "leadoff.csv"
    np.savetxt(csv, x[:, None], delimiter=",", fmt="%.5f")
    assert _annotate(beat_model, tmp_path / "q", csv, extra=["--fs", str(rec.fs)]) == 0
    s = json.loads((tmp_path / "q" / "leadoff_summary.json").read_text())
    q = s["signal_quality"]
    assert q["unreadable"] == [{"start_s": 20.0, "end_s": 40.0, "reason": "flat"}]
    assert q["analysable_fraction"] == pytest.approx(7 / 9, abs=1e-3)
    t = np.array([float(line.split(",")[0]) for line in
                  (tmp_path / "q" / "leadoff_beats.csv").read_text().splitlines()[1:]])
    assert not ((t >= 20) & (t < 40)).any()  # no beat classified in the flat stretch
    assert not [e for e in s["episodes"] if e["kind"] == "PAUSE"]  # and the gap is no pause
    txt = (tmp_path / "q" / "leadoff_summary.txt").read_text()
    assert "signal quality: 77.8% analysable; unreadable 10 s segments: flat 2" in txt
    assert "\n  unreadable 0:00:20.000 - 0:00:40.000 (20 s): flat\n" in txt  # the stretch, with its times
    (args, kw), = drawn
    assert kw["unreadable"] == [(20.0, 40.0, "flat")] and kw["analysable_fraction"] == pytest.approx(7 / 9, abs=1e-3)
    spans = args[5]
    assert any(s0 == 18.0 and e0 == 28.0 and title.startswith("unreadable (flat)") for s0, e0, title in spans)


def test_summary_runs_and_heart_rate():
    classes = list("NVVNVVVNSSSSN")
    times = np.arange(len(classes), dtype=float)
    s = summary.summarize(times, classes, duration_s=3600.0, class_names=["N", "S", "V", "F", "Q"])
    assert s["run_counts"] == {"S_couplets": 0, "S_runs": 1, "V_couplets": 1, "V_runs": 1}
    assert [(r["class"], r["beats"], r["start_s"], r["end_s"]) for r in s["runs"]] == [
        ("V", 2, 1.0, 2.0), ("V", 3, 4.0, 6.0), ("S", 4, 8.0, 11.0)]
    assert s["heart_rate"]["mean_bpm"] == 60.0 and s["ectopic_per_hour"] == 9.0
    times2 = np.r_[np.arange(20) * 1.0, 20 + np.arange(20) * 0.5]  # 60 bpm, then 120 bpm
    hr = summary.summarize(times2, ["N"] * 40, 40.0, ["N"])["heart_rate"]
    assert hr["min_bpm"] == 60.0 and hr["max_bpm"] == 120.0 and hr["max_at_s"] >= 20.0
