"""5-class ECG image classifier with attention_vgg; ``--model`` picks another image/panel model
and ``--model all`` compares all six in one table (page or lead-panel input per model).

    python recipes/ecg_images_attention_vgg.py --backend jax --data ../shared/data/ecg_images
    python recipes/ecg_images_attention_vgg.py --model all --epochs 3
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from keras_ecg import runner  # noqa: E402

CONFIG = {
    "name": "ecg_images_attention_vgg",
    "description": __doc__,
    "task": "images",
    "model": "attention_vgg",
    "model_choices": ["attention_vgg", "cnn2d", "cnn_lstm2d", "td_cnn", "panel_attention_lstm", "cnn3d"],
    "classes": ["normal", "abnormal_heartbeat", "mi", "history_of_mi", "covid19"],
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
