"""Model families. Each builder is registered in :mod:`keras_ecg.registry`."""


def load_model(path, **kwargs):
    """Load a ``.keras`` file saved by keras_ecg on any backend."""
    import keras

    from keras_ecg import layers  # noqa: F401  (registers the custom layers)

    return keras.saving.load_model(path, **kwargs)
