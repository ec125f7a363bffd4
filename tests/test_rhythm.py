"""Rhythm analysis: AF detectors, episodes, the beat rule in AF, the card's rhythm part, AF measures."""

import json
import pathlib

import numpy as np
import pytest

from keras_ecg import rhythm
from keras_ecg.card_rhythm import RhythmConfig
from keras_ecg.errors import CardError
from keras_ecg.evaluation import rhythm as RM
from keras_ecg.rhythm import af
from keras_ecg.rhythm import episodes as E

pytestmark = pytest.mark.backend_free


NAMES = ["N", "S", "V", "F", "Q"]


def _times(rng, sinus_s=300.0, af_s=300.0, rr=0.8):
    """Beat times: sinus rhythm (2 % RR jitter), AF (log-normal RR, 25 % spread), sinus again; AF bounds."""
    def sinus(seconds):
        n = int(seconds / rr)
        return rr * (1 + 0.02 * rng.standard_normal(n))

    fib = 0.7 * np.exp(0.25 * rng.standard_normal(int(af_s / 0.7)))
    rrs = np.concatenate([sinus(sinus_s), fib, sinus(sinus_s)])
    t = np.cumsum(rrs)
    start = float(np.sum(rrs[: int(sinus_s / rr)]))
    return t, (start, start + float(fib.sum()))


def _probs(n, cls="N"):
    p = np.zeros((n, len(NAMES)))
    p[:, NAMES.index(cls)] = 0.9
    p[:, NAMES.index("S" if cls == "N" else "N")] = 0.1
    return p


@pytest.mark.parametrize("detector", ["irregularity", "cosen"])
def test_af_detectors_separate_af_from_sinus(rng, detector):
    t, (a, b) = _times(rng)
    s = af.score(t, None, detector)
    inside = (t > a + 30) & (t < b - 30)
    outside = (t < a - 30) | (t > b + 30)
    assert np.nanmedian(s[inside]) > np.nanmedian(s[outside])
    assert np.nanquantile(s[inside], 0.1) > np.nanquantile(s[outside], 0.9)


def test_irregularity_reads_bigeminy_and_isolated_ectopy_as_regular(rng):
    # atrial bigeminy: short-long pairs, perfectly regular pattern; every 7th beat early
    big = np.cumsum(np.tile([0.5, 1.0], 200) * (1 + 0.01 * rng.standard_normal(400)))
    rr = np.full(400, 0.8)
    rr[::7] = 0.5
    rr[1::7] = 1.1
    iso = np.cumsum(rr)
    fib = np.cumsum(0.7 * np.exp(0.25 * rng.standard_normal(400)))
    thr = RhythmConfig().af_threshold
    assert np.nanmedian(af.irregularity(big)) < thr
    assert np.nanmedian(af.irregularity(iso)) < thr
    assert np.nanmedian(af.irregularity(fib)) > thr


def test_intervals_next_to_ventricular_beats_are_left_out(rng):
    n = 400
    rr = np.full(n, 0.8) * (1 + 0.01 * rng.standard_normal(n))
    classes = np.array(["N"] * n)
    classes[5::4] = "V"  # a PVC every 4th beat: irregular RR around each
    rr[5::4] = 0.45
    rr[6::4] = 1.15
    t = np.cumsum(rr)
    assert np.nanmedian(af.irregularity(t, classes)) < np.nanmedian(af.irregularity(t, None))
    # ventricular bigeminy leaves almost no NN intervals: no atrial evidence (NaN), never AF
    cls = np.array(["N", "V"] * 200)
    assert np.isnan(af.irregularity(np.cumsum(np.full(400, 0.8)), cls)).all()


def test_analyze_finds_af_episode_and_relabels_s_inside_only(rng):
    t, (a, b) = _times(rng)
    p = _probs(len(t))
    s_in = np.flatnonzero((t > a + 60) & (t < b - 60))[:20]
    s_out = np.flatnonzero(t < a - 60)[:5]
    p[s_in] = _probs(len(s_in), "S")
    p[s_out] = _probs(len(s_out), "S")
    r = rhythm.analyze(t, p, NAMES)
    afib = [e for e in r.episodes if e.kind == "AFIB"]
    assert len(afib) == 1
    assert abs(afib[0].start_s - a) < 20 and abs(afib[0].end_s - b) < 20
    assert r.relabelled == len(s_in)
    assert all(r.classes[i] == "N" for i in s_in) and all(r.classes[i] == "S" for i in s_out)
    np.testing.assert_allclose(r.probs.sum(axis=1), p.sum(axis=1))
    kept = rhythm.analyze(t, p, NAMES, RhythmConfig(af_rule="none"))
    assert kept.relabelled == 0 and sum(c == "S" for c in kept.classes) == len(s_in) + len(s_out)


def test_episode_rules():
    rr = np.full(200, 1.0)
    rr[50] = 2.6  # a pause
    t = np.cumsum(rr)
    c = np.array(["N"] * 200)
    c[100:104] = "V"  # 4 V beats at 60 bpm: a ventricular run, not VT
    c[[120, 122, 124, 126]] = "S"  # bigeminy of 4 cycles
    c[[150, 153, 156]] = "V"  # trigeminy of 3 cycles
    eps = E.pauses(t, 2.0) + E.class_runs(t, c) + E.patterns(t, c)
    kinds = sorted(e.kind for e in eps)
    assert kinds == ["BIGEMINY", "PAUSE", "TRIGEMINY", "VRUN"]
    pause = next(e for e in eps if e.kind == "PAUSE")
    assert pause.duration_s == pytest.approx(2.6)
    fast = np.cumsum(np.full(10, 0.4))  # 150 bpm
    assert [e.kind for e in E.class_runs(fast, ["V"] * 10)] == ["VT"]
    assert [e.kind for e in E.class_runs(fast, ["V", "V"] + ["N"] * 8)] == []  # a couplet is no run


