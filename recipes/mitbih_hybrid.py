"""The main job: MIT-BIH heartbeats (AAMI N S V F Q) on unseen patients, inter-patient DS1 -> DS2
(de Chazal 2004) by default. A hybrid of beat shape and rhythm: a 1D CNN reads each beat (0.25 s before
to 0.45 s after the R peak, so the P wave is in) beside the patient's own recent beats, and a second
input carries the RR intervals relative to the patient's causal 5-minute rhythm, through a layer of its
own. Three copies are trained apart (own seeds) and averaged into one model. Validation: DS1 records
205 220 223 (by patient); DS2 is scored once, at the end, on reference and detected beats.

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
    "model": "cnn1d",
    "split": "inter",
    "source": "wfdb",
    "fs": 180,  # beats 0.25 s before to 0.45 s after the R peak (126 samples), MLII, band-passed, z-scored
    "rr_features": True,  # RR intervals and their ratios to the patient's causal 5-minute baseline
    "template_beats": 20,  # each beat beside the mean of the patient's previous 20 beats
    "model_args": {"cnn1d": {"rr_units": 32}},  # the RR features through a ReLU layer of 32 before they join
    "members": 3,  # three copies trained apart and averaged: the spread between seeds was as large as most effects
    "class_weight": "balanced",
    "class_weight_cap": 4.0,  # inverse-frequency weights up to 4x: higher caps trade many N->S/F false alarms
    "monitor": "val_macro_f1",
    "epochs": 10,
    "lr_schedule": "cosine",  # the rate decays over the 10 epochs, so late epochs move little
    "batch_size": 256,
    "patience": 4,
    "synthetic_n": 300,
}

if __name__ == "__main__":
    runner.main(CONFIG)
