"""keras_ecg.data.model_inputs: model inputs from a CSV of beats or a record, as the card says."""

import numpy as np
import pytest

from keras_ecg.card import WaveformPreprocessing
from keras_ecg.data import model_inputs as W
from keras_ecg.errors import DataError

pytestmark = pytest.mark.backend_free


def _csv(tmp_path, rows):
    path = tmp_path / "beats.csv"
    np.savetxt(path, rows, delimiter=",")
    return path


def test_csv_rows_become_channel_last_beats_with_the_selected_samples(tmp_path):
    rows = np.arange(3 * 9, dtype=np.float32).reshape(3, 9)  # 8 samples + a label column
    prep = WaveformPreprocessing(fs=125, before=4, after=4)
    (x,) = W.csv_inputs(_csv(tmp_path, rows), prep)
    assert x.shape == (3, 8, 1) and x.dtype == np.float32 and np.array_equal(x[:, :, 0], rows[:, :8])
    prep.mi_indices = [7, 0, 3]
    (x,) = W.csv_inputs(_csv(tmp_path, rows), prep)
    assert np.array_equal(x[:, :, 0], rows[:, [7, 0, 3]])


def test_refusals_name_the_input(tmp_path):
    path = _csv(tmp_path, np.zeros((2, 8)))
    with pytest.raises(DataError, match="beats.csv: this model takes RR features"):
        W.csv_inputs(path, WaveformPreprocessing(fs=125, before=4, after=4, rr_features=["pre_rr"]))
    with pytest.raises(DataError, match="rec: this model was trained on Kaggle CSV beats"):
        W.record_inputs(tmp_path / "rec", WaveformPreprocessing(fs=125, before=0, after=187, format="kaggle_csv"))
    with pytest.raises(DataError, match="beats of 10 samples"):
        W.csv_inputs(path, WaveformPreprocessing(fs=125, before=5, after=5))
