"""Named size presets for the registered models.

``TINY`` holds narrow widths that keep every model fast on a 2-core CPU: the
test suite and the quick benchmarks use them. Pass one as overrides:
``keras_ecg.build(name, shape, n, **TINY[name])``.
"""

TINY = {
    "cnn1d": dict(filters=(8, 16), dense_units=(16,)),
    "lstm": dict(units=(8,), dense_units=(8,)),
    "bilstm": dict(units=(8,), dense_units=(8,)),
    "gru": dict(units=(8,), dense_units=(8,)),
    "attention_lstm": dict(units=(8,), dense_units=(8,)),
    "cnn_lstm": dict(filters=(8, 16), units=(8,), dense_units=(16,)),
    "cnn_bilstm": dict(filters=(8, 16), units=(8,), dense_units=(16,)),
    "cnn_attention_lstm": dict(filters=(8, 16), units=(8,), dense_units=(16,)),
    "resnet1d": dict(filters=8, blocks=3, dense_units=(16, 16)),
    "cnn2d": dict(filters=(8, 16), dense_units=(16,)),
    "cnn_lstm2d": dict(filters=(8, 8), units=(8,), dense_units=(16,)),
    "attention_vgg": dict(filters=(8, 16, 16), convs_per_block=1, attend_blocks=(0, 1)),
    "td_cnn": dict(filters=(8, 16), units=(8,), dense_units=(16,)),
    "panel_attention_lstm": dict(filters=(8, 16), units=(8,), dense_units=(16,)),
    "cnn3d": dict(filters=(8, 16), dense_units=(16,)),
}
