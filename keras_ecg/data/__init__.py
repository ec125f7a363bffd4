"""Datasets, splits and input pipelines. Importing this never imports keras."""

from keras_ecg.data.dataset import Dataset

__all__ = ["Dataset"]
