"""The classical baseline (LDA on RR + morphology features) vs cnn1d, lstm and cnn_lstm on one MIT-BIH
split, one comparison table (comparison.md/json). `--model baseline_svm,cnn1d` picks others.

    python recipes/mitbih_compare.py --backend jax                # inter-patient DS1 -> DS2
    python recipes/mitbih_compare.py --split intra --mi-top 60    # on the 60 most informative samples
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from keras_ecg.training import runner  # noqa: E402

CONFIG = {
    "name": "mitbih_compare",
    "description": __doc__,
    "task": "mitbih",
    "model": ["baseline_lda", "cnn1d", "lstm", "cnn_lstm"],
    "model_choices": ["baseline_lda", "baseline_svm", "baseline_logreg", "cnn1d", "lstm", "cnn_lstm"],
    "split": "inter",
    "mi_top": None,
    "fs": 180,  # the same data and training choices as mitbih_hybrid
    "rr_features": True,
    "template_beats": 20,
    "class_weight": "balanced",
    "class_weight_cap": 10.0,
    "monitor": "val_macro_f1",
    "epochs": 3,
    "batch_size": 256,
    "patience": 3,
    "synthetic_n": 300,
}

if __name__ == "__main__":
    runner.main(CONFIG)
