"""Custom layers, built from ``keras.ops`` so they run on every backend.

One layer per file. Each is registered as serializable under the ``keras_ecg``
package (``keras_ecg>TemporalAttention`` ...) and its ``get_config`` returns
every constructor argument, so a model saved on one backend loads on the others.
"""

from keras_ecg.layers.attention_gate import AttentionGate
from keras_ecg.layers.fused_gru import FusedGRU
from keras_ecg.layers.fused_lstm import FusedLSTM
from keras_ecg.layers.temporal_attention import TemporalAttention

__all__ = ["AttentionGate", "FusedGRU", "FusedLSTM", "TemporalAttention"]
