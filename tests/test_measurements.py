"""Measurements of the median beat (keras_ecg.data.images.measurements) on signals with known values."""

import math

import numpy as np
import pytest

from keras_ecg.data.images import measure_check, measurements

pytestmark = pytest.mark.backend_free


LEADS = measurements.LEADS12


def _x(case, fs=250.0, seed=0, duration_s=10.0):
    sig = measure_check.known_leads(case, seed=seed, fs=fs, duration_s=duration_s)
    return np.stack([sig[lead] for lead in LEADS], axis=1)


@pytest.mark.parametrize("case", ["normal", "anterior_stemi", "inferior_old_mi", "wide_qrs"])
def test_known_values_within_tolerance(case):
    m = measurements.measure(_x(case), 250.0, LEADS)
    known = measure_check.known_values(case)
    tol = {"q_ms": 12, "qrs_ms": 16, "qt_ms": 20, "q_mv": 0.05, "r_mv": 0.05, "s_mv": 0.05,
           "st_j60_mv": 0.05, "t_mv": 0.05}
    for lead in LEADS:
        for key, t in tol.items():
            want, got = known["leads"][lead][key], m["leads"][lead][key]
            if math.isnan(want):
                continue
            if key == "q_ms" and 0 < known["leads"][lead]["q_mv"] < 0.1:
                t = 20  # a small (0.05 mV) q on a tall R: its start is under the noise
            assert abs(got - want) <= t, (case, lead, key, got, want)
    assert abs(m["heart_rate_bpm"] - known["heart_rate_bpm"]) < 1.0


def test_global_values_and_axis():
    m = measurements.measure(_x("normal"), 250.0)
    assert abs(m["qrs_ms"] - 90) <= 15
    assert abs(m["qtc_ms"] - m["qt_ms"] / math.sqrt(0.9)) < 1e-6  # Bazett at RR 0.9 s
    assert 30 < m["axis_deg"] < 60
    assert -60 < measurements.measure(_x("left_axis"), 250.0)["axis_deg"] < -35
    prog = m["r_progression"]
    assert len(prog["r_mv"]) == 6 and prog["r_mv"][0] < prog["r_mv"][3]
    assert prog["transition"] in ("V3", "V4")


def test_digitized_input_at_100hz():
    """The classical model's input: 2.5 s at 100 Hz; durations within 10 ms steps more."""
    x = _x("inferior_old_mi", fs=100.0, duration_s=2.5)
    m = measurements.measure(x, 100.0)
    for lead in ("II", "III", "aVF"):
        assert abs(m["leads"][lead]["q_ms"] - 40) <= 20, (lead, m["leads"][lead])
        assert abs(m["leads"][lead]["t_mv"] + 0.2) <= 0.06
    assert abs(m["heart_rate_bpm"] - 60) < 3


def test_evidence_abnormal_and_normal():
    assert measurements.evidence(measurements.measure(_x("normal"), 250.0)) == []
    ev = measurements.evidence(measurements.measure(_x("anterior_stemi"), 250.0))
    assert any(e.startswith("ST +0.3") and e.endswith("in V1–V4") for e in ev), ev
    assert any(e.startswith("ST -0.1") and e.endswith("in II, III, aVF") for e in ev), ev
    ev = measurements.evidence(measurements.measure(_x("inferior_old_mi"), 250.0))
    assert any(e.startswith("Q ") and e.endswith("ms in II, III, aVF") for e in ev), ev
    assert "T inverted in II, III, aVF" in ev
    assert not any(e.startswith("ST") for e in ev)
    ev = measurements.evidence(measurements.measure(_x("wide_qrs"), 250.0))
    assert any(e.startswith("QRS 1") for e in ev), ev
    ev = measurements.evidence(measurements.measure(_x("tachycardia"), 250.0))
    assert "HR 109 bpm" in ev and any(e.startswith("QTc ") for e in ev), ev


def test_one_lead_is_not_a_territory():
    m = measurements.measure(_x("normal"), 250.0)
    m["leads"]["V2"]["st_j60_mv"] = 0.4  # V2 alone: no two contiguous leads
    m["leads"]["III"]["q_ms"] = 60.0
    assert measurements.evidence(m) == []
    m["leads"]["aVF"]["q_ms"] = 50.0
    assert measurements.evidence(m) == ["Q 60 ms in III, aVF"]


def test_flat_nan_and_short_leads_never_raise():
    x = _x("normal")
    x[:, 0] = 0.0  # flat I
    x[:, 6] = np.nan  # V1 missing
    x[:, 7] = 0.0
    x[1000:1100, 7] = 1.0  # V2: a step, not a beat
    x[:, 8] = np.nan
    x[:50, 8] = 0.2  # V3: 0.2 s
    m = measurements.measure(x, 250.0)
    for lead in ("I", "V1", "V3"):
        assert all(math.isnan(v) for v in m["leads"][lead].values()), lead
    assert math.isnan(m["axis_deg"])  # needs lead I
    assert np.isfinite(m["leads"]["II"]["qrs_ms"])
    pm = measurements._json(m)
    assert pm["leads"]["I"]["q_ms"] is None and pm["axis_deg"] is None
    empty = measurements.measure(np.full((250, 12), np.nan), 100.0)
    assert math.isnan(empty["heart_rate_bpm"]) and measurements.evidence(empty) == []


def test_vector_fixed_length_no_nan():
    n = len(measurements.FEATURE_NAMES)
    assert len(set(measurements.FEATURE_NAMES)) == n
    empty = measurements.vector(measurements.measure(np.zeros((250, 12)), 100.0))
    assert empty.shape == (n,) and empty.dtype == np.float32 and not empty.any()
    x = _x("normal", fs=100.0, duration_s=2.5)
    f = measurements.features(np.stack([x, np.full_like(x, np.nan)]))
    assert f.shape == (2, n) and np.isfinite(f).all()
    assert f[0, measurements.FEATURE_NAMES.index("II_measured")] == 1.0
    assert abs(f[0, measurements.FEATURE_NAMES.index("II_r_mv")] - 1.2) < 0.1
    assert abs(f[0, measurements.FEATURE_NAMES.index("heart_rate_hz")] - 1 / 0.9) < 0.05
    assert not f[1].any()


def test_rendered_page_round_trip():
    from keras_ecg.data.images import synthetic_pages

    sig = measure_check.known_leads("inferior_old_mi", seed=3)
    page = synthetic_pages.render_page("normal", seed=3, signals=sig)
    pm = measurements.page_measurements(page)
    known = measure_check.known_values("inferior_old_mi")
    assert pm["layout"] == "3x4+1"
    assert abs(pm["heart_rate_bpm"] - 60) < 2
    for lead in ("II", "III", "aVF"):
        got, want = pm["leads"][lead], known["leads"][lead]
        assert abs(got["q_ms"] - want["q_ms"]) <= 20 and abs(got["q_mv"] - want["q_mv"]) <= 0.08
        assert abs(got["t_mv"] - want["t_mv"]) <= 0.08
    assert abs(pm["leads"]["V3"]["r_mv"] - 0.8) <= 0.15
    assert any(e.endswith("in II, III, aVF") and e.startswith("Q ") for e in pm["evidence"])
    import json

    json.dumps(pm, allow_nan=False)  # JSON-friendly: NaN became None
