"""Rhythm outputs of ``annotate`` and ``predict``: WFDB rhythm annotations, the episodes CSV, the summary's
AF burden and ectopy outside AF, the strip chart's AF strip, and predict's episodes.

A synthetic record of 3 minutes: a regular rhythm at 75 bpm with 8 premature beats and one 2.6 s pause,
and an irregular (AF-like) middle minute. The classifier is a stand-in that calls a beat S when it comes
early (its RR feature ``pre_local`` under 0.8), so every irregular beat in the AF minute that comes early is
called S by it, and the card's AF rule must turn those into N.
"""

import dataclasses
import json
import pathlib

import numpy as np
import pytest

from keras_ecg import cli
from keras_ecg.deploy import annotate as A
from keras_ecg.deploy import commands, record_rhythm, rhythm_files, strip_chart, summary
from keras_ecg.rhythm import Episode, RhythmConfig, beats_in

pytestmark = pytest.mark.backend_free


FS = 250.0
DURATION = 180.0
AF = (60.0, 120.0)
PREMATURE = (10.0, 18.0, 26.0, 34.0, 140.0, 150.0, 160.0, 170.0)
PAUSE_AT, PAUSE_S = 45.0, 2.6
BASE_RR = 0.8


def _beat_times(seed=0):
    """True beat times (s), and the times of the premature beats."""
    rng = np.random.default_rng(seed)
    t, out, early, todo = 0.5, [0.5], [], list(PREMATURE)
    while t < DURATION - 1.0:
        if AF[0] <= t < AF[1]:
            rr = rng.uniform(0.42, 1.08)
        elif todo and t >= todo[0]:
            todo.pop(0)
            t += 0.48 * BASE_RR
            out.append(t)
            early.append(t)
            rr = 1.12 * BASE_RR
        elif PAUSE_AT <= t < PAUSE_AT + BASE_RR:
            rr = PAUSE_S
        else:
            rr = BASE_RR * rng.uniform(0.98, 1.02)
        t += rr
        out.append(t)
    return np.array(out[:-1]), np.array(early)


def _write_record(folder, name="afrec"):
    """The record as WFDB files (no .atr: the beats are detected); ``(base, beat times, premature times)``."""
    import wfdb

    times, early = _beat_times()
    rng = np.random.default_rng(1)
    n = int(DURATION * FS)
    t = np.arange(n) / FS
    x = rng.normal(0, 0.01, n)
    for tb in times:  # Q, R, S and T waves of a narrow beat
        i0, i1 = max(int((tb - 0.3) * FS), 0), min(int((tb + 0.5) * FS), n)
        u = t[i0:i1] - tb
        x[i0:i1] += (np.exp(-0.5 * (u / 0.012) ** 2) - 0.15 * np.exp(-0.5 * ((u + 0.03) / 0.01) ** 2)
                     - 0.25 * np.exp(-0.5 * ((u - 0.03) / 0.012) ** 2) + 0.3 * np.exp(-0.5 * ((u - 0.28) / 0.05) ** 2))
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=FS, units=["mV"], sig_name=["MLII"], p_signal=x[:, None], fmt=["16"], write_dir=str(folder))
    return folder / name, times, early


def _early_probs(inputs):
    """The stand-in classifier: S for a beat that comes early (log pre_local < log 0.8), else N."""
    rr = np.asarray(inputs[-1])
    early = rr[:, 7] < np.log(0.8)  # pre_local, the 8th RR feature (the card's rr_log: natural log)
    p = np.full((len(rr), 5), 0.02)
    p[:, 0] = np.where(early, 0.06, 0.92)
    p[:, 1] = np.where(early, 0.88, 0.02)
    return p


class _Model:  # what predict_paths calls
    def predict(self, x, batch_size=None, verbose=0):
        return _early_probs(x if isinstance(x, list) else [x])


@pytest.fixture(scope="module")
def card():
    from keras_ecg.deploy import pretrained

    c = pretrained.card("mitbih_beats")  # a real beat-model card (RR features, calibration), the AF rule on
    return dataclasses.replace(c, rhythm=RhythmConfig(af_rule="no_s_in_af"))


@pytest.fixture(scope="module")
def classifier(card):
    from keras_ecg.deploy import runtime

    return runtime.Classifier(_early_probs, card, pathlib.Path("stand-in.keras"), "stand-in")


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    return _write_record(tmp_path_factory.mktemp("af"))


