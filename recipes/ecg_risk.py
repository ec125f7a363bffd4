"""Binary normal / risky ECG pages with a bidirectional-LSTM head and a sigmoid risk
probability; ROC-AUC of the risk is reported.

    python recipes/ecg_risk.py --backend jax --data ../shared/data/ecg_images
    python recipes/ecg_risk.py --model td_cnn        # per-panel CNN, BiLSTM across the 13 lead panels
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from keras_ecg.training import runner  # noqa: E402

CONFIG = {
    "name": "ecg_risk",
    "description": __doc__,
    "task": "images",
    "model": "cnn_lstm2d",
    "model_choices": ["cnn_lstm2d", "td_cnn", "cnn2d", "cnn1d", "resnet1d"],  # 1-D: the digitised leads
    "model_args": {"cnn_lstm2d": {"bidirectional": True}, "td_cnn": {"head": "bilstm"}},
    "binary": True,
}  # training choices: keras_ecg.config.TASK_DEFAULTS["images"]

if __name__ == "__main__":
    runner.main(CONFIG)
