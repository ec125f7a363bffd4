"""Hybrid CNN-LSTM networks: convolutions extract local shape, a recurrent
layer reads the resulting feature sequence."""

from keras_ecg.models.common import (
    classifier_head,
    conv1d_blocks,
    inputs_and_extra,
    pooled_length,
    sequence_head,
)
from keras_ecg.registry import register_model


def _conv_recurrent(name, head, input_shape, num_classes, filters, kernel_size, pool_size, units, dense_units,
                    dropout, rr_features, binary):
    pooled_length(name, input_shape[0], len(filters), pool_size)
    inputs = inputs_and_extra(input_shape, rr_features)
    x = conv1d_blocks(inputs[0], filters, kernel_size, pool_size)
    x = sequence_head(x, head, units, dropout)
    return classifier_head(x, inputs, num_classes, binary, dense_units, dropout, name=name)


@register_model("cnn_lstm")
def cnn_lstm(input_shape, num_classes, filters=(32, 64), kernel_size=5, pool_size=2, units=(64,),
             dense_units=(64,), dropout=0.3, rr_features=0, binary=False):
    """Conv blocks (ReLU, max-pooling), an LSTM over the feature sequence, dense head."""
    return _conv_recurrent("cnn_lstm", "lstm", input_shape, num_classes, filters, kernel_size, pool_size, units,
                           dense_units, dropout, rr_features, binary)


@register_model("cnn_bilstm")
def cnn_bilstm(input_shape, num_classes, filters=(32, 64), kernel_size=5, pool_size=2, units=(64,),
               dense_units=(64,), dropout=0.3, rr_features=0, binary=False):
    """Conv blocks then a bidirectional LSTM."""
    return _conv_recurrent("cnn_bilstm", "bilstm", input_shape, num_classes, filters, kernel_size, pool_size, units,
                           dense_units, dropout, rr_features, binary)


@register_model("cnn_attention_lstm")
def cnn_attention_lstm(input_shape, num_classes, filters=(32, 64), kernel_size=5, pool_size=2, units=(64,),
                       dense_units=(64,), dropout=0.3, rr_features=0, binary=False):
    """Conv blocks, an LSTM, then attention pooling over the LSTM states."""
    return _conv_recurrent("cnn_attention_lstm", "attention_lstm", input_shape, num_classes, filters, kernel_size,
                           pool_size, units, dense_units, dropout, rr_features, binary)
