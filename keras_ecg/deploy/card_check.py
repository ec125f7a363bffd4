"""A model card checked against the model it describes, before any input reaches the model.

:func:`check` compares what the card says the model takes and gives (input
names and shapes, the beat window and channels its preprocessing cuts, the
RR features, the image or panel size, the number of class names) with the
loaded Keras model, and raises :class:`~keras_ecg.errors.CardError` naming the
card file and the first field that disagrees. A card edited by hand (or copied
beside another model) therefore never feeds wrong-sized inputs, or drops
output columns, silently.
"""

from __future__ import annotations

from keras_ecg.errors import CardError


def _shape(t) -> list:
    return [None if d is None else int(d) for d in tuple(t.shape)[1:]]


def _model_io(model):
    ins = list(model.inputs)
    outs = model.outputs if isinstance(model.outputs, (list, tuple)) else [model.outputs]
    return ins, outs


def check(card, model, source: str = "model card") -> None:
    """Raise :class:`CardError` (``source: field <name>: ...``) where ``card`` disagrees with ``model``."""
    ins, outs = _model_io(model)
    names = [getattr(t, "name", None) or f"input_{i}" for i, t in enumerate(ins)]

    def bad(field, msg):
        raise CardError(f"{source}: field {field}: {msg}")

    if len(card.inputs) != len(ins):
        bad("inputs", f"{len(card.inputs)} input(s) listed, the model has {len(ins)} ({', '.join(names)})")
    for i, (spec, t, name) in enumerate(zip(card.inputs, ins, names)):
        if spec.name != name:
            bad(f"inputs[{i}].name", f"{spec.name!r}, but the model's input {i} is named {name!r}")
        if list(spec.shape[1:]) != _shape(t):
            bad(f"inputs[{i}].shape", f"{spec.shape[1:]}, but the model takes {_shape(t)}")
    width = _shape(outs[0])[-1]
    if card.class_names is not None and width is not None:
        want = 2 if width == 1 else width
        if len(card.class_names) != want:
            bad("class_names", f"{len(card.class_names)} names, but the model has {width} output unit(s) "
                               f"({want} classes)")
    if card.binary != (width == 1):
        bad("binary", f"{card.binary}, but the model has {width} output unit(s)")
    prep, first = card.preprocessing, _shape(ins[0])
    if prep is None:
        return
    if card.input_kind == "waveform":
        _check_waveform(prep, first, [_shape(t) for t in ins[1:]], bad)
    elif card.input_kind == "image" and prep.image_size and first[:2] != [prep.image_size] * 2:
        bad("preprocessing.image_size", f"{prep.image_size}, but the model takes images of {first[:2]}")
    elif card.input_kind == "panels":
        if prep.num_panels and first[0] != prep.num_panels:
            bad("preprocessing.num_panels", f"{prep.num_panels}, but the model takes {first[0]} panels")
        if prep.panel_size and first[1:3] != list(prep.panel_size):
            bad("preprocessing.panel_size", f"{list(prep.panel_size)}, but the model takes panels of {first[1:3]}")


def _check_waveform(prep, first, others, bad) -> None:
    if len(first) != 2:
        bad("input_kind", f"waveform, but the model takes inputs of shape {first}")
    samples, channels = first
    if samples is not None and prep.num_samples != samples:
        what = "mi_indices" if prep.mi_indices else "before + after"
        bad(f"preprocessing.{what}", f"beats of {prep.num_samples} samples, but the model takes {samples}")
    want_ch = len(prep.leads) * (2 if prep.template_beats else 1)
    if channels is not None and want_ch != channels:
        bad("preprocessing.leads", f"{len(prep.leads)} lead(s){' with templates' if prep.template_beats else ''} "
                                   f"make {want_ch} channel(s), but the model takes {channels}")
    rr = len(prep.rr_features or []) + len(getattr(prep, "shape_features", None) or [])
    got = others[0][-1] if others else 0
    if rr != got:
        bad("preprocessing.rr_features", f"{rr} RR (+ shape) feature(s), but the model takes {got}")
