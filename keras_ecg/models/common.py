"""Pieces shared by the model builders: input checks, conv blocks, heads."""

import keras
from keras import layers

from keras_ecg.layers import FusedGRU, FusedLSTM, TemporalAttention

RECURRENT = {"lstm": FusedLSTM, "gru": FusedGRU}


def pooled_length(name, length, stages, pool_size, kernel=None, stride=None):
    """Length left after ``stages`` poolings, or a clear error if it hits zero."""
    kernel = kernel or pool_size
    stride = stride or pool_size
    size = length
    for stage in range(stages):
        size = (size - kernel) // stride + 1 if size is not None else None
        if size is not None and size < 1:
            raise ValueError(
                f"Model {name!r}: input size {length} is too small for {stages} pooling "
                f"stages (pool {kernel}, stride {stride}); it runs out at stage {stage + 1}. "
                "Use a larger input or fewer blocks."
            )
    return size


def conv1d_blocks(x, filters, kernel_size, pool_size, batch_norm=True, prefix="conv"):
    """Conv1D -> (BatchNorm) -> ReLU -> MaxPool1D, once per entry of ``filters``."""
    for i, f in enumerate(filters):
        x = layers.Conv1D(f, kernel_size, padding="same", use_bias=not batch_norm, name=f"{prefix}{i + 1}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{prefix}{i + 1}_bn")(x)
        x = layers.ReLU(name=f"{prefix}{i + 1}_relu")(x)
        x = layers.MaxPooling1D(pool_size, name=f"{prefix}{i + 1}_pool")(x)
    return x


def conv2d_blocks(x, filters, pool_size=2, convs_per_block=1, batch_norm=True, prefix="block"):
    """VGG-style blocks of 3x3 convolutions then 2D max-pooling."""
    for i, f in enumerate(filters):
        for j in range(convs_per_block):
            x = layers.Conv2D(f, 3, padding="same", use_bias=not batch_norm, name=f"{prefix}{i + 1}_conv{j + 1}")(x)
            if batch_norm:
                x = layers.BatchNormalization(name=f"{prefix}{i + 1}_bn{j + 1}")(x)
            x = layers.ReLU(name=f"{prefix}{i + 1}_relu{j + 1}")(x)
        x = layers.MaxPooling2D(pool_size, name=f"{prefix}{i + 1}_pool")(x)
    return x


def sequence_head(x, kind, units, dropout=0.0, prefix="rnn"):
    """Read a (batch, T, F) sequence into one vector.

    ``kind``: ``lstm``, ``gru``, ``bilstm``, ``bigru``, ``attention_lstm``
    (LSTM states pooled by :class:`TemporalAttention`). ``units`` may be an int
    or a tuple for stacked layers.
    """
    units = (units,) if isinstance(units, int) else tuple(units)
    attention = kind.startswith("attention_")
    base = kind.removeprefix("attention_")
    bidirectional = base.startswith("bi")
    cell = RECURRENT.get(base.removeprefix("bi"))
    if cell is None:
        raise ValueError(
            f"Unknown sequence head {kind!r}; choose lstm, gru, bilstm, bigru or attention_lstm."
        )
    for i, u in enumerate(units):
        last = i == len(units) - 1
        rnn = cell(u, return_sequences=attention or not last, name=f"{prefix}{i + 1}")
        if bidirectional:
            rnn = layers.Bidirectional(rnn, name=f"{prefix}{i + 1}_bi")
        x = rnn(x)
        if dropout and not last:
            x = layers.Dropout(dropout, name=f"{prefix}{i + 1}_drop")(x)
    if attention:
        x = TemporalAttention(units=units[-1], name=f"{prefix}_attention")(x)
    return x


def inputs_and_extra(input_shape, rr_features=0):
    """The main ``Input`` named "input", plus an "rr" input when ``rr_features``."""
    inputs = [keras.Input(shape=input_shape, name="input")]
    if rr_features:
        inputs.append(keras.Input(shape=(rr_features,), name="rr"))
    return inputs


def classifier_head(features, inputs, num_classes, binary=False, dense_units=(64,), dropout=0.0, name="model",
                    rr_units=0):
    """Dense layers then softmax (or one sigmoid unit for ``binary``); float32 output.

    The extra inputs (the RR and shape features) join the features before the dense layers,
    through a ReLU layer of ``rr_units`` of their own when ``rr_units`` > 0.
    """
    x = features
    if len(inputs) > 1:
        extra = inputs[1:]
        if rr_units:
            extra = [layers.Dense(int(rr_units), activation="relu", name="rr_dense")(
                extra[0] if len(extra) == 1 else layers.Concatenate(name="extra")(extra))]
        x = layers.Concatenate(name="with_rr")([x, *extra])
    dense_units = (dense_units,) if isinstance(dense_units, int) else tuple(dense_units or ())
    for i, u in enumerate(dense_units):
        x = layers.Dense(u, activation="relu", name=f"dense{i + 1}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dense{i + 1}_drop")(x)
    if binary:
        out = layers.Dense(1, activation="sigmoid", dtype="float32", name="risk")(x)
    else:
        out = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], out, name=name)

