"""Recurrent networks over a waveform: LSTM, BiLSTM, GRU and attention-LSTM."""

from keras_ecg.models.common import classifier_head, inputs_and_extra, sequence_head
from keras_ecg.registry import register_model


def _recurrent(name, kind, input_shape, num_classes, units, dense_units, dropout, rr_features, binary):
    inputs = inputs_and_extra(input_shape, rr_features)
    x = sequence_head(inputs[0], kind, units, dropout)
    return classifier_head(x, inputs, num_classes, binary, dense_units, dropout, name=name)


@register_model("lstm")
def lstm(input_shape, num_classes, units=(64,), dense_units=(32,), dropout=0.2, rr_features=0, binary=False):
    """Stacked LSTM; the last state feeds a dense head."""
    return _recurrent("lstm", "lstm", input_shape, num_classes, units, dense_units, dropout, rr_features, binary)


@register_model("bilstm")
def bilstm(input_shape, num_classes, units=(64,), dense_units=(32,), dropout=0.2, rr_features=0, binary=False):
    """Stacked bidirectional LSTM."""
    return _recurrent("bilstm", "bilstm", input_shape, num_classes, units, dense_units, dropout, rr_features, binary)


@register_model("gru")
def gru(input_shape, num_classes, units=(64,), dense_units=(32,), dropout=0.2, rr_features=0, binary=False):
    """Stacked GRU."""
    return _recurrent("gru", "gru", input_shape, num_classes, units, dense_units, dropout, rr_features, binary)


@register_model("attention_lstm")
def attention_lstm(input_shape, num_classes, units=(64,), dense_units=(32,), dropout=0.2, rr_features=0, binary=False):
    """LSTM whose states are pooled by additive temporal attention."""
    return _recurrent(
        "attention_lstm", "attention_lstm", input_shape, num_classes, units, dense_units, dropout, rr_features, binary
    )
