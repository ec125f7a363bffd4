"""``keras.layers.LSTM`` with torch's fused kernel on every device (see :mod:`fused_rnn`)."""

import keras
from keras import ops

from keras_ecg.layers import fused_rnn


@keras.saving.register_keras_serializable(package="keras_ecg")
class FusedLSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` that runs torch's fused LSTM kernel on CPU too."""

    FAST_BACKENDS = ("torch",)  # emptied while FLOPs are counted (benchmarks/harness/flops.py)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if mask is not None or not fused_rnn.standard(self):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import torch

        cell = self.cell
        # Gate order is [i, f, c, o] in both Keras and torch.
        kernel, recurrent, bias = (ops.convert_to_tensor(w) for w in (cell.kernel, cell.recurrent_kernel, cell.bias))
        params = [kernel.T.contiguous(), recurrent.T.contiguous(), bias, torch.zeros_like(bias)]

        def run(x, hx, params, train):
            return torch._VF.lstm(x, hx, params, True, 1, 0.0, train, False, True)

        sequences = fused_rnn.dropped(self, sequences, training)
        return fused_rnn.torch_run(run, self, sequences, initial_state, params, training)
