"""FLOPs per sample of training and inference, counted (not estimated) on the torch backend.

``torch.utils.flop_counter.FlopCounterMode`` sees every matmul and convolution
(forward and backward) that one ``train_on_batch`` / ``predict_on_batch``
dispatches, and counts 2 FLOPs per multiply-add (element-wise ops, the optimizer
and the loss are not counted: the usual convention for "model FLOPs"). The fused
torch LSTM/GRU kernel is one opaque ``aten::lstm`` call the counter cannot see
into, so while counting the recurrent layers run Keras's own loop, which does
the same matmuls step by step.
"""

from __future__ import annotations

import numpy as np

COUNT_BATCH = 8


def count_model(model, x, y) -> dict:
    """FLOPs per sample of one training step and one inference call of a compiled keras model (torch backend)."""
    from torch.utils.flop_counter import FlopCounterMode

    from keras_ecg.layers import FusedGRU, FusedLSTM

    saved = FusedLSTM.FAST_BACKENDS, FusedGRU.FAST_BACKENDS
    FusedLSTM.FAST_BACKENDS = FusedGRU.FAST_BACKENDS = ()
    try:
        model.train_on_batch(x, y)  # builds the optimizer outside the count
        train = FlopCounterMode(display=False)
        with train:
            model.train_on_batch(x, y)
        infer = FlopCounterMode(display=False)
        with infer:
            model.predict_on_batch(x)
    finally:
        FusedLSTM.FAST_BACKENDS, FusedGRU.FAST_BACKENDS = saved
    n = len(x)
    by_op = {str(k).removeprefix("aten."): int(v) // n for k, v in train.get_flop_counts()["Global"].items()}
    return {"flops_per_train_sample": int(train.get_total_flops()) // n,
            "flops_per_predict_sample": int(infer.get_total_flops()) // n,
            "train_flops_by_op": by_op}


def count(models, make_data, input_shape, build) -> list:
    """One record per model name: its FLOPs per training / inference sample."""
    import keras

    out = []
    for name in models:
        try:
            x, y = make_data(input_shape(name), COUNT_BATCH)
            model = build(name)
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
            out.append({"model": name, **count_model(model, x, np.asarray(y)),
                        "flops_method": "torch FlopCounterMode over one train_on_batch (forward + backward "
                                        "matmuls and convolutions, 2 per multiply-add), torch backend"})
        except Exception as e:  # noqa: BLE001 - a model the counter cannot handle gets no count
            out.append({"model": name, "flops_error": f"{type(e).__name__}: {e}"[:300]})
    return out
