"""Export a trained model to ``.keras``, TensorFlow SavedModel and ONNX, each verified.

==================  ==========================================================
module              what it holds
==================  ==========================================================
``exporter``        :func:`export`: stage, write, verify, rename, model card
``writers``         one writer per format, known exporter gaps per backend
``verify``          reload / onnxruntime / SavedModel checks against Keras
``tf_fallback``     the TensorFlow subprocess used when the backend's own
                    exporter cannot write a format
                    (``python -m keras_ecg.deploy.export.tf_fallback``)
==================  ==========================================================

Importing this package imports keras: import it after choosing the backend.
"""

from keras_ecg.deploy.export.exporter import export
from keras_ecg.deploy.export.verify import ExportVerificationError
from keras_ecg.deploy.export.writers import FILE_NAMES, FORMATS
from keras_ecg.errors import ExportError

__all__ = ["export", "ExportError", "ExportVerificationError", "FORMATS", "FILE_NAMES"]
