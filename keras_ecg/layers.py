"""Custom layers, built from ``keras.ops`` so they run on every backend (the fused
recurrent layers add a torch fast path, below).

Each is registered as serializable under the ``keras_ecg`` package and its
``get_config`` returns every constructor argument, so a model saved on one
backend loads on the others.
"""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_ecg")
class TemporalAttention(layers.Layer):
    """Additive attention pooling over time (Bahdanau-style).

    Scores every step of a ``(batch, T, F)`` sequence with
    ``v . tanh(W h_t + b)``, softmaxes the scores over time and returns the
    weighted sum ``(batch, F)``. With ``return_attention=True`` it also returns
    the weights ``(batch, T)``.
    """

    def __init__(self, units=64, return_attention=False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.return_attention = return_attention

    def build(self, input_shape):
        features = input_shape[-1]
        self.w = self.add_weight(name="w", shape=(features, self.units), initializer="glorot_uniform")
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros")
        self.v = self.add_weight(name="v", shape=(self.units, 1), initializer="glorot_uniform")

    def call(self, inputs):
        scores = ops.matmul(ops.tanh(ops.matmul(inputs, self.w) + self.b), self.v)
        weights = ops.softmax(ops.squeeze(scores, axis=-1), axis=-1)
        pooled = ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)
        if self.return_attention:
            return pooled, weights
        return pooled

    def compute_output_shape(self, input_shape):
        pooled = (input_shape[0], input_shape[-1])
        if self.return_attention:
            return pooled, (input_shape[0], input_shape[1])
        return pooled

    def get_config(self):
        return {**super().get_config(), "units": self.units, "return_attention": self.return_attention}


@keras.saving.register_keras_serializable(package="keras_ecg")
class AttentionGate(layers.Layer):
    """Attention gate of Jetley et al. 2018, "Learn to Pay Attention".

    Takes a local feature map ``l`` of shape ``(batch, H, W, C)`` and the global
    feature ``g`` of shape ``(batch, D)``. ``l`` is projected to ``D`` channels
    by a 1x1 linear map; the compatibility score of every position is
    ``u . (l_i + g)`` (the "parametrised compatibility"), normalised with a
    softmax over all positions (``normalize="softmax"``) or a sigmoid.
    Returns the attention-weighted sum of the projected local features
    ``(batch, D)``; with ``return_attention=True`` also the map ``(batch, H, W)``.
    """

    def __init__(self, normalize="softmax", return_attention=False, **kwargs):
        super().__init__(**kwargs)
        if normalize not in ("softmax", "sigmoid"):
            raise ValueError(f"AttentionGate normalize must be 'softmax' or 'sigmoid', got {normalize!r}.")
        self.normalize = normalize
        self.return_attention = return_attention

    def build(self, input_shape):
        local_shape, global_shape = input_shape
        channels, dim = local_shape[-1], global_shape[-1]
        self.proj = self.add_weight(name="proj", shape=(channels, dim), initializer="glorot_uniform")
        self.u = self.add_weight(name="u", shape=(dim, 1), initializer="glorot_uniform")

    def call(self, inputs):
        local, glob = inputs
        shape = ops.shape(local)
        projected = ops.matmul(local, self.proj)  # (B, H, W, D)
        flat = ops.reshape(projected, (shape[0], -1, ops.shape(projected)[-1]))  # (B, N, D)
        scores = ops.squeeze(ops.matmul(flat + ops.expand_dims(glob, 1), self.u), -1)  # (B, N)
        if self.normalize == "softmax":
            weights = ops.softmax(scores, axis=-1)
            pooled = ops.sum(flat * ops.expand_dims(weights, -1), axis=1)
        else:
            weights = ops.sigmoid(scores)
            pooled = ops.mean(flat * ops.expand_dims(weights, -1), axis=1)
        if self.return_attention:
            return pooled, ops.reshape(weights, (shape[0], shape[1], shape[2]))
        return pooled

    def compute_output_shape(self, input_shape):
        local_shape, global_shape = input_shape
        pooled = (local_shape[0], global_shape[-1])
        if self.return_attention:
            return pooled, tuple(local_shape[:3])
        return pooled

    def get_config(self):
        return {
            **super().get_config(),
            "normalize": self.normalize,
            "return_attention": self.return_attention,
        }

# -- Recurrent layers with the fused kernel on every device --------------------
#
# Keras 3's torch backend uses the fused ``torch._VF.lstm``/``gru`` kernels only
# on CUDA; on a CPU it steps through time in a Python loop, about 15x slower
# than TensorFlow. ``FusedLSTM`` and ``FusedGRU`` are the Keras layers with one
# change: on the torch backend they call the fused kernel on any device. On
# TensorFlow and JAX they are exactly ``keras.layers.LSTM``/``GRU``. Weights,
# configuration and results are the same (tested), so a ``.keras`` file moves
# between backends as usual. The fused path is taken when the layer uses the
# defaults the kernel implements: tanh/sigmoid activations, a bias, no mask, no
# recurrent dropout, no unrolling (and ``reset_after=True`` for the GRU);
# otherwise the layer falls back to Keras's own implementation.


def _standard(layer):
    cell = layer.cell
    return (
        keras.backend.backend() == "torch"
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
        and cell.use_bias
        and not layer.unroll
        and not cell.recurrent_dropout
    )


def _dropped(layer, sequences, training):
    if training and layer.cell.dropout:
        mask = layer.cell.get_dropout_mask(sequences[:, 0, :])
        return sequences * ops.expand_dims(mask, 1)
    return sequences


def _torch_run(kernel_fn, layer, sequences, initial_state, params, training):
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


@keras.saving.register_keras_serializable(package="keras_ecg")
class FusedLSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` that runs torch's fused LSTM kernel on CPU too."""

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if mask is not None or not _standard(self):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import torch

        cell = self.cell
        # Gate order is [i, f, c, o] in both Keras and torch.
        kernel, recurrent, bias = (ops.convert_to_tensor(w) for w in (cell.kernel, cell.recurrent_kernel, cell.bias))
        params = [kernel.T.contiguous(), recurrent.T.contiguous(), bias, torch.zeros_like(bias)]

        def run(x, hx, params, train):
            return torch._VF.lstm(x, hx, params, True, 1, 0.0, train, False, True)

        return _torch_run(run, self, _dropped(self, sequences, training), initial_state, params, training)


def _reorder_gru(w, units):
    # Keras gate order [z, r, h] -> torch [r, z, n] along the last axis.
    return ops.concatenate([w[..., units:2 * units], w[..., :units], w[..., 2 * units:]], axis=-1)


@keras.saving.register_keras_serializable(package="keras_ecg")
class FusedGRU(keras.layers.GRU):
    """``keras.layers.GRU`` that runs torch's fused GRU kernel on CPU too."""

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if mask is not None or not _standard(self) or not self.cell.reset_after:
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

        last, outputs, states = _torch_run(run, self, _dropped(self, sequences, training), state, params, training)
        return last, outputs, states[0]
