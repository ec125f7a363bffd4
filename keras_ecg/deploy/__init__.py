"""Deployment: export a trained model (verified) and predict with it.

===============  =============================================================
module           what it holds
===============  =============================================================
``export/``      :func:`keras_ecg.export`: writers, verification, the
                 TensorFlow fallback, the model card assembly
``predict``      ``keras-ecg predict``: images, folders, WFDB records, CSVs
===============  =============================================================

The model inputs of records and CSVs of beats are built below every command, in
:mod:`keras_ecg.data.model_inputs`. Importing this package imports nothing heavy; ``export`` imports keras.
"""
