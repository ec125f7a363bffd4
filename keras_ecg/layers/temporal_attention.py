"""Additive attention pooling over time."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_ecg")
class TemporalAttention(layers.Layer):
    """Additive attention pooling over time (Bahdanau-style).

    Scores every step of a ``(batch, T, F)`` sequence with
    ``v . tanh(W h_t + b)``, softmaxes the scores over time and returns the
    weighted sum ``(batch, F)``. With ``return_attention=True`` it also returns
    the weights ``(batch, T)``. A mask (from ``Masking`` or an embedding with
    ``mask_zero``) gives the masked steps zero weight.
    """

    def __init__(self, units=64, return_attention=False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.return_attention = return_attention
        self.supports_masking = True

    def build(self, input_shape):
        features = input_shape[-1]
        self.w = self.add_weight(name="w", shape=(features, self.units), initializer="glorot_uniform")
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros")
        self.v = self.add_weight(name="v", shape=(self.units, 1), initializer="glorot_uniform")

    def call(self, inputs, mask=None):
        scores = ops.squeeze(ops.matmul(ops.tanh(ops.matmul(inputs, self.w) + self.b), self.v), axis=-1)
        if mask is not None:
            # masked steps get a very low score; the max keeps it finite in float16
            scores = ops.where(mask, scores, ops.cast(-3e4, scores.dtype))
        weights = ops.softmax(scores, axis=-1)
        pooled = ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)
        if self.return_attention:
            return pooled, weights
        return pooled

    def compute_mask(self, inputs, mask=None):
        return (None, None) if self.return_attention else None

    def compute_output_shape(self, input_shape):
        pooled = (input_shape[0], input_shape[-1])
        if self.return_attention:
            return pooled, (input_shape[0], input_shape[1])
        return pooled

    def get_config(self):
        return {**super().get_config(), "units": self.units, "return_attention": self.return_attention}
