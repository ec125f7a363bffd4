"""``keras.layers.GRU`` with torch's fused kernel on every device (see :mod:`fused_rnn`)."""

import keras
from keras import ops

from keras_ecg.layers import fused_rnn


def _reorder_gru(w, units):
    # Keras gate order [z, r, h] -> torch [r, z, n] along the last axis.
    return ops.concatenate([w[..., units:2 * units], w[..., :units], w[..., 2 * units:]], axis=-1)


@keras.saving.register_keras_serializable(package="keras_ecg")
class FusedGRU(keras.layers.GRU):
    """``keras.layers.GRU`` that runs torch's fused GRU kernel on CPU too."""

    FAST_BACKENDS = ("torch",)  # emptied while FLOPs are counted (benchmarks/harness/flops.py)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if mask is not None or not fused_rnn.standard(self) or not self.cell.reset_after:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import torch

        cell, units = self.cell, self.cell.units
        kernel, recurrent, bias = (ops.convert_to_tensor(w) for w in (cell.kernel, cell.recurrent_kernel, cell.bias))
        params = [
            _reorder_gru(kernel, units).T.contiguous(),
            _reorder_gru(recurrent, units).T.contiguous(),
            _reorder_gru(bias[0], units),
            _reorder_gru(bias[1], units),
        ]
        state = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]

        def run(x, hx, params, train):
            return torch._VF.gru(x, hx[0], params, True, 1, 0.0, train, False, True)

        sequences = fused_rnn.dropped(self, sequences, training)
        last, outputs, states = fused_rnn.torch_run(run, self, sequences, state, params, training)
        return last, outputs, states[0]
