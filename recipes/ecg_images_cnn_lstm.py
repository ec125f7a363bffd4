"""4-class ECG page classifier (normal, abnormal heartbeat, MI, history of MI) with cnn_lstm2d at 224x224.

    python recipes/ecg_images_cnn_lstm.py --backend jax --data ../shared/data/ecg_images
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from keras_ecg import runner  # noqa: E402

CONFIG = {
    "name": "ecg_images_cnn_lstm",
    "description": __doc__,
    "task": "images",
    "model": "cnn_lstm2d",
    "classes": ["normal", "abnormal_heartbeat", "mi", "history_of_mi"],
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