@pytest.fixture(scope="module")
def annotated(record, classifier, tmp_path_factory):
    """``keras-ecg annotate`` on the record (the command, with the stand-in classifier)."""
    out = tmp_path_factory.mktemp("out")
    mp = pytest.MonkeyPatch()
    mp.setattr(commands, "_classifier", lambda args: classifier)
    try:
        assert cli.main(["annotate", "stand-in", str(record[0]), "--out", str(out)]) == 0
    finally:
        mp.undo()
    return out


def _rows(path):
    lines = pathlib.Path(path).read_text().splitlines()
    head = lines[0].split(",")
    return [dict(zip(head, r.split(","))) for r in lines[1:]]


# ----------------------------------------------------------------------------- WFDB rhythm annotations


def test_rhythm_annotations_priority_placement_and_rdann(tmp_path):
    import wfdb

    samples = np.arange(1, 21) * 100  # beats at 1..20 s at 100 Hz
    t = samples / 100.0
    classes = ["N"] * 20
    for i in (14, 16):
        classes[i] = "S"  # an atrial bigeminy: N S N S at beats 13..16
    eps = [Episode("AFIB", t[2], t[11], 10), Episode("VT", t[5], t[7], 3),  # VT inside AF: VT shows
           Episode("BIGEMINY", t[13], t[16], 4), Episode("BRADY", t[12], t[17], 6),  # bigeminy over brady
           Episode("PAUSE", t[17], t[18], 2)]
    assert rhythm_files.beat_rhythms(t, classes, eps) == (
        ["(N"] * 2 + ["(AFIB"] * 3 + ["(VT"] * 3 + ["(AFIB"] * 4 + ["(SBR"] + ["(AB"] * 4 + ["(SBR"] + ["(N"] * 2)
    sample, symbol, aux = rhythm_files.annotations(samples, ["N"] * 20, 100.0, classes, eps)
    rhythm = [(int(s), a) for s, y, a in zip(sample, symbol, aux) if y == "+"]
    # midway between the last beat of the old rhythm and the first of the new; the first before beat 0
    assert rhythm == [(50, "(N"), (250, "(AFIB"), (550, "(VT"), (850, "(AFIB"), (1250, "(SBR"), (1350, "(AB"),
                      (1750, "(SBR"), (1850, "(N")]
    notes = [(int(s), a) for s, y, a in zip(sample, symbol, aux) if y == '"']
    assert notes == [(1851, "PAUSE 1.0s")]  # the middle of the pause, one sample on from the (N there
    rhythm_files.write_wfdb("r", 100.0, samples, ["N"] * 20, classes, eps, "ann", tmp_path)
    ann = wfdb.rdann(str(tmp_path / "r"), "ann")
    assert list(ann.sample) == list(sample) and ann.symbol == symbol
    assert [a.rstrip("\x00") for a in ann.aux_note] == aux
    assert [s for s in ann.symbol if s not in '+"'] == ["N"] * 20


def test_annotate_writes_rhythm_annotations(annotated, record):
    import wfdb

    base, times, _ = record
    names = sorted(p.name for p in annotated.iterdir() if p.name != ".keras-ecg.outputs.json")  # which run wrote what
    assert names == ["afrec.ann", "afrec.hea", "afrec_beats.csv", "afrec_episodes.csv", "afrec_strip.png",
                     "afrec_summary.json", "afrec_summary.txt"]
    ann = wfdb.rdann(str(annotated / "afrec"), "ann")
    aux = [a.rstrip("\x00") for a in ann.aux_note]
    beats = np.array([s for s, y in zip(ann.sample, ann.symbol) if y not in '+"'])
    assert abs(len(beats) - len(times)) <= 2
    rhythm = [(int(s), a) for s, y, a in zip(ann.sample, ann.symbol, aux) if y == "+"]
    assert [a for _, a in rhythm] == ["(N", "(AFIB", "(N"]
    assert rhythm[0][0] < beats[0]
    # each change lies between two beats, near the true AF onset and offset
    for s, want in ((rhythm[1][0], AF[0]), (rhythm[2][0], AF[1])):
        assert abs(s / FS - want) < 6.0, (s / FS, want)
        i = np.searchsorted(beats, s)
        assert beats[i - 1] < s < beats[i]
    episodes = json.loads((annotated / "afrec_summary.json").read_text())["episodes"]
    af = [e for e in episodes if e["kind"] == "AFIB"][0]
    onset = np.searchsorted(beats, rhythm[1][0])
    assert beats[onset] / FS == pytest.approx(af["start_s"], abs=1e-3)  # the (AFIB just before the onset beat
    notes = [(int(s), a) for s, y, a in zip(ann.sample, ann.symbol, aux) if y == '"']
    assert len(notes) == 1 and notes[0][1] == f"PAUSE {PAUSE_S:.1f}s"
    i = np.searchsorted(beats, notes[0][0])
    assert beats[i] - beats[i - 1] == pytest.approx(PAUSE_S * FS, abs=5)  # inside the pause


