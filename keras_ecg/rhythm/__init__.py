"""Rhythm of a whole record: AF/flutter, pauses, rate episodes, runs, bigeminy and trigeminy.

Below ``deploy`` and beside ``evaluation`` (which scores it); NumPy only, no keras.
"""

from keras_ecg.card_rhythm import AF_RULES, RhythmConfig
from keras_ecg.rhythm.analysis import Rhythm, analyze, no_s_in_af
from keras_ecg.rhythm.episodes import KINDS, Episode, beats_in

__all__ = ["AF_RULES", "KINDS", "Episode", "Rhythm", "RhythmConfig", "analyze", "beats_in", "no_s_in_af"]
