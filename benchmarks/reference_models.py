"""Reference CNN-LSTMs without keras_ecg or Keras: plain PyTorch and plain TensorFlow.

Both have the layer sizes of keras_ecg's ``cnn_lstm`` defaults
(keras_ecg/models/hybrid.py + common.py)::

    Conv1D(32, 5, same, no bias) + BatchNorm + ReLU + MaxPool(2)
    Conv1D(64, 5, same, no bias) + BatchNorm + ReLU + MaxPool(2)
    LSTM(64) (last state)
    Dense(64, relu) + Dropout(0.3)
    Dense(num_classes) softmax (folded into the cross-entropy on logits)

trained with Adam (lr 1e-3) on sparse categorical cross-entropy, batch norm
with Keras' defaults (momentum 0.99, epsilon 1e-3).

* :class:`TorchCNNLSTM` is an ``nn.Module`` (``nn.LSTM``, PyTorch's fused
  LSTM kernel) trained by an ordinary ``zero_grad / backward / step`` loop.
  ``torch_model(name="cnn1d" | "resnet1d")`` are plain PyTorch versions of
  those two keras_ecg models (their defaults, same layer sizes), trained by
  the same loop.
* :class:`TFCNNLSTM` uses no Keras at all (Keras 3 replaces ``tf.keras``):
  ``tf.Variable`` weights, ``tf.nn.conv1d``, ``tf.nn.batch_normalization``,
  ``tf.nn.max_pool1d``; the LSTM is written by hand: the input projection of
  all time steps is one matmul, the recurrence runs in ``tf.scan`` (a
  ``tf.while_loop``) inside a ``tf.function``; Adam is written with plain tf
  ops. No XLA (``jit_compile`` off), as a plain TF user would write it.

Each module imports its framework lazily, so importing this file needs
neither.
"""

from __future__ import annotations

import math

import numpy as np

FILTERS = (32, 64)
KERNEL = 5
UNITS = 64
DENSE = 64
DROPOUT = 0.3
BN_MOMENTUM = 0.99  # Keras convention (torch's momentum = 1 - this)
BN_EPS = 1e-3
LR = 1e-3
CNN1D_FILTERS = (32, 64, 128)
RESNET_FILTERS, RESNET_BLOCKS, RESNET_POOL, RESNET_STRIDE, RESNET_DENSE = 32, 5, 5, 2, (32, 32)
TORCH_MODELS = ("cnn_lstm", "cnn1d", "resnet1d")  # plain PyTorch versions exist for these


# ----------------------------------------------------------------------------- PyTorch


