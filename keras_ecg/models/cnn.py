"""1D convolutional network for beats and other waveforms."""

from keras import layers

from keras_ecg.models.common import classifier_head, conv1d_blocks, inputs_and_extra, pooled_length
from keras_ecg.registry import register_model


@register_model("cnn1d")
def cnn1d(
    input_shape,
    num_classes,
    filters=(32, 64, 128),
    kernel_size=5,
    pool_size=2,
    dense_units=(64,),
    dropout=0.3,
    rr_features=0,
    binary=False,
    rr_units=0,
):
    """Conv1D blocks (conv, batch-norm, ReLU, max-pool), global pooling, dense head.

    ``rr_units`` > 0 passes the ``rr`` input through a ReLU layer of that width before it joins.
    """
    pooled_length("cnn1d", input_shape[0], len(filters), pool_size)
    inputs = inputs_and_extra(input_shape, rr_features)
    x = conv1d_blocks(inputs[0], filters, kernel_size, pool_size)
    x = layers.GlobalAveragePooling1D(name="gap")(x)
    return classifier_head(x, inputs, num_classes, binary, dense_units, dropout, name="cnn1d", rr_units=rr_units)
