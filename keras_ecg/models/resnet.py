"""Residual 1D CNN of Kachuee, Fazeli and Sarrafzadeh (2018),
"ECG Heartbeat Classification: A Deep Transferable Representation"."""

from keras import layers

from keras_ecg.models.common import classifier_head, inputs_and_extra, pooled_length
from keras_ecg.registry import register_model


@register_model("resnet1d")
def resnet1d(input_shape, num_classes, filters=32, kernel_size=5, blocks=5, pool_size=5, pool_stride=2,
             dense_units=(32, 32), dropout=0.0, rr_features=0, binary=False):
    """A conv stem, ``blocks`` residual blocks (conv-ReLU-conv, skip add, ReLU,
    max-pool 5 stride 2), then two dense layers of 32 and the classifier."""
    pooled_length("resnet1d", input_shape[0], blocks, pool_size, kernel=pool_size, stride=pool_stride)
    inputs = inputs_and_extra(input_shape, rr_features)
    x = layers.Conv1D(filters, kernel_size, padding="same", name="stem")(inputs[0])
    for i in range(blocks):
        p = f"res{i + 1}"
        skip = x
        x = layers.Conv1D(filters, kernel_size, padding="same", activation="relu", name=f"{p}_conv1")(x)
        x = layers.Conv1D(filters, kernel_size, padding="same", name=f"{p}_conv2")(x)
        x = layers.Add(name=f"{p}_add")([x, skip])
        x = layers.ReLU(name=f"{p}_relu")(x)
        x = layers.MaxPooling1D(pool_size, strides=pool_stride, name=f"{p}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    return classifier_head(x, inputs, num_classes, binary, dense_units, dropout, name="resnet1d")