# ----------------------------------------------------------------------------- CSV and summary


def test_episodes_csv_and_summary(annotated, record):
    _, times, early = record
    s = json.loads((annotated / "afrec_summary.json").read_text())
    rows = _rows(annotated / "afrec_episodes.csv")
    assert [r["kind"] for r in rows] == [e["kind"] for e in s["episodes"]] == ["PAUSE", "AFIB"]
    for r, e in zip(rows, s["episodes"]):
        assert float(r["onset_s"]) == pytest.approx(e["start_s"], abs=1e-3)
        assert float(r["duration_s"]) == pytest.approx(e["duration_s"], abs=1e-3)
        assert int(r["beats"]) == e["beats"] and float(r["max_bpm"]) == pytest.approx(e["max_bpm"], abs=0.05)
        assert r["onset"] == summary.clock(e["start_s"])
    assert rows[1]["onset"].startswith("0:01:0") and rows[1]["offset"].startswith("0:01:5")  # about 1:00 and 2:00
    pause = s["longest_pause"]
    assert pause["duration_s"] == pytest.approx(PAUSE_S, abs=0.02) and abs(pause["start_s"] - PAUSE_AT) < 1.5
    # AF burden: % of the analysed time (first to last beat) in AF, against the truth
    truth = 100 * (AF[1] - AF[0]) / (times[-1] - times[0])
    assert s["af_burden_pct"] == pytest.approx(truth, abs=5.0)
    assert s["episode_counts"]["AFIB"] == 1 and s["episode_counts"]["PAUSE"] == 1
    # ectopy outside AF: the 8 premature beats (a beat or two of the AF minute outside the detected episode may
    # come early too), per hour of analysed time outside AF
    beats = _rows(annotated / "afrec_beats.csv")
    t = np.array([float(b["time_s"]) for b in beats])
    cls = np.array([b["class"] for b in beats])
    af = [e for e in s["episodes"] if e["kind"] == "AFIB"][0]
    inside = (t >= af["start_s"]) & (t <= af["end_s"])
    assert not (cls[inside] == "S").any() and s["relabelled_in_af"] > 5  # no S in AF: the rule relabelled them
    for te in early:
        assert cls[np.argmin(np.abs(t - te))] == "S"
    out = s["ectopic_outside_af"]
    assert len(early) <= out["beats"] <= len(early) + 3 and out["beats"] == int((cls[~inside] == "S").sum())
    hours = (s["analysed_s"] - s["af_s"]) / 3600
    assert out["hours"] == pytest.approx(hours, abs=1e-4)
    assert out["per_hour"] == pytest.approx(out["beats"] / hours, abs=0.1)
    assert s["ectopic_per_hour"] == pytest.approx((cls == "S").sum() / (DURATION / 3600), abs=0.1)  # unchanged
    text = (annotated / "afrec_summary.txt").read_text().splitlines()
    assert text[1] == "signal quality: 100.0% analysable" and s["signal_quality"]["analysable_fraction"] == 1.0
    assert text[2].startswith(f"AF burden {s['af_burden_pct']:.1f}% of ") and "1 AF episode" in text[2]
    assert any(line.startswith("longest pause 2.6") for line in text)
    assert any(line.startswith("ectopic beats outside AF:") for line in text)


