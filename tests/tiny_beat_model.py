"""A tiny beat classifier (no RR input, the card's per-beat z-score), untrained, exported with its model card.

For the tests of the input paths: what matters is that every command hands it the same arrays;
its weights are fixed by a seed, so its outputs are a function of its inputs.
"""

import pathlib

SPEC_KW = {"fs": 125.0, "before_s": 0.25, "after_s": 0.45, "leads": ("MLII",), "rr": False,
           "filter": "bandpass", "normalize": "zscore"}


def make(out: pathlib.Path) -> pathlib.Path:
    """Build and export the model into ``out``; the ``.keras`` path."""
    import keras
    import numpy as np

    from keras_ecg import export
    from keras_ecg.data import beats, synthetic

    spec = beats.BeatSpec(**SPEC_KW)
    keras.utils.set_random_seed(0)
    inp = keras.Input(spec.input_shape, name="beat")
    model = keras.Model(inp, keras.layers.Dense(5, activation="softmax")(keras.layers.Flatten()(inp)))
    card = {"class_names": list(synthetic.CLASSES), "binary": False, "input_kind": "waveform", "model": "tiny",
            "preprocessing": spec.to_card(),
            "training_data": {"source": "none (untrained)", "synthetic": True, "split": "none"}}
    x = np.random.default_rng(0).normal(size=(4, *spec.input_shape)).astype(np.float32)
    export(model, out, formats=("keras",), sample_inputs=x, card=card)
    return out / "model.keras"
