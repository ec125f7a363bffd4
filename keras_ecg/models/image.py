"""Networks for whole ECG pages (batch, H, W, C)."""

from keras import layers

from keras_ecg.models.common import classifier_head, conv2d_blocks, inputs_and_extra, pooled_length, sequence_head
from keras_ecg.registry import register_model


def _check_2d(name, input_shape, stages, pool_size):
    for size in input_shape[:2]:
        pooled_length(name, size, stages, pool_size)


@register_model("cnn2d", input_kind="image")
def cnn2d(input_shape, num_classes, filters=(16, 32, 64, 128), convs_per_block=1, dense_units=(64,), dropout=0.3,
          binary=False):
    """VGG-style conv blocks, global average pooling, dense head."""
    _check_2d("cnn2d", input_shape, len(filters), 2)
    inputs = inputs_and_extra(input_shape)
    x = conv2d_blocks(inputs[0], filters, convs_per_block=convs_per_block)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return classifier_head(x, inputs, num_classes, binary, dense_units, dropout, name="cnn2d")


@register_model("cnn_lstm2d", input_kind="image")
def cnn_lstm2d(input_shape, num_classes, filters=(16, 32), pool_size=(4, 2), units=(64,), bidirectional=False,
               dense_units=(64,), dropout=0.3, binary=False):
    """Two conv layers; the feature map is read as a sequence along the page's
    time (width) axis by an LSTM (``bidirectional=True`` for a BiLSTM)."""
    pool_size = tuple(pool_size) if not isinstance(pool_size, int) else (pool_size, pool_size)
    pooled_length("cnn_lstm2d", input_shape[0], len(filters), pool_size[0])
    pooled_length("cnn_lstm2d", input_shape[1], len(filters), pool_size[1])
    inputs = inputs_and_extra(input_shape)
    x = conv2d_blocks(inputs[0], filters, pool_size=pool_size)
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    x = layers.Permute((2, 1, 3), name="time_major")(x)  # (B, W, H, C): width is time
    x = layers.Reshape((width, height * channels), name="as_sequence")(x)
    x = sequence_head(x, "bilstm" if bidirectional else "lstm", units, dropout)
    return classifier_head(x, inputs, num_classes, binary, dense_units, dropout, name="cnn_lstm2d")
