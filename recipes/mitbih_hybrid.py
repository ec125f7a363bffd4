"""CNN-LSTM on MIT-BIH beats, inter-patient DS1 -> DS2 (de Chazal 2004) by default.

    python recipes/mitbih_hybrid.py --backend jax                 # real data from $KERAS_ECG_DATA, else synthetic
    python recipes/mitbih_hybrid.py --split intra                 # Kaggle-style random beat split
    python recipes/mitbih_hybrid.py --source csv --split intra --data DIR   # mitbih_train.csv / mitbih_test.csv
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # run from a clone

from keras_ecg.training import runner  # noqa: E402  (imports no keras: the backend is chosen from the flags)

CONFIG = {
    "name": "mitbih_hybrid",
    "description": __doc__,
    "task": "mitbih",
    "model": "cnn_lstm",
    "split": "inter",
    "source": "wfdb",
    "fs": 180,  # beats 0.25 s before to 0.45 s after the R peak (126 samples), MLII, band-passed, z-scored
    "rr_features": True,  # RR intervals and their ratios to the patient's causal 5-minute baseline
    "template_beats": 20,  # each beat beside the mean of the patient's previous 20 beats
    "class_weight": "balanced",
    "class_weight_cap": 10.0,
    "monitor": "val_macro_f1",
    "epochs": 6,
    "batch_size": 256,
    "patience": 3,
    "synthetic_n": 300,
}

if __name__ == "__main__":
    runner.main(CONFIG)
