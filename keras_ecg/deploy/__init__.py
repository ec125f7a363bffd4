"""Deployment: export a trained model (verified) and predict with it.

===============  =============================================================
module           what it holds
===============  =============================================================
``export/``      :func:`keras_ecg.export`: writers, verification, the
                 TensorFlow fallback, the model card assembly
``predict``      ``keras-ecg predict``: images, folders, WFDB records, CSVs
``waveform_inputs``  model inputs from a record or a CSV of beats, as the
                 card's waveform preprocessing says
===============  =============================================================

Importing this package imports nothing heavy; ``export`` imports keras.
"""
