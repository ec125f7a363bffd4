"""Data problems are never silent: corrupt annotation files, non-finite samples in training, class folders
no task knows, a protocol-named split with records missing, out-of-range flags.
"""

import os
import struct

import numpy as np
import pytest

from keras_ecg.data import images, mitbih, splits
from keras_ecg.data.dataset import Dataset
from keras_ecg.errors import DataError
from keras_ecg.training import runner

pytestmark = pytest.mark.backend_free


def _record(folder, name="100", n=3600, nan_at=None):
    import wfdb

    from keras_ecg.data import synthetic

    sig, peaks, labels = synthetic.record(duration_s=n / 360, fs=360, seed=2)
    sig = sig[:, None].astype(np.float64)
    if nan_at is not None:
        sig[nan_at:nan_at + 20] = np.nan
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=360, units=["mV"], sig_name=["MLII"], p_signal=sig, fmt=["212"], adc_gain=[200.0],
                baseline=[0], write_dir=str(folder))
    wfdb.wrann(name, "atr", peaks, np.array(["N", "A", "V", "F", "Q"])[labels], write_dir=str(folder))
    return folder / name, peaks


def _write_atr(path, codes_and_gaps):
    """An MIT-format annotation file from (code, sample gap) pairs (gap < 1024)."""
    words = b"".join(struct.pack("<H", (code << 10) | gap) for code, gap in codes_and_gaps)
    path.write_bytes(words + struct.pack("<H", 0))


def _one_line(exc_info):
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    return msg


@pytest.mark.parametrize("atr, needle", [
    ([(1, 100), (1, 300), (45, 200)], "unknown code"),  # 45 is no WFDB annotation code
    ([(1, 100)] + [(1, 1000)] * 4, "outside the record"),  # sample 4100 > 3600 samples
])
def test_corrupt_annotation_files_are_refused_by_name(tmp_path, atr, needle):
    base, _ = _record(tmp_path / "db")
    _write_atr(base.with_suffix(".atr"), atr)
    with pytest.raises(DataError) as e:
        mitbih.load_record(base)
    msg = _one_line(e)
    assert needle in msg and "100.atr" in msg and "corrupt annotation file" in msg
    with pytest.raises(DataError) as e:  # the training loader says the same
        mitbih.load_beats(tmp_path / "db", window=64, fs=125, cache=False)
    assert needle in _one_line(e)


def test_non_finite_samples_are_refused_in_training_too(tmp_path):
    _record(tmp_path / "db", nan_at=500)
    with pytest.raises(DataError) as e:
        mitbih.load_beats(tmp_path / "db", window=64, fs=125, cache=False)
    msg = _one_line(e)
    assert "NaN" in msg and "first at sample 500" in msg and "100" in msg


def _class_folders(root, names):
    for n in names:
        (root / n).mkdir(parents=True)
        (root / n / "page1.png").write_bytes(b"not read by list_folder")
    return root


def test_unrecognised_class_folders_are_an_error_unless_mapped(tmp_path):
    khan = _class_folders(tmp_path / "khan", ["Normal Person ECG Images", "ECG Images of COVID-19 Patients",
                                              "Gesunde Personen EKG"])
    with pytest.raises(DataError) as e:
        images.list_folder(khan)
    assert "Gesunde Personen EKG" in _one_line(e) and "map them explicitly" in str(e.value)
    binary = _class_folders(tmp_path / "bin", ["normal", "Sanos"])
    with pytest.raises(DataError) as e:  # in a binary task it would silently become "risky"
        images.load_folder(binary, binary=True)
    assert "binary" in _one_line(e) and "Sanos" in str(e.value)
    # mapped explicitly: accepted, and an unmapped folder is listed as ignored, not dropped silently
    files, names, mapping, _, ignored = images.list_folder(
        khan, class_map={"Gesunde Personen EKG": "normal", "Normal Person": "normal"})
    assert names == ["normal"] and len(files["normal"]) == 2 and any("COVID" in i for i in ignored)
    # a folder of generic class names (no Khan names at all) keeps its names in a multi-class task
    assert images.list_folder(_class_folders(tmp_path / "gen", ["cats", "dogs"]))[1] == ["cats", "dogs"]


def test_a_protocol_split_with_records_missing_is_renamed():
    names = splits.DS1[:3] + splits.DS2[:3]
    groups = np.repeat(names, 4)
    ds = Dataset(np.zeros((len(groups), 2), np.float32), np.arange(len(groups)) % 5, groups,
                 ["N", "S", "V", "F", "Q"])
    train, test = splits.inter_patient(ds)
    assert "de Chazal 2004)" not in train.meta["split"] and train.meta["split"] == test.meta["split"]
    assert train.meta["split"].startswith("inter_patient subset: 3/22 DS1 and 3/22 DS2")
    assert len(train.meta["missing_records"]) == 38


@pytest.mark.parametrize("argv, needle", [
    (["--lr", "nan"], "--lr nan: must be a finite number"),
    (["--lr", "-1"], "--lr -1.0: must be a finite number >= 0"),
    (["--synthetic-n", "0"], "--synthetic-n must be >= 1"),
    (["--batch-size", "-3"], "--batch-size must be >= 1"),
])
def test_out_of_range_flags_are_one_line(argv, needle):
    with pytest.raises(SystemExit) as e:
        runner.parse_args({"name": "t", "model": "cnn1d"}, ["--backend", os.environ.get("KERAS_BACKEND", "jax"),
                                                            *argv])
    assert needle in _one_line(e)



def test_lead_fallback_in_training_is_in_the_warnings(mitdb_dir):
    from keras_ecg.config import RunConfig
    from keras_ecg.training import sources

    cfg = RunConfig.for_recipe({"name": "t", "task": "mitbih", "model": "cnn1d", "split": "intra",
                                "data": str(mitdb_dir)})
    data = sources.load_mitbih(cfg, cfg.data, log=lambda m: None)
    assert ("lead policy fallback: record 102 has no MLII: read V5; record 104 has no MLII: read V5"
            in data.warnings)
