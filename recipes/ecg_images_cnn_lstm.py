"""4-class ECG page classifier (normal, abnormal heartbeat, MI, history of MI) with cnn_lstm2d at 224x224.

    python recipes/ecg_images_cnn_lstm.py --backend jax --data ../shared/data/ecg_images
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from keras_ecg.training import runner  # noqa: E402

CONFIG = {
    "name": "ecg_images_cnn_lstm",
    "description": __doc__,
    "task": "images",
    "model": "cnn_lstm2d",
    "classes": ["normal", "abnormal_heartbeat", "mi", "history_of_mi"],
}  # training choices: keras_ecg.config.TASK_DEFAULTS["images"]

if __name__ == "__main__":
    runner.main(CONFIG)
