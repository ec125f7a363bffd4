"""An ensemble of independently trained copies of one architecture, as one ``keras.Model``.

``keras_ecg.build(name, ..., members=N)`` builds N copies of model ``name`` (sub-models
``member1`` ... ``memberN``) behind shared inputs and averages their outputs (softmax
probabilities or sigmoid risks). The runner's ``--members N`` trains each copy on its own
(its own seed, early stopping and checkpoint, in ``members/<k>/`` of the run folder) and
loads the trained weights into this model with :func:`load_members`, so the ensemble is saved,
exported (``.keras``, SavedModel, ONNX) and served like any single model, and
``keras_ecg.build(card.model, **card.model_args)`` rebuilds its architecture from the model card.
Averaging independent runs cuts the run-to-run spread that small medical datasets give.
"""

from __future__ import annotations

import keras
from keras import layers


def average(members, name: str = "ensemble") -> keras.Model:
    """One model whose output is the mean of ``members``' outputs (they share the inputs by name)."""
    first = members[0]
    inputs = [keras.Input(shape=tuple(t.shape[1:]), name=t.name.split(":")[0], dtype=t.dtype)
              for t in first.inputs]
    names = [i.name for i in inputs]
    for k, m in enumerate(members):
        if [t.name.split(":")[0] for t in m.inputs] != names:
            raise ValueError(f"ensemble: member {k + 1} takes inputs {[t.name for t in m.inputs]}, not {names}.")
        m.name = f"member{k + 1}"
    feed = inputs if len(inputs) > 1 else inputs[0]
    outs = [m(feed) for m in members]
    out = layers.Average(name=first.layers[-1].name, dtype="float32")(outs)  # "probs" or "risk", as a member
    return keras.Model(feed, out, name=name)


def member_models(model) -> list:
    """The sub-models ``member1`` ... of an ensemble built by :func:`average`."""
    found = [layer for layer in model.layers if isinstance(layer, keras.Model) and layer.name.startswith("member")]
    return sorted(found, key=lambda m: int(m.name.removeprefix("member")))


def load_members(ensemble, trained) -> None:
    """Copy the weights of the trained single models ``trained`` into ``ensemble``'s members."""
    members = member_models(ensemble)
    if len(members) != len(trained):
        raise ValueError(f"ensemble: {len(members)} members but {len(trained)} trained models.")
    for m, t in zip(members, trained):
        m.set_weights(t.get_weights())
