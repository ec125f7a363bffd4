"""5-class ECG image classifier with attention_vgg; ``--model`` picks another image/panel model
and ``--model all`` compares all six in one table (page or lead-panel input per model).

    python recipes/ecg_images_attention_vgg.py --backend jax --data ../shared/data/ecg_images
    python recipes/ecg_images_attention_vgg.py --model all --epochs 3
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from keras_ecg.training import runner  # noqa: E402

CONFIG = {
    "name": "ecg_images_attention_vgg",
    "description": __doc__,
    "task": "images",
    "model": "attention_vgg",
    "model_choices": ["attention_vgg", "cnn2d", "cnn_lstm2d", "td_cnn", "panel_attention_lstm", "cnn3d",
                      "cnn1d", "resnet1d"],  # 1-D models read the 12 leads digitised off each page
    "classes": ["normal", "abnormal_heartbeat", "mi", "history_of_mi", "covid19"],
}  # training choices: keras_ecg.config.TASK_DEFAULTS["images"]

if __name__ == "__main__":
    runner.main(CONFIG)
