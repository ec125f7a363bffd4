"""Evaluation: metrics, plots and the report of a classifier on a named split.

=============  ===============================================================
module         what it holds
=============  ===============================================================
``metrics``    confusion matrix, precision/recall/F1, ROC-AUC (NumPy only)
``plots``      the report's PNGs (matplotlib, imported when drawing)
``markdown``   ``report.md`` and the Markdown table comparing several reports
``report``     :func:`evaluate`: predictions -> ``report.json``/``.md``/PNGs
=============  ===============================================================

Importing this package imports neither keras nor matplotlib. A new evaluation
(for example beat matching on detected peaks) is a new module here, imported
by name (``from keras_ecg.evaluation import ec57``).
"""

from keras_ecg.evaluation.markdown import SYNTHETIC_WARNING, compare_table
from keras_ecg.evaluation.metrics import classification_metrics, confusion_matrix, roc_auc_binary, roc_curve
from keras_ecg.evaluation.report import evaluate

__all__ = [
    "evaluate",
    "compare_table",
    "confusion_matrix",
    "classification_metrics",
    "roc_auc_binary",
    "roc_curve",
    "SYNTHETIC_WARNING",
]