def _conv_bn_blocks(nn, channels, filters, kernel=KERNEL):
    """Conv1d (no bias) + BatchNorm (Keras' momentum/epsilon) + ReLU + MaxPool(2) per entry of ``filters``."""
    blocks, c = [], channels
    for f in filters:
        blocks += [nn.Conv1d(c, f, kernel, padding=kernel // 2, bias=False),
                   nn.BatchNorm1d(f, eps=BN_EPS, momentum=1 - BN_MOMENTUM),
                   nn.ReLU(), nn.MaxPool1d(2)]
        c = f
    return nn.Sequential(*blocks), c


def _head(nn, width, dense, num_classes, dropout):
    layers, c = [], width
    for u in dense:
        layers += [nn.Linear(c, u), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
        c = u
    return nn.Sequential(*layers, nn.Linear(c, num_classes))


def torch_model(num_classes: int = 5, channels: int = 1, name: str = "cnn_lstm"):
    """The plain PyTorch version of keras_ecg's ``name`` (an ``nn.Module`` taking (batch, T, C), giving logits)."""
    import torch
    from torch import nn

    class TorchCNNLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, c = _conv_bn_blocks(nn, channels, FILTERS)
            self.lstm = nn.LSTM(c, UNITS, batch_first=True)
            self.head = _head(nn, UNITS, (DENSE,), num_classes, DROPOUT)

        def forward(self, x):  # x: (B, T, C) like the Keras model
            h = self.conv(x.transpose(1, 2))  # (B, F, T')
            _, (h_n, _) = self.lstm(h.transpose(1, 2))
            return self.head(h_n[-1])

    class TorchCNN1D(nn.Module):  # keras_ecg/models/cnn.py defaults
        def __init__(self):
            super().__init__()
            self.conv, c = _conv_bn_blocks(nn, channels, CNN1D_FILTERS)
            self.head = _head(nn, c, (DENSE,), num_classes, DROPOUT)

        def forward(self, x):
            return self.head(self.conv(x.transpose(1, 2)).mean(dim=2))  # global average pooling

    class TorchResNet1D(nn.Module):  # keras_ecg/models/resnet.py defaults
        def __init__(self, length=187):
            super().__init__()
            f, k = RESNET_FILTERS, KERNEL
            self.stem = nn.Conv1d(channels, f, k, padding=k // 2)
            self.blocks = nn.ModuleList(
                nn.ModuleList([nn.Conv1d(f, f, k, padding=k // 2), nn.Conv1d(f, f, k, padding=k // 2)])
                for _ in range(RESNET_BLOCKS))
            self.pool = nn.MaxPool1d(RESNET_POOL, RESNET_STRIDE)
            for _ in range(RESNET_BLOCKS):
                length = (length - RESNET_POOL) // RESNET_STRIDE + 1
            self.head = _head(nn, f * length, RESNET_DENSE, num_classes, 0.0)

        def forward(self, x):
            x = self.stem(x.transpose(1, 2))
            for conv1, conv2 in self.blocks:
                x = self.pool(torch.relu(conv2(torch.relu(conv1(x))) + x))
            return self.head(x.transpose(1, 2).flatten(1))  # Keras' Flatten is time-major

    return {"cnn_lstm": TorchCNNLSTM, "cnn1d": TorchCNN1D, "resnet1d": TorchResNet1D}[name]()


class TorchTrainer:
    """Build, train step and predict for the plain PyTorch model."""

    def __init__(self, num_classes: int = 5, channels: int = 1, seed: int = 0, name: str = "cnn_lstm"):
        import torch

        torch.manual_seed(seed)
        self.torch = torch
        self.model = torch_model(num_classes, channels, name)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.loss = torch.nn.CrossEntropyLoss()

    def train_step(self, x, y) -> float:
        torch = self.torch
        self.model.train()
        xb = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        yb = torch.from_numpy(np.asarray(y, dtype=np.int64))
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.model(xb), yb)
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def predict(self, x):
        torch = self.torch
        self.model.eval()
        with torch.inference_mode():
            logits = self.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
            return torch.softmax(logits, -1).numpy()


# ----------------------------------------------------------------------------- TensorFlow


class TFTrainer:
    """The plain TensorFlow CNN-LSTM (no Keras): variables, ops, tf.function."""

    def __init__(self, num_classes: int = 5, channels: int = 1, seed: int = 0):
        import tensorflow as tf

        self.tf = tf
        rng = np.random.default_rng(seed)

        def glorot(shape, fan_in, fan_out):
            lim = math.sqrt(6.0 / (fan_in + fan_out))
            return tf.Variable(rng.uniform(-lim, lim, shape).astype(np.float32))

        def zeros(shape):
            return tf.Variable(np.zeros(shape, np.float32))

        def ones(shape):
            return tf.Variable(np.ones(shape, np.float32))

        self.conv = []  # (kernel, gamma, beta, moving_mean, moving_var)
        c = channels
        for f in FILTERS:
            self.conv.append((glorot((KERNEL, c, f), KERNEL * c, KERNEL * f), ones(f), zeros(f),
                              tf.Variable(np.zeros(f, np.float32), trainable=False),
                              tf.Variable(np.ones(f, np.float32), trainable=False)))
            c = f
        # LSTM, gate order i, f, c, o (as Keras); unit forget-gate bias.
        self.w_x = glorot((c, 4 * UNITS), c, 4 * UNITS)
        q, _ = np.linalg.qr(rng.normal(size=(4 * UNITS, UNITS)))
        self.w_h = tf.Variable(q.T.astype(np.float32))
        b = np.zeros(4 * UNITS, np.float32)
        b[UNITS:2 * UNITS] = 1.0
        self.b = tf.Variable(b)
        self.d1 = glorot((UNITS, DENSE), UNITS, DENSE)
        self.d1b = zeros(DENSE)
        self.d2 = glorot((DENSE, num_classes), DENSE, num_classes)
        self.d2b = zeros(num_classes)
        self.params = [v for blk in self.conv for v in blk[:3]] + [
            self.w_x, self.w_h, self.b, self.d1, self.d1b, self.d2, self.d2b]
        self.m = [zeros(v.shape) for v in self.params]
        self.v = [zeros(v.shape) for v in self.params]
        self.t = tf.Variable(0.0)
        self._train = tf.function(self._train_step)
        self._predict = tf.function(lambda x: tf.nn.softmax(self._forward(x, False)))

    def _lstm(self, seq):
        tf = self.tf
        batch = tf.shape(seq)[0]
        xw = tf.einsum("btf,fg->tbg", seq, self.w_x) + self.b  # (T, B, 4U): one matmul for all steps
        w_h = self.w_h

        def step(state, xt):
            h, c = state
            z = xt + tf.matmul(h, w_h)
            i, f, g, o = tf.split(z, 4, axis=-1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            return h, c

        zero = tf.zeros((batch, UNITS))
        h, _ = tf.scan(step, xw, initializer=(zero, zero))
        return h[-1]

    def _forward(self, x, training):
        tf = self.tf
        for kernel, gamma, beta, mm, mv in self.conv:
            x = tf.nn.conv1d(x, kernel, stride=1, padding="SAME")
            if training:
                mean, var = tf.nn.moments(x, axes=[0, 1])
                mm.assign(BN_MOMENTUM * mm + (1 - BN_MOMENTUM) * mean)
                mv.assign(BN_MOMENTUM * mv + (1 - BN_MOMENTUM) * var)
            else:
                mean, var = mm, mv
            x = tf.nn.relu(tf.nn.batch_normalization(x, mean, var, beta, gamma, BN_EPS))
            x = tf.nn.max_pool1d(x, 2, 2, "VALID")
        h = self._lstm(x)
        h = tf.nn.relu(tf.matmul(h, self.d1) + self.d1b)
        if training:
            h = tf.nn.dropout(h, DROPOUT)
        return tf.matmul(h, self.d2) + self.d2b

    def _train_step(self, x, y):
        tf = self.tf
        with tf.GradientTape() as tape:
            logits = self._forward(x, True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        grads = tape.gradient(loss, self.params)
        self.t.assign_add(1.0)
        b1, b2, eps = 0.9, 0.999, 1e-7
        lr = LR * tf.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.assign(b1 * m + (1 - b1) * g)
            v.assign(b2 * v + (1 - b2) * tf.square(g))
            p.assign_sub(lr * m / (tf.sqrt(v) + eps))
        return loss

    def train_step(self, x, y) -> float:
        tf = self.tf
        return float(self._train(tf.convert_to_tensor(x, tf.float32), tf.convert_to_tensor(y, tf.int32)))

    def predict(self, x):
        tf = self.tf
        return self._predict(tf.convert_to_tensor(x, tf.float32)).numpy()


TRAINERS = {"plain_pytorch": TorchTrainer, "plain_tensorflow": TFTrainer}
