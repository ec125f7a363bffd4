"""AttentionVGG: Jetley, Lord, Lee and Torr (2018), "Learn to Pay Attention".

A VGG trunk whose intermediate feature maps are pooled by attention gates that
use the global feature as the query; the attended vectors are concatenated and
classified. Width (``filters``) and depth (``convs_per_block``) are arguments,
so a small variant trains on a CPU.
"""

from keras import layers

from keras_ecg.layers import AttentionGate
from keras_ecg.models.common import classifier_head, inputs_and_extra, pooled_length
from keras_ecg.registry import register_model


@register_model("attention_vgg", input_kind="image")
def attention_vgg(input_shape, num_classes, filters=(16, 32, 64, 128, 128), convs_per_block=2, attend_blocks=(2, 3),
                  global_dim=None, normalize="softmax", dense_units=(), dropout=0.3, binary=False):
    """Args:
        filters: channels of each VGG block (one max-pool per block).
        convs_per_block: 3x3 convolutions per block (VGG-16 uses 2-3).
        attend_blocks: 0-based indices of the blocks whose feature maps
            (before pooling) get an attention gate.
        global_dim: size of the global feature (default: last block's width).
        normalize: "softmax" (over positions) or "sigmoid" attention.
    """
    for size in input_shape[:2]:
        pooled_length("attention_vgg", size, len(filters), 2)
    if not attend_blocks or max(attend_blocks) >= len(filters) - 1 or min(attend_blocks) < 0:
        raise ValueError(
            f"Model 'attention_vgg': attend_blocks={attend_blocks} must name blocks before the last "
            f"(0..{len(filters) - 2})."
        )
    global_dim = global_dim or filters[-1]
    inputs = inputs_and_extra(input_shape)
    x = inputs[0]
    local_maps = []
    for i, f in enumerate(filters):
        for j in range(convs_per_block):
            x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"block{i + 1}_conv{j + 1}")(x)
            x = layers.BatchNormalization(name=f"block{i + 1}_bn{j + 1}")(x)
            x = layers.ReLU(name=f"block{i + 1}_relu{j + 1}")(x)
        local_maps.append(x)
        x = layers.MaxPooling2D(2, name=f"block{i + 1}_pool")(x)
    g = layers.GlobalAveragePooling2D(name="global_pool")(x)
    g = layers.Dense(global_dim, activation="relu", name="global")(g)
    attended = [
        AttentionGate(normalize=normalize, name=f"attention{b + 1}")([local_maps[b], g]) for b in attend_blocks
    ]
    x = layers.Concatenate(name="attended")(attended) if len(attended) > 1 else attended[0]
    return classifier_head(x, inputs, num_classes, binary, dense_units, dropout, name="attention_vgg")
