"""``keras.layers.LSTM`` with a fused fast path on the torch and JAX backends (see :mod:`fused_rnn`)."""

import keras
from keras import ops

from keras_ecg.layers import fused_rnn

# Time steps per iteration of the JAX scan (``jax.lax.scan(unroll=...)``). On the 2-core CPU
# of benchmarks/results/cpu-2core.md, unrolling (4, 8, all 46 steps of cnn_lstm) was slower than 1.
JAX_SCAN_UNROLL = 1


@keras.saving.register_keras_serializable(package="keras_ecg")
class FusedLSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` that runs torch's fused LSTM kernel on CPU too, and on JAX
    projects every time step's input in one matmul before scanning the recurrence."""

    FAST_BACKENDS = ("torch", "jax")

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if mask is not None or not fused_rnn.standard(self):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        sequences = fused_rnn.dropped(self, sequences, training)
        if keras.backend.backend() == "jax":
            return _jax_lstm(self, sequences, initial_state)
        import torch

        cell = self.cell
        # Gate order is [i, f, c, o] in both Keras and torch.
        kernel, recurrent, bias = (ops.convert_to_tensor(w) for w in (cell.kernel, cell.recurrent_kernel, cell.bias))
        params = [kernel.T.contiguous(), recurrent.T.contiguous(), bias, torch.zeros_like(bias)]

        def run(x, hx, params, train):
            return torch._VF.lstm(x, hx, params, True, 1, 0.0, train, False, True)

        return fused_rnn.torch_run(run, self, sequences, initial_state, params, training)


def _jax_lstm(layer, x, initial_state):
    """The LSTM recurrence as one input matmul for all steps, then ``lax.scan`` over time.

    Keras's CPU path instead calls the whole cell (input matmul included) inside the scan.
    """
    import jax
    import jax.numpy as jnp

    cell = layer.cell
    kernel, recurrent, bias = (jnp.asarray(ops.convert_to_tensor(w), x.dtype)
                               for w in (cell.kernel, cell.recurrent_kernel, cell.bias))
    act, rec_act = cell.activation, cell.recurrent_activation
    if layer.go_backwards:
        x = jnp.flip(x, axis=1)
    xw = jnp.swapaxes(jnp.matmul(x, kernel) + bias, 0, 1)  # (T, B, 4U)
    keep = layer.return_sequences

    def step(carry, xt):
        h, c = carry
        i, f, g, o = jnp.split(xt + jnp.matmul(h, recurrent), 4, axis=-1)
        c = rec_act(f) * c + rec_act(i) * act(g)
        h = rec_act(o) * act(c)
        return (h, c), (h if keep else None)

    h0, c0 = (jnp.asarray(s, x.dtype) for s in initial_state)
    (h, c), ys = jax.lax.scan(step, (h0, c0), xw, unroll=min(JAX_SCAN_UNROLL, xw.shape[0]))
    outputs = jnp.swapaxes(ys, 0, 1) if keep else h[:, None, :]
    return h, outputs, [h, c]
