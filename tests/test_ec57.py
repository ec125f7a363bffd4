"""AAMI EC57 beat-by-beat evaluation: hand-computed cases and agreement with scikit-learn."""

import json

import numpy as np
import pytest

from keras_ecg.errors import DataError
from keras_ecg.evaluation import ec57

pytestmark = pytest.mark.backend_free


N, S, V, F, Q = range(5)


def test_match_beats_nearest_first_and_one_to_one():
    # one detection between two reference beats goes to the nearer one (the second), not the first in time
    ri, di = ec57.match_beats([1000, 1100], [1060], fs=1000)
    assert ri.tolist() == [1] and di.tolist() == [0]
    # two detections near one reference beat: only the nearer is matched
    ri, di = ec57.match_beats([1000], [960, 1020], fs=1000)
    assert ri.tolist() == [0] and di.tolist() == [1]
    # a tie goes to the earlier reference beat
    ri, di = ec57.match_beats([1000, 1100], [1050], fs=1000)
    assert ri.tolist() == [0] and di.tolist() == [0]
    # indices refer to the inputs as given, unsorted
    ri, di = ec57.match_beats([3000, 1000], [1005, 2990, 7000], fs=1000)
    assert sorted(zip(ri.tolist(), di.tolist())) == [(0, 1), (1, 0)]


def test_match_beats_tolerance_edges():
    fs = 360.0  # 150 ms = 54 samples
    ri, _ = ec57.match_beats([1000], [1054], fs)
    assert len(ri) == 1
    ri, _ = ec57.match_beats([1000], [1055], fs)
    assert len(ri) == 0
    ri, _ = ec57.match_beats([1000], [946], fs)
    assert len(ri) == 1
    ri, di = ec57.match_beats([], [5], fs)
    assert len(ri) == len(di) == 0


def test_beat_metrics_by_hand():
    y_true = [N, N, N, S, V]
    y_pred = [N, S, N, S, N]
    m = ec57.beat_metrics(y_true, y_pred)
    assert m["accuracy"] == pytest.approx(3 / 5)
    n, s, v, f = (m["per_class"][c] for c in "NSVF")
    assert (n["tp"], n["fn"], n["fp"], n["tn"]) == (2, 1, 1, 1)
    assert n["se"] == pytest.approx(2 / 3) and n["ppv"] == pytest.approx(2 / 3) and n["fpr"] == pytest.approx(1 / 2)
    assert (s["tp"], s["fn"], s["fp"], s["tn"]) == (1, 0, 1, 3)
    assert s["se"] == 1.0 and s["ppv"] == 0.5 and s["f1"] == pytest.approx(2 / 3) and s["fpr"] == pytest.approx(1 / 4)
    assert v["se"] == 0.0 and v["ppv"] is None and v["f1"] == 0.0 and v["support"] == 1
    assert f["support"] == 0 and f["se"] is None and f["ppv"] is None and f["f1"] is None and f["fpr"] == 0.0
    # macro over the scored classes with a defined F1 (F has none): (2/3 + 2/3 + 0) / 3
    assert m["macro_f1"] == pytest.approx(4 / 9)
    assert set(m["per_class"]) == {"N", "S", "V", "F"} and set(m["unscored"]) == {"Q"}
    assert m["confusion"][N] == [2, 1, 0, 0, 0]
    json.dumps(m, allow_nan=False)


def test_q_is_reported_apart_not_averaged():
    y_true = [N, N, Q, Q]
    y_pred = [N, N, N, Q]
    m = ec57.beat_metrics(y_true, y_pred)
    assert m["unscored"]["Q"]["se"] == 0.5 and m["unscored"]["Q"]["ppv"] == 1.0
    # N: tp 2, fp 1 -> F1 4/5; the only scored class with a defined F1
    assert m["macro_f1"] == pytest.approx(4 / 5)
    assert m["accuracy"] == pytest.approx(3 / 4)


def test_names_and_indices_agree():
    a = ec57.beat_metrics(["N", "S", "V", "V"], ["N", "N", "V", "F"])
    b = ec57.beat_metrics([N, S, V, V], [N, N, V, F])
    assert a == b


def test_end_to_end_by_hand():
    fs = 1000.0  # 150 ms = 150 samples
    ref = [1000, 2000, 3000]
    lab = ["N", "V", "S"]
    det = [1010, 2150, 3151, 5000]  # 2150 just inside, 3151 just outside, 5000 far from any beat
    pred = ["N", "V", "N", "S"]
    m = ec57.end_to_end(ref, lab, det, pred, fs)
    # events: 2 matched (both right) + 1 missed S + 2 extras (N, S) = 5
    assert m["n"] == 5 and m["accuracy"] == pytest.approx(2 / 5)
    assert m["matched"] == 2
    assert m["missed"] == {"N": 0, "S": 1, "V": 0, "F": 0, "Q": 0}
    assert m["extra_detections"] == {"N": 1, "S": 1, "V": 0, "F": 0, "Q": 0}
    assert m["detector_se"] == pytest.approx(2 / 3) and m["detector_ppv"] == pytest.approx(2 / 4)
    n, s, v = (m["per_class"][c] for c in "NSV")
    assert (n["tp"], n["fn"], n["fp"], n["tn"]) == (1, 0, 1, 3)
    assert (s["tp"], s["fn"], s["fp"], s["tn"]) == (0, 1, 1, 3)
    assert (v["tp"], v["fn"], v["fp"], v["tn"]) == (1, 0, 0, 4)
    assert n["f1"] == pytest.approx(2 / 3) and s["f1"] == 0.0 and v["f1"] == 1.0
    assert m["per_class"]["F"]["f1"] is None
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    json.dumps(m, allow_nan=False)


