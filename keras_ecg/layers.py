"""Custom layers, built from ``keras.ops`` only so they run on every backend.

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
