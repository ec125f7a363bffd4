"""A saved model as one callable, ``list of input arrays -> probabilities``: ONNX Runtime or Keras.

:func:`load` reads the model card (``pretrained:NAME`` accepted) and picks the
fastest runtime it can: the card's ONNX file in onnxruntime when both exist
(``runtime="auto"``), else the ``.keras`` model on the active Keras backend.
Keras is imported only for the Keras runtime. An ONNX graph of 1-D convolutions runs with
its convolutions lifted to 2-D (:mod:`keras_ecg.deploy.onnx_lift`: the same outputs, about
five times faster for ``pretrained:mitbih_beats``).
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from keras_ecg.deploy import predict as P
from keras_ecg.deploy import pretrained
from keras_ecg.errors import DataError

RUNTIMES = ("auto", "onnx", "keras")


@dataclasses.dataclass
class Classifier:
    predict: object  # list of arrays (the card's inputs, in order) -> (n, K) or (n, 1) float64
    card: object  # keras_ecg.card.ModelCard
    path: pathlib.Path  # the .keras file
    runtime: str  # "onnxruntime" or "keras/<backend>"
    graph: str = ""  # onnxruntime: whether the graph runs lifted to 2-D (keras_ecg.deploy.onnx_lift), or why not
    model: object = None  # the keras.Model (Keras runtime)

    def __call__(self, inputs) -> np.ndarray:
        return self.predict(inputs)


def _onnx(path, card):
    import onnxruntime as ort

    from keras_ecg.deploy import onnx_lift

    def options():
        opts = ort.SessionOptions()
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-wait on a shared CPU
        return opts

    sess = ort.InferenceSession(str(path), options(), providers=["CPUExecutionProvider"])
    fast, note = onnx_lift.faster_session(path, options, sess)  # 1-D convolutions as 2-D: the same outputs, faster
    sess = fast or sess
    names = [i.name for i in sess.get_inputs()]

    def run(inputs, batch=512):  # larger batches are no faster and hold more memory
        n = len(inputs[0])
        outs = [sess.run(None, {k: np.asarray(a[i:i + batch], np.float32) for k, a in zip(names, inputs)})[0]
                for i in range(0, n, batch)]
        return np.concatenate(outs).astype(np.float64) if outs else np.zeros((0, len(card.class_names or [1])))

    return run, note if fast else f"as exported ({note})"


def predict_fn(model):
    """``inputs -> outputs`` of anything with keras.Model's ``predict`` (a Keras model, a bundle, the service's
    ONNX adapter): one array for a one-input model, the list otherwise; float64."""

    one_batch = getattr(model, "predict_on_batch", None)

    def run(inputs, batch=1024):
        x = list(inputs)
        args = x[0] if len(x) == 1 else x
        if one_batch is not None and x and 0 < len(x[0]) <= batch:
            # One batch (a live stream's few beats, one page): the same compiled predict step without predict()'s
            # data pipeline, which costs TensorFlow about 60 ms a call (2.4 ms this way; same outputs).
            out = one_batch(args)
        else:
            out = model.predict(args, batch_size=batch, verbose=0)
        return np.asarray(out[0] if isinstance(out, (list, tuple)) else out, dtype=np.float64)

    return run


def load(model, runtime: str = "auto") -> Classifier:
    """The :class:`Classifier` of ``model`` (a ``.keras`` file, its folder, or ``pretrained:NAME``); a model
    bundle's folder gives its :class:`keras_ecg.deploy.bundle.Bundle` (the same ``predict``, ``card``, ``runtime``)."""
    if runtime not in RUNTIMES:
        raise DataError(f"runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    from keras_ecg.deploy import bundle

    if bundle.is_bundle(pretrained.resolve(model)):  # several models read as one (keras_ecg.deploy.bundle)
        return bundle.load(pretrained.resolve(model), runtime)
    path = P.find_model(pretrained.resolve(model))
    card = P.read_card(path)
    onnx_file = path.with_name(card.files["onnx"]) if "onnx" in card.files else None
    if runtime in ("auto", "onnx") and onnx_file is not None and onnx_file.is_file():
        try:
            run, note = _onnx(onnx_file, card)
            return Classifier(run, card, path, "onnxruntime", note)
        except ImportError:
            if runtime == "onnx":
                raise DataError(f"{onnx_file}: onnxruntime is not installed (pip install keras-ecg[export])") from None
    elif runtime == "onnx":
        raise DataError(f"{path}: no ONNX file beside this model (its card lists {sorted(card.files)})")
    model_obj, card = P.load(path)
    from keras_ecg import backend as kb

    return Classifier(predict_fn(model_obj), card, path, f"keras/{kb.current()}", model=model_obj)
