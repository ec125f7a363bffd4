"""cnn1d vs lstm vs cnn_lstm on one MIT-BIH split, one comparison table (comparison.md/json).

    python recipes/mitbih_compare.py --backend jax                # inter-patient DS1 -> DS2
    python recipes/mitbih_compare.py --split intra --mi-top 60    # on the 60 most informative samples
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from keras_ecg import runner  # noqa: E402

CONFIG = {
    "name": "mitbih_compare",
    "description": __doc__,
    "task": "mitbih",
    "model": ["cnn1d", "lstm", "cnn_lstm"],
    "model_choices": ["cnn1d", "lstm", "cnn_lstm"],
    "split": "inter",
    "mi_top": None,
    "normalize": "zscore",  # the same data and training choices as mitbih_hybrid
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
