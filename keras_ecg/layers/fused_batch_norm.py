"""``keras.layers.BatchNormalization`` with torch's fused kernel on the torch backend.

Keras's torch backend normalises in separate element-wise ops (mean, mean of
squares, subtract, multiply, add) and autograd records each of them; on a CPU
that is about a third of a training step of cnn1d (profile in
benchmarks/results/speed_ablation.md). ``torch.nn.functional.batch_norm`` does
the same arithmetic in one kernel forward and one backward. The moving
statistics are updated as Keras does (biased batch variance, Keras's momentum),
so weights, outputs (to float tolerance) and ``.keras`` files are those of the
Keras layer; on TensorFlow and JAX (where XLA/grappler fuse the ops anyway) the
layer is exactly ``keras.layers.BatchNormalization``.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ecg")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` that runs torch's fused batch-norm kernel on the torch backend."""

    FAST_BACKENDS = ("torch",)

    def _fused_ok(self, inputs, mask):
        return (keras.backend.backend() in self.FAST_BACKENDS and mask is None and not self.renorm
                and not self.synchronized and self.axis % len(inputs.shape) == len(inputs.shape) - 1
                and keras.backend.standardize_dtype(inputs.dtype) == "float32")

    def call(self, inputs, training=None, mask=None):
        if not self._fused_ok(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import torch

        x = inputs.reshape(-1, inputs.shape[-1])  # channels last: one row per position
        gamma = ops.convert_to_tensor(self.gamma) if self.scale else None
        beta = ops.convert_to_tensor(self.beta) if self.center else None
        if training and self.trainable:
            with torch.no_grad():
                variance, mean = torch.var_mean(x, dim=0, correction=0)
            m = self.momentum
            self.moving_mean.assign(ops.convert_to_tensor(self.moving_mean) * m + mean * (1.0 - m))
            self.moving_variance.assign(ops.convert_to_tensor(self.moving_variance) * m + variance * (1.0 - m))
            out = torch.nn.functional.batch_norm(x, None, None, gamma, beta, True, 0.0, self.epsilon)
        else:
            out = torch.nn.functional.batch_norm(x, ops.convert_to_tensor(self.moving_mean),
                                                 ops.convert_to_tensor(self.moving_variance), gamma, beta,
                                                 False, 0.0, self.epsilon)
        return ops.cast(out.reshape(inputs.shape), self.compute_dtype)