def test_rate_episodes_need_the_rate_sustained():
    rr = np.concatenate([np.full(100, 0.8), np.full(60, 1.5), np.full(100, 0.8), np.full(10, 1.5)])
    t = np.cumsum(rr)
    eps = E.rate_episodes(t, brady_bpm=50, tachy_bpm=100, sustained_s=30)
    assert [e.kind for e in eps] == ["BRADY"]  # 60 beats at 40 bpm (90 s), not the 15 s stretch
    assert eps[0].mean_bpm == pytest.approx(40, abs=3)


def test_card_rhythm_part_round_trips_and_is_checked():
    from keras_ecg import card as C

    d = json.loads(pathlib.Path("saved_models/mitbih_beats/model_card.json").read_text())
    d["rhythm"] = RhythmConfig(af_threshold=0.1).to_card()
    card = C.ModelCard.from_dict(d)
    assert card.rhythm_config().af_threshold == 0.1
    assert C.ModelCard.from_dict(card.to_dict()).rhythm == card.rhythm
    d["rhythm"] = {"af_rule": "always"}
    with pytest.raises(CardError, match="rhythm.af_rule"):
        C.ModelCard.from_dict(d)
    d["rhythm"] = {"pause_s": 0}
    with pytest.raises(CardError, match="rhythm.pause_s"):
        C.ModelCard.from_dict(d)
    d.pop("rhythm")
    assert C.ModelCard.from_dict(d).rhythm_config().af_rule == "none"  # an older card: classes untouched


def test_af_measures():
    ref = [(0.0, 100.0), (200.0, 260.0)]
    det = [(10.0, 110.0), (400.0, 420.0)]
    m = RM.record_measures(ref, det, 1000.0)
    assert m["both_s"] == 90.0 and m["ref_found"] == 1 and m["det_true"] == 1
    pooled = RM.af_measures({"a": m})
    assert pooled["duration_se"] == pytest.approx(90 / 160, abs=1e-4)
    assert pooled["duration_ppv"] == pytest.approx(90 / 120, abs=1e-4)
    assert pooled["episode_se"] == 0.5 and pooled["episode_ppv"] == 0.5
    assert m["ref_burden"] == 16.0 and m["longest_ref_found"]  # (0, 100) overlaps (10, 110)
    assert not RM.record_measures(ref, [(210.0, 220.0)], 1000.0)["longest_ref_found"]
    assert (m["long_ref_episodes"], m["long_ref_found"]) == (1, 1)  # (0, 100) is over a minute, (200, 260) is not


def test_reference_rhythm_from_wfdb_notes(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    fs = 100
    wfdb.wrsamp("r", fs=fs, units=["mV"], sig_name=["MLII"], p_signal=np.zeros((fs * 100, 1)), fmt=["16"],
                write_dir=str(tmp_path))
    wfdb.wrann("r", "atr", np.array([0, 50, 2000, 5000]), ["+", "N", "+", "+"],
               aux_note=["(N", "", "(AFIB", "(N"], write_dir=str(tmp_path))
    notes, duration = RM.reference_rhythm(tmp_path / "r")
    assert notes == [("N", 0.0, 20.0), ("AFIB", 20.0, 50.0), ("N", 50.0, 100.0)]
    assert duration == 100.0
    assert RM.intervals(notes) == [(20.0, 50.0)]


def test_evaluate_records_scores_rhythm_on_real_af_record(mitdb_dir):
    from keras_ecg.deploy import runtime
    from keras_ecg.evaluation import records as ER

    clf = runtime.load("pretrained:mitbih_beats")
    res = ER.evaluate_records(clf, mitdb_dir, ["202"], clf.card.preprocessing, rhythm=RhythmConfig())
    r = res["rhythm"]
    assert r["per_record"]["202"]["ref_s"] > 600
    assert r["af_records"]["duration_se"] > 0.6 and r["af_records"]["episode_se"] > 0.5
    plain = ER.evaluate_records(clf, mitdb_dir, ["202"], clf.card.preprocessing)
    # the beat rule in AF raises N sensitivity: fewer N beats called S than without it
    assert res["reference"]["per_class"]["N"]["se"] > plain["reference"]["per_class"]["N"]["se"]


def test_evaluate_scores_the_rhythm_aware_classes_everywhere(mitdb_dir, tmp_path):
    """evaluate's top-level figures and its EC57 section both score the card's rhythm-aware classes."""
    from keras_ecg.deploy import evaluate_data, runtime

    folder = tmp_path / "db"
    folder.mkdir()
    for ext in ("hea", "dat", "atr"):
        (folder / f"202.{ext}").symlink_to(mitdb_dir / f"202.{ext}")
    clf = runtime.load("pretrained:mitbih_beats")
    assert clf.card.rhythm_config().af_rule == "no_s_in_af"
    rep = evaluate_data.evaluate_data(clf, [folder], tmp_path / "out", log=lambda *a: None)
    assert rep["accuracy"] == pytest.approx(rep["ec57"]["reference"]["accuracy"])
    assert rep["ec57"]["rhythm"]["per_record"][str(folder / "202")]["ref_s"] > 600
