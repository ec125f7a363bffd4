"""Networks for stacked lead panels (batch, L, H, W, C): L panels cropped from
one ECG page (12 leads and the rhythm strip)."""

from keras import layers

from keras_ecg.models.common import classifier_head, inputs_and_extra, pooled_length, sequence_head
from keras_ecg.registry import register_model


def _td_cnn(name, input_shape, num_classes, filters, head, units, dense_units, dropout, binary):
    for size in input_shape[1:3]:
        pooled_length(name, size, len(filters), 2)
    inputs = inputs_and_extra(input_shape)
    x = inputs[0]
    for i, f in enumerate(filters):
        x = layers.TimeDistributed(layers.Conv2D(f, 3, padding="same", activation="relu"), name=f"td_conv{i + 1}")(x)
        x = layers.TimeDistributed(layers.MaxPooling2D(2), name=f"td_pool{i + 1}")(x)
    x = layers.TimeDistributed(layers.GlobalAveragePooling2D(), name="td_gap")(x)  # (B, L, F)
    x = sequence_head(x, head, units, dropout, prefix="panels_rnn")
    return classifier_head(x, inputs, num_classes, binary, dense_units, dropout, name=name)


@register_model("td_cnn", input_kind="panels")
def td_cnn(input_shape, num_classes, filters=(16, 32, 64), head="lstm", units=(64,), dense_units=(64,), dropout=0.3,
           binary=False):
    """A CNN applied to every panel (TimeDistributed), then a sequence head
    across panels: ``head`` is lstm, gru, bilstm, bigru or attention_lstm."""
    return _td_cnn("td_cnn", input_shape, num_classes, filters, head, units, dense_units, dropout, binary)


@register_model("panel_attention_lstm", input_kind="panels")
def panel_attention_lstm(input_shape, num_classes, filters=(16, 32, 64), units=(64,), dense_units=(64,), dropout=0.3,
                         binary=False):
    """Per-panel CNN features read by an attention-LSTM across the panels."""
    return _td_cnn("panel_attention_lstm", input_shape, num_classes, filters, "attention_lstm", units, dense_units,
                   dropout, binary)


@register_model("cnn3d", input_kind="panels")
def cnn3d(input_shape, num_classes, filters=(16, 32, 64), panel_kernel=3, dense_units=(64,), dropout=0.3,
          binary=False):
    """Conv3D over the stack of panels (the panel axis is the depth axis);
    pooling halves height and width only, so any panel count works."""
    for size in input_shape[1:3]:
        pooled_length("cnn3d", size, len(filters), 2)
    inputs = inputs_and_extra(input_shape)
    x = inputs[0]
    for i, f in enumerate(filters):
        x = layers.Conv3D(f, (panel_kernel, 3, 3), padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = layers.BatchNormalization(name=f"conv{i + 1}_bn")(x)
        x = layers.ReLU(name=f"conv{i + 1}_relu")(x)
        x = layers.MaxPooling3D((1, 2, 2), name=f"conv{i + 1}_pool")(x)
    x = layers.GlobalAveragePooling3D(name="gap")(x)
    return classifier_head(x, inputs, num_classes, binary, dense_units, dropout, name="cnn3d")
