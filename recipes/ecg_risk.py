"""Binary normal / risky ECG pages with a bidirectional-LSTM head and a sigmoid risk
probability; ROC-AUC of the risk is reported.

    python recipes/ecg_risk.py --backend jax --data ../shared/data/ecg_images
    python recipes/ecg_risk.py --model td_cnn        # per-panel CNN, BiLSTM across the 13 lead panels
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from keras_ecg import runner  # noqa: E402

CONFIG = {
    "name": "ecg_risk",
    "description": __doc__,
    "task": "images",
    "model": "cnn_lstm2d",
    "model_choices": ["cnn_lstm2d", "td_cnn"],
    "model_args": {"cnn_lstm2d": {"bidirectional": True}, "td_cnn": {"head": "bilstm"}},
    "binary": True,
    "image_size": 224,
    "epochs": 10,
    "batch_size": 16,
    "learning_rate": 3e-4,
    "bn_momentum": 0.9,  # ~30 steps per epoch: Keras's 0.99 leaves inference statistics far off
    "class_weight": "sqrt",
    "monitor": "val_macro_f1",
    "patience": 4,
    "synthetic_n": 12,
}

if __name__ == "__main__":
    runner.main(CONFIG)