def test_summary_rhythm_figures_exact():
    t = np.arange(3600, dtype=float)  # one beat a second for an hour
    classes = ["N"] * 3600
    for i in (100, 200, 300, 2500, 3000):
        classes[i] = "V"
    for i in (1200, 1300, 1400):
        classes[i] = "S"  # inside AF: not counted outside it
    eps = [Episode("AFIB", 1000.0, 1900.0, 901, 60.0, 60.0), Episode("PAUSE", 2000.0, 2003.0, 2, 20.0, 20.0),
           Episode("PAUSE", 500.0, 502.5, 2, 24.0, 24.0)]
    s = summary.summarize(t, classes, 3600.0, ["N", "S", "V", "F", "Q"], episodes=eps,
                          in_af=beats_in(t, eps, ("AFIB",)), relabelled=7)
    assert s["af_burden_pct"] == pytest.approx(100 * 900 / 3599, abs=0.005)
    assert s["analysed_s"] == 3599 and s["af_s"] == 900
    assert s["ectopic_outside_af"] == {"beats": 5, "hours": round(2699 / 3600, 4),
                                       "per_hour": round(5 / (2699 / 3600), 1),
                                       "per_hour_by_class": {"S": 0.0, "V": round(5 / (2699 / 3600), 1), "F": 0.0}}
    assert s["longest_pause"]["start_s"] == 2000.0 and s["longest_pause"]["duration_s"] == 3.0
    assert s["episode_counts"]["PAUSE"] == 2 and s["relabelled_in_af"] == 7 and len(s["episodes"]) == 3
    assert s["ectopic_beats"] == 8  # the existing keys are as before
    lines = summary.text(s).splitlines()
    assert lines[0].startswith("AF burden 25.0% of 0:59:59.000 analysed (1 AF episode, longest 0:15:00.000")
    assert lines[1] == "episodes: AFIB 1, PAUSE 2"
    assert "episodes" not in summary.summarize(t, classes, 3600.0, ["N", "S", "V"])  # without the rhythm: as before


# ----------------------------------------------------------------------------- strip chart


def test_strip_chart_spans_take_the_longest_af_onset(annotated):
    eps = [Episode("AFIB", 30.0, 80.0, 60), Episode("AFIB", 200.0, 500.0, 300), Episode("PAUSE", 600.0, 603.0, 2)]
    spans = strip_chart.default_spans(np.arange(0.0, 900.0), ["N"] * 900, 900.0, eps)
    assert spans[0][:2] == (0.0, 10.0)
    assert spans[1][:2] == (198.0, 208.0) and "AF onset at 0:03:20" in spans[1][2]
    assert spans[2][:2] == (596.5, 606.5) and "longest pause" in spans[2][2]
    early = strip_chart.default_spans(np.arange(0.0, 900.0), ["N"] * 900, 900.0, [Episode("AFIB", 1.0, 90.0, 90)])
    assert len(early) == 1  # AF from the start: its strip is the first 10 s
    assert strip_chart.default_spans(np.arange(0.0, 90.0), ["N"] * 90, 90.0) == [(0.0, 10.0, "first 10 s")]
    from PIL import Image

    w, h = Image.open(annotated / "afrec_strip.png").size
    assert h > 3 * 118  # first 10 s, the AF onset, the pause (and the ectopic minute)


def test_strip_chart_of_annotate_has_the_af_strip(record, classifier, tmp_path):
    a = A.with_rhythm(A.annotate(classifier, record[0]), classifier.card)
    af = [e for e in a.episodes if e.kind == "AFIB"][0]
    spans = strip_chart.default_spans(a.times_s, a.classes, DURATION, a.episodes)
    assert any(s == pytest.approx(af.start_s - 2.0) and s < af.start_s < e for s, e, _ in spans)


def test_strip_chart_hatches_unreadable_stretches_and_gives_the_analysable_fraction(monkeypatch, tmp_path):
    from keras_ecg.evaluation import plots

    figs = []
    real_save = plots._save_fig
    monkeypatch.setattr(plots, "_save_fig", lambda fig, path: (figs.append(fig), real_save(fig, path)))
    fs, bad = 250.0, [(20.0, 40.0, "noise"), (50.0, 60.0, "flat")]
    times = np.arange(0.5, 60.0, 0.8)
    times = times[~(((times >= 20) & (times < 40)) | (times >= 50))]  # no beats where it is unreadable
    spans = strip_chart.default_spans(times, ["N"] * len(times), 60.0, (), bad)
    assert spans == [(0.0, 10.0, "first 10 s"), (18.0, 28.0, "unreadable (noise) from 0:00:20, 20 s")]
    spans.append((45.0, 60.0, "the end"))
    strip_chart.draw(tmp_path / "s.png", np.zeros(int(60 * fs)), fs, times, ["N"] * len(times), spans,
                     title="rec", unreadable=bad, analysable_fraction=0.5)
    assert (tmp_path / "s.png").is_file()
    (fig,) = figs
    assert any(t.get_text() == "rec; signal 50.0% analysable (2 unreadable stretches, hatched)" for t in fig.texts)
    bands = []  # (row start, band start, band end, reason) of each hatched band
    for ax in fig.axes:
        t0 = ax.get_xlim()[0]
        for patch in ax.patches:
            if (patch.get_gid() or "").startswith("unreadable:"):
                assert patch.get_hatch() == "///"
                x = patch.get_transform().transform(patch.get_path().vertices)[:, 0]  # display x
                xs = ax.transData.inverted().transform(np.c_[x, np.zeros_like(x)])[:, 0]  # seconds
                bands.append((t0, round(xs.min(), 6), round(xs.max(), 6), patch.get_gid().split(":")[1]))
        labels = [t.get_text() for t in ax.texts if t.get_text().startswith("unreadable:")]
        assert len(labels) == sum(b[0] == t0 for b in bands)
    assert sorted(bands) == [(18.0, 20.0, 28.0, "noise"), (45.0, 50.0, 55.0, "flat"), (55.0, 55.0, 60.0, "flat")]


