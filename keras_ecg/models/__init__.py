"""Model families. Each builder is registered in :mod:`keras_ecg.registry`."""


def load_model(path, **kwargs):
    """Load a ``.keras`` file saved by keras_ecg on any backend (safe_mode on; see :mod:`keras_ecg.saving`)."""
    from keras_ecg.saving import load_model as _load

    return _load(path, **kwargs)
