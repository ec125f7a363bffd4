"""Shared by :class:`FusedLSTM` and :class:`FusedGRU`: the torch fast path.

Keras 3's torch backend uses the fused ``torch._VF.lstm``/``gru`` kernels only
on CUDA; on a CPU it steps through time in a Python loop, about 15x slower
than TensorFlow. ``FusedLSTM`` and ``FusedGRU`` are the Keras layers with one
change: on the torch backend they call the fused kernel on any device. On
TensorFlow and JAX they are exactly ``keras.layers.LSTM``/``GRU``. Weights,
configuration and results are the same (tested), so a ``.keras`` file moves
between backends as usual. The fused path is taken when the layer uses the
defaults the kernel implements: tanh/sigmoid activations, a bias, no mask, no
recurrent dropout, no unrolling (and ``reset_after=True`` for the GRU);
otherwise the layer falls back to Keras's own implementation.
"""

import keras
from keras import ops


def standard(layer):
    """True when the fused torch kernel computes exactly what ``layer`` would."""
    cell = layer.cell
    return (
        keras.backend.backend() in layer.FAST_BACKENDS
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
        and cell.use_bias
        and not layer.unroll
        and not cell.recurrent_dropout
    )


def dropped(layer, sequences, training):
    """The input dropout of the cell, one mask for every time step (as Keras does)."""
    if training and layer.cell.dropout:
        mask = layer.cell.get_dropout_mask(sequences[:, 0, :])
        return sequences * ops.expand_dims(mask, 1)
    return sequences


def torch_run(kernel_fn, layer, sequences, initial_state, params, training):
    """Run a fused torch kernel; returns ``(last, outputs, states)`` like ``inner_loop``."""
    import torch

    x = sequences
    params = [p.to(x.dtype) for p in params]
    if layer.go_backwards:
        x = torch.flip(x, dims=[1])
    hx = [s.to(x.dtype).unsqueeze(0) for s in initial_state]
    outputs, *states = kernel_fn(x, tuple(hx), tuple(params), bool(training))
    states = [s.squeeze(0) for s in states]
    last = outputs[:, -1]
    if not layer.return_sequences:
        outputs = last.unsqueeze(1)
    return last, outputs, states