# ----------------------------------------------------------------------------- predict and binary models


def test_predict_returns_episodes_and_agrees_with_annotate(annotated, record, card):
    from keras_ecg.deploy import predict as P

    res = P.predict_paths(_Model(), card, [record[0]])[0]
    assert res["beats_from"] == "detected R peaks"
    s = json.loads((annotated / "afrec_summary.json").read_text())
    beats = _rows(annotated / "afrec_beats.csv")
    assert [it["class"] for it in res["items"]] == [b["class"] for b in beats]
    assert [it["sample"] for it in res["items"]] == [int(b["sample"]) for b in beats]
    np.testing.assert_allclose([it["probabilities"]["N"] for it in res["items"]], [float(b["p_N"]) for b in beats],
                               atol=1e-5)
    assert [it["uncertain"] for it in res["items"]] == [b["uncertain"] == "1" for b in beats]
    assert res["episodes"] == s["episodes"] and res["af_burden_pct"] == s["af_burden_pct"]
    assert res["relabelled_in_af"] == s["relabelled_in_af"] > 0
    text = P.format_text([res], card)
    assert f"AF burden {s['af_burden_pct']:.1f}%; episodes: PAUSE 1, AFIB 1" in text


def test_uncertain_flags_follow_the_ruled_probabilities(card):
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.4, 1.1, 200))  # irregular throughout: AF
    probs = np.tile([0.5, 0.46, 0.02, 0.01, 0.01], (200, 1))  # N by a little, unsure (below 0.84)
    r, unsure = record_rhythm.analyze(t, probs, card, np.ones(200, dtype=bool))
    assert r.in_af.all() and not unsure.any() and r.probs[0, 0] == pytest.approx(0.96)
    r, unsure = record_rhythm.analyze(t, probs, dataclasses.replace(card, rhythm=None), np.ones(200, dtype=bool))
    assert unsure.all() and r.relabelled == 0  # no rhythm part in the card: the model's outputs


def test_binary_model_gets_episodes_from_timing(record, card, tmp_path):
    from keras_ecg.deploy import runtime

    risk = dataclasses.replace(card, binary=True, class_names=["normal", "risky"], calibration=None)
    assert record_rhythm.config(risk).af_rule == "none"
    clf = runtime.Classifier(lambda x: np.full((len(x[0]), 1), 0.3), risk, pathlib.Path("r.keras"), "stand-in")
    paths = A.write(A.annotate(clf, record[0]), risk, tmp_path)
    s = json.loads(paths["summary_json"].read_text())
    assert [e["kind"] for e in s["episodes"]] == ["PAUSE", "AFIB"] and s["relabelled_in_af"] == 0
    assert s["ectopic_outside_af"]["per_hour_by_class"] == {}
    assert _rows(paths["beats_csv"])[0]["risk"] == "0.30000"


def test_explain_shows_the_rhythm_aware_classes_of_a_record(record, card):
    """explain reads a record's beats as predict does and shows the classes after the card's AF rule."""
    from keras_ecg.deploy import explain_files as X
    from keras_ecg.deploy import predict as P

    [(_, xs, labels, whole)] = X._items(card, record[0], 10_000)
    probs, unsure = X._probabilities(_Model(), card, xs, whole)
    res = P.predict_paths(_Model(), card, [record[0]])[0]
    assert res["relabelled_in_af"] > 0 and len(probs) == len(res["items"])
    assert [card.class_names[k] for k in probs.argmax(axis=1)] == [it["class"] for it in res["items"]]
    assert list(unsure) == [it["uncertain"] for it in res["items"]]
    first, _ = X._probabilities(_Model(), card, [x[:5] for x in xs], whole)  # --max 5: the same first five
    np.testing.assert_allclose(first, probs[:5])
