"""A small beat classifier (with RR input) trained briefly on synthetic records, exported with its real model card.

Trained once per run by the ``beat_model`` fixture (conftest.py), shared by the annotate, evaluate, calibration
and output-folder tests: the point is the input handling and the files
written; it is no good classifier of new pseudo-patients.
"""

import pathlib

SPEC_KW = {"fs": 125.0, "before_s": 0.25, "after_s": 0.45, "leads": ("MLII",), "rr": True}


def make(out: pathlib.Path) -> pathlib.Path:
    """Train and export the model into ``out``; the ``.keras`` path."""
    import keras
    import numpy as np

    from keras_ecg import export, registry
    from keras_ecg.data import beats, synthetic

    spec = beats.BeatSpec(**SPEC_KW)
    xs, rrs, ys = [], [], []
    for seed in range(12):  # records of a mostly normal rhythm, as annotated records are
        sig, peaks, labels = synthetic.record(150, fs=spec.fs, seed=100 + seed, class_probs=(0.6, 0.12, 0.14, 0.08, 0.06))
        b, r, keep, _ = beats.beat_inputs(sig, spec.fs, peaks, spec, ["MLII"])
        xs.append(b), rrs.append(r), ys.append(labels[keep])
    x, rr, y = np.concatenate(xs), np.concatenate(rrs), np.concatenate(ys)
    weights = {k: len(y) / (5 * max(1, int((y == k).sum()))) for k in range(5)}
    keras.utils.set_random_seed(0)
    model = registry.build("cnn1d", spec.input_shape, 5, filters=(8, 8), dense_units=(16,), rr_features=8)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit([x, rr], y, epochs=6, batch_size=64, verbose=0, class_weight=weights)
    card = {"class_names": list(synthetic.CLASSES), "binary": False, "input_kind": "waveform", "model": "cnn1d",
            "model_args": {"filters": [8, 8], "dense_units": [16], "rr_features": 8},
            "preprocessing": spec.to_card(),
            "training_data": {"source": "synthetic records", "synthetic": True, "split": "none"}}
    export(model, out, formats=("keras",), sample_inputs=[x[:8], rr[:8]], card=card)
    assert np.isfinite(model.predict([x[:4], rr[:4]], verbose=0)).all()
    return out / "model.keras"