def test_end_to_end_two_detections_near_one_beat():
    m = ec57.end_to_end([1000], [N], [960, 1020], [V, N], fs=1000)
    assert m["matched"] == 1 and m["accuracy"] == 0.5
    assert m["extra_detections"]["V"] == 1 and m["per_class"]["N"]["tp"] == 1
    assert m["per_class"]["V"]["fp"] == 1 and m["per_class"]["V"]["support"] == 0


def test_end_to_end_equals_beat_metrics_when_detection_is_perfect():
    rng = np.random.default_rng(1)
    ref = np.sort(rng.choice(np.arange(0, 100000, 300), 200, replace=False))
    lab = rng.integers(0, 5, 200)
    pred = rng.integers(0, 5, 200)
    jitter = rng.integers(-20, 21, 200)
    e2e = ec57.end_to_end(ref, lab, ref + jitter, pred, fs=360)
    ref_pos = ec57.beat_metrics(lab, pred)
    assert e2e["matched"] == 200 and e2e["detector_se"] == 1.0
    for key in ("accuracy", "macro_f1", "per_class", "unscored", "confusion", "n"):
        assert e2e[key] == ref_pos[key]


def test_end_to_end_matches_within_records_only():
    # the same sample index in two records must not match across them
    m = ec57.end_to_end([[1000], []], [[N], []], [[], [1000]], [[], [N]], fs=[360, 360])
    assert m["matched"] == 0 and m["missed"]["N"] == 1 and m["extra_detections"]["N"] == 1
    assert m["records"] == 2 and m["accuracy"] == 0.0
    # several records add up: the second record's beats at other positions
    one = ec57.end_to_end([100, 500], [N, V], [101, 499], [N, N], fs=360)
    two = ec57.end_to_end([[100], [500]], [[N], [V]], [[101], [499]], [[N], [N]], fs=360)
    assert one["confusion"] == two["confusion"] and one["accuracy"] == two["accuracy"] == 0.5


def test_empty_inputs():
    m = ec57.beat_metrics([], [])
    assert m["n"] == 0 and m["accuracy"] is None and m["macro_f1"] is None
    e = ec57.end_to_end([], [], [], [], fs=360)
    assert e["n"] == 0 and e["matched"] == 0 and e["detector_se"] is None and e["detector_ppv"] is None
    e = ec57.end_to_end([], [], [10, 500], [N, V], fs=360)
    assert e["accuracy"] == 0.0 and e["detector_ppv"] == 0.0 and e["extra_detections"]["V"] == 1
    json.dumps(e, allow_nan=False)


def test_bad_inputs_raise_one_line():
    with pytest.raises(DataError, match="differ in length"):
        ec57.beat_metrics([0, 1], [0])
    with pytest.raises(DataError, match="unknown class"):
        ec57.beat_metrics(["N", "X"], ["N", "N"])
    with pytest.raises(DataError, match="outside"):
        ec57.beat_metrics([0, 7], [0, 0])
    with pytest.raises(DataError, match="labels"):
        ec57.end_to_end([1, 2, 3], [0, 0], [1], [0], fs=360)
    with pytest.raises(DataError, match="record counts"):
        ec57.end_to_end([[1], [2]], [[0]], [[1], [2]], [[0], [0]], fs=360)
    with pytest.raises(DataError, match="fs"):
        ec57.match_beats([1], [1], fs=0)
    with pytest.raises(DataError) as info:
        ec57.beat_metrics([0, 1], [0])
    assert "\n" not in str(info.value)


def test_agrees_with_sklearn_on_random_labels():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y_true = rng.choice(5, 3000, p=[0.6, 0.1, 0.15, 0.1, 0.05])
    y_pred = np.where(rng.random(3000) < 0.6, y_true, rng.integers(0, 5, 3000))
    m = ec57.beat_metrics(y_true, y_pred)
    p, r, f, support = metrics.precision_recall_fscore_support(y_true, y_pred, labels=range(5))
    for i, c in enumerate("NSVFQ"):
        got = m["per_class"].get(c) or m["unscored"][c]
        assert got["ppv"] == pytest.approx(p[i]) and got["se"] == pytest.approx(r[i])
        assert got["f1"] == pytest.approx(f[i]) and got["support"] == support[i]
        cm = metrics.confusion_matrix(y_true, y_pred, labels=range(5))
        fp = cm[:, i].sum() - cm[i, i]
        assert got["fpr"] == pytest.approx(fp / (len(y_true) - cm[i, :].sum()))
    assert m["accuracy"] == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    assert m["macro_f1"] == pytest.approx(metrics.f1_score(y_true, y_pred, labels=[0, 1, 2, 3], average="macro"))
    assert m["confusion"] == metrics.confusion_matrix(y_true, y_pred, labels=range(5)).tolist()
