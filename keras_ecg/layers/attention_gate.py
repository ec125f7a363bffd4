"""The attention gate of Jetley et al. 2018."""

import keras
from keras import layers, ops


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
