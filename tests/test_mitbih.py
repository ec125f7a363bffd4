"""WFDB beat loading, AAMI mapping, cache, Kaggle CSV and bad-input errors.

Tiny WFDB records are written into tmp_path with wfdb.wrsamp/wrann; tests on
the real MIT-BIH database need KERAS_ECG_DATA (see conftest.py).
"""

import os
import pathlib

import numpy as np
import pytest

from keras_ecg.data import mitbih, splits, synthetic

pytestmark = pytest.mark.backend_free


wfdb = pytest.importorskip("wfdb")

FS = 360


def write_record(folder, name="r1", seconds=20, seed=0, leads=("MLII", "V1"), extra=None):
    """A synthetic 2-lead record with beat annotations plus a few non-beat ones."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sig, peaks, labels = synthetic.record(seconds, FS, seed=seed, class_probs=[0.5, 0.15, 0.15, 0.1, 0.1])
    two = np.stack([sig, -0.5 * sig + 0.1], axis=1).astype(np.float64)
    if extra is not None:
        extra(two)
    wfdb.wrsamp(name, fs=FS, units=["mV", "mV"], sig_name=list(leads), p_signal=two,
                fmt=["212", "212"], adc_gain=[200, 200], baseline=[0, 0], write_dir=str(folder))
    # one symbol per class, drawn from the MIT-BIH symbols that map to it
    sym_for = np.array(["L", "A", "V", "F", "/"])
    symbols = list(sym_for[labels])
    samples = list(peaks)
    # non-beat annotations: rhythm change and noise markers must be dropped
    samples += [int(peaks[0]) + 10, int(peaks[1]) + 10]
    symbols += ["+", "~"]
    order = np.argsort(samples, kind="stable")
    wfdb.wrann(name, "atr", np.array(samples)[order], list(np.array(symbols)[order]),
               aux_note=None, write_dir=str(folder))
    return peaks, labels


@pytest.fixture
def records(tmp_path):
    folder = tmp_path / "db"
    truth = {n: write_record(folder, n, seed=i) for i, n in enumerate(["r1", "r2"])}
    return folder, truth


def test_aami_mapping_is_standard():
    groups = {c: sorted(s for s, k in mitbih.AAMI_MAP.items() if k == c) for c in mitbih.AAMI_CLASSES}
    assert groups == {"N": ["L", "N", "R", "e", "j"], "S": ["A", "J", "S", "a"],
                      "V": ["E", "V"], "F": ["F"], "Q": ["/", "Q", "f"]}
    assert "+" not in mitbih.AAMI_MAP and "~" not in mitbih.AAMI_MAP


def test_load_beats_counts_groups_and_edges(records, tmp_path):
    folder, truth = records
    ds = mitbih.load_beats(folder, cache_dir=tmp_path / "cache")
    assert ds.x.shape[1:] == (187,) and ds.x.dtype == np.float32
    assert ds.meta["sampling_rate"] == 125 and ds.meta["synthetic"] is False
    expected = total_dropped = 0
    for name, (peaks, labels) in truth.items():
        r = np.round(peaks * 125 / FS).astype(int)
        inside = (r - 93 >= 0) & (r - 93 + 187 <= 20 * 125)
        assert np.sum(ds.groups == name) == inside.sum()
        assert np.array_equal(ds.y[ds.groups == name], labels[inside])
        expected += inside.sum()
        total_dropped += (~inside).sum()
    assert len(ds) == expected
    assert ds.meta["edge_dropped_total"] == total_dropped
    assert sum(ds.meta["edge_dropped"].values()) == total_dropped


def test_beat_is_centred_on_r_peak_at_native_rate(records, tmp_path):
    folder, truth = records
    ds = mitbih.load_beats(folder, records=["r1"], fs=360, window=250, before=100, cache=False)
    rec = mitbih.load_record(folder / "r1")
    peaks, labels = truth["r1"]
    ok = (peaks - 100 >= 0) & (peaks + 150 <= len(rec.signal))
    first = peaks[ok][0]
    np.testing.assert_allclose(ds.x[0], rec.signal[first - 100:first + 150, 0], atol=1e-6)
    assert set(ds.groups) == {"r1"}


def test_rr_features_and_lead_choice(records, tmp_path):
    folder, truth = records
    ds = mitbih.load_beats(folder, rr_features=True, cache=False)
    beats, rr = ds.x
    assert rr.shape == (len(ds), 3) and rr.dtype == np.float32
    peaks, _ = truth["r1"]
    r = np.round(peaks * 125 / FS).astype(int)
    kept = np.flatnonzero((r - 93 >= 0) & (r + 94 <= 20 * 125))
    got = rr[ds.groups == "r1"]
    assert len(got) == len(kept)
    prevs = [(peaks[1] - peaks[0]) / FS] + [(peaks[j] - peaks[j - 1]) / FS for j in range(1, len(peaks))]
    for row, j in zip(got, kept):
        nxt = (peaks[j + 1] - peaks[j]) / FS if j + 1 < len(peaks) else prevs[j]
        local = np.mean(prevs[max(0, j - 9):j + 1])
        np.testing.assert_allclose(row, [prevs[j], nxt, local], rtol=1e-5)
    other = mitbih.load_beats(folder, lead="V1", cache=False)
    assert not np.allclose(other.x, beats)
    with pytest.raises(ValueError, match="lead index"):
        mitbih.load_beats(folder, lead=5, cache=False)


def test_missing_lead_falls_back_and_is_reported(tmp_path):
    write_record(tmp_path / "db", "p1", leads=("V5", "V2"))
    ds = mitbih.load_beats(tmp_path / "db", cache=False)
    assert ds.meta["lead_fallback"] == {"p1": "V5"}


def test_cache_reuses_and_invalidates(records, tmp_path, monkeypatch):
    folder, _ = records
    cache = tmp_path / "cache"
    first = mitbih.load_beats(folder, cache_dir=cache)
    assert len(list((cache / "beats").glob("*.npz"))) == 2
    assert not list((cache / "beats").glob("*.tmp"))

    def boom(*a, **k):
        raise AssertionError("should have used the cache")

    monkeypatch.setitem(mitbih._BUILDERS, "beats", boom)
    again = mitbih.load_beats(folder, cache_dir=cache)
    np.testing.assert_array_equal(again.x, first.x)
    # touching a record's file changes its key: that record is rebuilt
    atr = folder / "r2.atr"
    os.utime(atr, ns=(atr.stat().st_atime_ns, atr.stat().st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="cache"):
        mitbih.load_beats(folder, cache_dir=cache)


def test_parallel_build_matches_serial(records, tmp_path):
    folder, _ = records
    a = mitbih.load_beats(folder, cache=False)
    b = mitbih.load_beats(folder, cache=False, workers=2)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.groups, b.groups)


def test_load_record(records):
    folder, truth = records
    rec = mitbih.load_record(folder / "r1.hea")
    assert rec.fs == FS and rec.leads == ["MLII", "V1"] and rec.signal.shape == (20 * FS, 2)
    peaks, _ = truth["r1"]
    assert set(peaks) <= set(rec.ann_samples)
    assert np.array_equal(rec.lead("V1"), rec.signal[:, 1])
    os.remove(folder / "r1.atr")
    assert mitbih.load_record(folder / "r1").ann_samples is None


# ---------------------------------------------------------------- bad input


def test_missing_atr(records):
    folder, _ = records
    os.remove(folder / "r2.atr")
    with pytest.raises(FileNotFoundError, match=r"r2\.atr.*missing"):
        mitbih.load_beats(folder, cache=False)


def test_missing_dat(records):
    folder, _ = records
    os.remove(folder / "r1.dat")
    with pytest.raises(FileNotFoundError, match=r"r1\.dat.*missing"):
        mitbih.load_beats(folder)


def test_truncated_dat(records):
    folder, _ = records
    dat = folder / "r1.dat"
    dat.write_bytes(dat.read_bytes()[:1000])
    with pytest.raises(mitbih.DataFileError, match=r"r1\.dat: truncated"):
        mitbih.load_beats(folder, cache=False)


def test_header_disagrees_with_signal_length(records):
    folder, _ = records
    hea = folder / "r1.hea"
    lines = hea.read_text().splitlines()
    lines[0] = lines[0].replace(str(20 * FS), str(10 * FS))
    hea.write_text("\n".join(lines) + "\n")
    with pytest.raises(mitbih.DataFileError, match=r"r1\.dat: header disagrees"):
        mitbih.load_beats(folder, cache=False)


def test_header_checksum_disagrees(records):
    folder, _ = records
    dat = folder / "r1.dat"
    raw = bytearray(dat.read_bytes())
    raw[3000] ^= 0x0F
    dat.write_bytes(bytes(raw))
    with pytest.raises(mitbih.DataFileError, match=r"r1\.dat: header disagrees.*checksum"):
        mitbih.load_beats(folder, cache=False)


def test_empty_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no WFDB records"):
        mitbih.load_beats(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such directory"):
        mitbih.load_beats(tmp_path / "nope")


def test_nan_in_signal(tmp_path):
    def hole(x):
        x[500:510, 0] = np.nan

    write_record(tmp_path / "db", "n1", extra=hole)
    with pytest.raises(mitbih.DataFileError, match=r"n1\.dat: lead MLII has 10 NaN.*sample 500"):
        mitbih.load_beats(tmp_path / "db", cache=False)


def test_window_longer_than_record(records):
    folder, _ = records
    with pytest.raises(ValueError, match=r"r1: window of 5000 samples .* longer than the record"):
        mitbih.load_beats(folder, window=5000, cache=False)


# ---------------------------------------------------------------- Kaggle CSV


def test_kaggle_csv_round_trip(tmp_path, rng):
    x = rng.random((50, 187)).astype(np.float32)
    x[:, 150:] = 0.0
    ds = mitbih.Dataset(x, rng.integers(0, 5, 50), np.arange(50), mitbih.AAMI_CLASSES)
    path = mitbih.write_kaggle_csv(tmp_path / "mitbih_test.csv", ds)
    back = mitbih.read_kaggle_csv(path)
    np.testing.assert_array_equal(back.x, x)
    np.testing.assert_array_equal(back.y, ds.y)
    assert back.class_names == mitbih.AAMI_CLASSES and back.x.dtype == np.float32
    assert len(np.unique(back.groups)) == 50
    assert not list(tmp_path.glob("*.tmp"))


def test_ptbdb_files_get_binary_names(tmp_path, rng):
    for name, label in [("ptbdb_normal.csv", 0), ("ptbdb_abnormal.csv", 1)]:
        ds = mitbih.Dataset(rng.random((4, 187)).astype(np.float32), np.full(4, label), np.arange(4), ["a", "b"])
        mitbih.write_kaggle_csv(tmp_path / name, ds)
    both = mitbih.read_kaggle_csv([tmp_path / "ptbdb_normal.csv", tmp_path / "ptbdb_abnormal.csv"])
    assert both.class_names == ["normal", "abnormal"]
    assert both.class_counts() == {"normal": 4, "abnormal": 4}


def test_csv_wrong_columns_and_non_numeric(tmp_path):
    row = ",".join(["0.5"] * 187) + ",1"
    bad = tmp_path / "cols.csv"
    bad.write_text(row + "\n" + ",".join(["0.5"] * 180) + ",1\n")
    with pytest.raises(mitbih.DataFileError, match=r"cols\.csv: line 2 has 181 columns, expected 188"):
        mitbih.read_kaggle_csv(bad)
    text = tmp_path / "text.csv"
    text.write_text(row + "\n" + row.replace("0.5", "abc", 1) + "\n")
    with pytest.raises(mitbih.DataFileError, match=r"text\.csv: line 2, column 1: 'abc' is not a number"):
        mitbih.read_kaggle_csv(text)
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("0.1,0.2,1\n0.3,0.4,0\n")
    with pytest.raises(mitbih.DataFileError, match=r"narrow\.csv: rows have 3 columns, expected 188"):
        mitbih.read_kaggle_csv(narrow)
    assert len(mitbih.read_kaggle_csv(narrow, width=None)) == 2
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        mitbih.read_kaggle_csv(tmp_path / "missing.csv")


def test_kaggle_beats_from_records(records, tmp_path):
    folder, truth = records
    ds = mitbih.kaggle_beats_from_records(folder, cache_dir=tmp_path / "cache")
    assert ds.x.shape == (sum(len(p) for p, _ in truth.values()), 187)
    assert ds.x.min() >= 0 and ds.x.max() <= 1
    # each beat starts at its R peak and is zero after 1.2 x the median RR
    peaks, labels = truth["r1"]
    np.testing.assert_array_equal(ds.y[ds.groups == "r1"], labels)
    r = np.round(peaks * 125 / FS)
    length = int(round(1.2 * np.median(np.diff(r[r < 1250]))))
    last = np.flatnonzero(ds.x[1]).max()
    assert length // 2 < last < length and np.all(ds.x[1, length:] == 0)
    # written then read back: same beats
    back = mitbih.read_kaggle_csv(mitbih.write_kaggle_csv(tmp_path / "k.csv", ds))
    np.testing.assert_array_equal(back.x, ds.x)


# ---------------------------------------------------------------- real MIT-BIH


REFERENCE = {"N": 90631, "S": 2781, "V": 7236, "F": 803, "Q": 8043}


def test_mitdb_matches_reference_counts(mitdb_dir):
    ds = mitbih.load_beats(mitdb_dir, workers=2)
    dropped = ds.meta["edge_dropped"]
    assert len(np.unique(ds.groups)) == 48
    assert ds.class_counts() == {c: REFERENCE[c] - dropped[c] for c in REFERENCE}
    assert len(ds) + ds.meta["edge_dropped_total"] == 109494
    assert ds.meta["edge_dropped_total"] < 200
    assert set(ds.meta["lead_fallback"]) == {"102", "104"}
    train, test = splits.inter_patient(ds)
    assert set(np.unique(train.groups)) == set(splits.DS1)
    assert set(np.unique(test.groups)) == set(splits.DS2)
    assert splits.disjoint(train, test)


def test_mitdb_records_subset(mitdb_dir):
    ds = mitbih.load_beats(mitdb_dir, records=["100", "208", "234"], fs=360, window=360)
    counts = {g: int(np.sum(ds.groups == g)) for g in ["100", "208", "234"]}
    for g, n in {"100": 2273, "208": 2955, "234": 2753}.items():
        assert n - 3 <= counts[g] <= n
    assert sum(counts.values()) + ds.meta["edge_dropped_total"] == 2273 + 2955 + 2753


def test_annotate_record_labels_each_detected_beat():
    sig, peaks, labels = synthetic.record(30, FS, seed=4)
    seen = []

    def classify(beats):
        seen.append(beats.shape)
        # a stand-in model: "V" when the QRS is wide (many samples above half the peak)
        wide = (beats[:, 80:106] > 0.5 * beats[:, 93:94]).sum(1) > 7
        return np.where(wide, 2, 0)

    found, out = mitbih.annotate_record(sig, FS, classify, batch_size=16)
    assert len(found) == len(out) and all(s[1] == 187 for s in seen) and max(s[0] for s in seen) <= 16
    tp, fn, fp = mitbih._signal.match_peaks(peaks, found, 54)
    assert tp >= len(peaks) - 3 and fp <= 1
    # given peaks: outputs line up with them, edge beats dropped
    given, out2 = mitbih.annotate_record(sig, FS, classify, r_peaks=peaks)
    assert set(given) <= set(peaks) and len(given) >= len(peaks) - 2
    truth = labels[np.isin(peaks, given)]
    assert np.mean(out2[truth == 2] == 2) > 0.8 and np.mean(out2[truth == 0] == 0) > 0.8
    with pytest.raises(ValueError, match="longer than the record"):
        mitbih.annotate_record(sig[:100], FS, classify, r_peaks=[50])


def test_missing_wfdb_names_the_extra(monkeypatch, records):
    import sys

    folder, _ = records
    monkeypatch.setitem(sys.modules, "wfdb", None)
    with pytest.raises(ImportError, match=r"keras-ecg\[data\]"):
        mitbih.load_beats(folder, cache=False)


def test_mitdb_kaggle_rebuild_keeps_every_beat(mitdb_dir):
    ds = mitbih.kaggle_beats_from_records(mitdb_dir, records=["100", "208"])
    assert len(ds) == 2273 + 2955 and ds.x.shape[1] == 187
    assert ds.x.min() >= 0 and ds.x.max() <= 1
    # beats start at the R peak: the first sample is near the window's top
    assert np.median(ds.x[ds.y == 0, 0]) > 0.6
