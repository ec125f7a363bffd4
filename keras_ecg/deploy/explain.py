"""Attributions of a model's decision, written once over ``keras.ops`` for every backend.

* :func:`grad_cam` (image and lead-panel models): the feature map ``A`` of the last
  spatial layer (:func:`cam_layer`), weights = the mean gradient of the class score
  over its height and width (for panel models, per panel: a panel the decision does
  not depend on gets no weight), map = ``relu(sum_c w_c A_c)``, resized to the input
  (per panel) and scaled to [0, 1] per item;
* :func:`integrated_gradients` (beat models): ``(x - x0) * mean over the path of the
  gradient`` from the baseline ``x0 = 0`` (the mean of a z-scored beat), with
  ``steps`` midpoints; the attributions sum to ``score(x) - score(x0)``;
* :func:`saliency`: ``|gradient|`` of the class score at ``x``.

:func:`explain` refuses a method that does not fit the model: ``gradcam`` for beat
models (no spatial map), ``ig`` for image and panel models (no neutral baseline page).

The class score is the logit of the class: the output layer's activation
(softmax, sigmoid) is left out; for a sigmoid risk the score of class 0 is the
negative logit. The model is run through its own graph
(:meth:`keras.Model._run_through_graph`), where one layer's output can be
replaced by a given tensor; the gradients come from :func:`keras_ecg.deploy.gradients.gradient`,
the only per-backend code.
"""

from __future__ import annotations

import numpy as np

from keras_ecg.deploy.gradients import gradient
from keras_ecg.errors import DataError

__all__ = ["METHODS", "cam_layer", "class_scores", "grad_cam", "integrated_gradients", "saliency", "explain"]

METHODS = ("auto", "gradcam", "ig", "saliency")


def _graph(model):
    import keras

    graph = getattr(model, "_functional", None) if isinstance(model, keras.Sequential) else model
    if graph is None or not hasattr(graph, "_run_through_graph"):
        raise DataError(f"model {model.name}: explanations need a functional Keras model")
    return graph


def _output_layer(model):
    hist = getattr(model.outputs[0], "_keras_history", None)
    return hist.operation if hist is not None else None


def _linear(layer):
    """The output Dense layer without its softmax/sigmoid (the logits), or ``None``."""
    import keras
    from keras import ops

    act = getattr(getattr(layer, "activation", None), "__name__", "")
    if not isinstance(layer, keras.layers.Dense) or act not in ("softmax", "sigmoid"):
        return None

    def call(x, *args, **kwargs):
        z = ops.matmul(x, layer.kernel)
        return z + layer.bias if layer.use_bias else z

    return call


def _run(model, inputs, replace=None, capture=None):
    """The model's logits for ``inputs`` (list of tensors); ``replace``: ``(layer, tensor)``; ``capture``: a dict."""
    import keras

    graph, head = _graph(model), _output_layer(model)
    logits = _linear(head)

    def operation(op):
        if replace is not None and op is replace[0]:
            return lambda *a, **k: replace[1]
        if op is head and logits is not None:
            return logits
        if capture is not None and op is capture.get("layer"):
            def call(*a, **k):
                capture["value"] = op(*a, **k)
                return capture["value"]

            return call
        return op

    out = keras.tree.flatten(graph._run_through_graph(list(inputs), operation_fn=operation))[0]
    if logits is None:  # an output that is not a Dense softmax/sigmoid (e.g. an ensemble's average)
        from keras import ops

        p = ops.clip(out, 1e-7, 1 - 1e-7)
        out = ops.log(p) - ops.log(1 - p) if out.shape[-1] == 1 else ops.log(p)
    return out


def class_scores(out, classes):
    """Sum over the batch of each item's class score (``out``: logits; a risk's class 0 scores ``-logit``)."""
    from keras import ops

    classes = np.asarray(classes, dtype=np.int64)
    if out.shape[-1] == 1:
        sign = np.where(classes == 1, 1.0, -1.0).astype(np.float32)[:, None]
        return ops.sum(out * ops.convert_to_tensor(sign))
    onehot = np.eye(out.shape[-1], dtype=np.float32)[classes]
    return ops.sum(out * ops.convert_to_tensor(onehot))


def _tensors(xs):
    from keras import ops

    return [ops.convert_to_tensor(np.asarray(x, dtype=np.float32)) for x in xs]


def cam_layer(model):
    """The last layer whose output keeps the input's spatial layout (rank 4 for images, 5 for panels)."""
    rank = len(model.inputs[0].shape)
    found = None
    for layer in model.layers:
        out = getattr(layer, "output", None)
        if layer.__class__.__name__ == "InputLayer" or out is None or isinstance(out, (list, tuple)):
            continue
        if len(out.shape) == rank and all(d is None or d > 1 for d in out.shape[-3:-1]):
            found = layer
    if found is None:
        raise DataError(f"model {model.name}: no spatial feature map for Grad-CAM (use --method saliency)")
    return found


def _resize(maps, size):
    """``(n, h, w)`` maps bilinearly resized to ``size`` = (H, W)."""
    from scipy.ndimage import zoom

    n, h, w = maps.shape
    return np.stack([zoom(m, (size[0] / h, size[1] / w), order=1) for m in maps]) if n else maps


def _unit(a, axes):
    top = a.max(axis=axes, keepdims=True)
    return np.divide(a, top, out=np.zeros_like(a), where=top > 0)


def grad_cam(model, xs, classes, layer=None) -> np.ndarray:
    """Grad-CAM maps: ``(n, H, W)`` for images, ``(n, L, H, W)`` for panels (``xs``: list of model inputs)."""
    layer = layer or cam_layer(model)
    tensors = _tensors(xs)
    cap = {"layer": layer}
    _run(model, tensors, capture=cap)
    feats = np.asarray(_numpy(cap["value"]), dtype=np.float32)
    grads = gradient(lambda a: class_scores(_run(model, tensors, replace=(layer, a)), classes), feats)
    weights = grads.mean(axis=(-3, -2), keepdims=True)  # per item (and per panel): the mean over height, width
    cam = np.maximum((weights * feats).sum(axis=-1), 0.0)  # (n, h, w) or (n, L', h, w)
    x0 = np.asarray(xs[0])
    if cam.ndim == 3:
        return _unit(_resize(cam, x0.shape[1:3]), (1, 2))
    n, lp = cam.shape[:2]
    panels = _resize(cam.reshape(n * lp, *cam.shape[2:]), x0.shape[2:4]).reshape(n, lp, *x0.shape[2:4])
    if lp != x0.shape[1]:  # a layer that pooled the panel axis: stretch it back
        panels = panels[:, np.minimum(np.arange(x0.shape[1]) * lp // x0.shape[1], lp - 1)]
    return _unit(panels, (1, 2, 3))


def _numpy(t):
    import keras

    return keras.ops.convert_to_numpy(t)


def _input_gradient(model, xs, classes, first):
    rest = _tensors(xs[1:])
    return gradient(lambda t: class_scores(_run(model, [t, *rest]), classes), first)


def saliency(model, xs, classes) -> np.ndarray:
    """``|d score / d x|`` for the first input, in its shape."""
    return np.abs(_input_gradient(model, xs, classes, np.asarray(xs[0], dtype=np.float32)))


def integrated_gradients(model, xs, classes, steps: int = 32, baseline=None) -> np.ndarray:
    """Integrated gradients of the first input (the others held at their values), in its shape."""
    x = np.asarray(xs[0], dtype=np.float32)
    x0 = np.zeros_like(x) if baseline is None else np.broadcast_to(np.asarray(baseline, np.float32), x.shape)
    alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    path = np.concatenate([x0 + a * (x - x0) for a in alphas])  # (steps * n, ...)
    rest = [np.concatenate([np.asarray(r, np.float32)] * steps) for r in xs[1:]]
    g = _input_gradient(model, [path, *rest], np.tile(np.asarray(classes), steps), path)
    return (x - x0) * g.reshape(steps, *x.shape).mean(axis=0)


def explain(model, xs, classes, kind: str, method: str = "auto") -> tuple:
    """``(method used, attributions)`` for inputs ``xs`` of an ``image``, ``panels`` or ``waveform`` model."""
    if method not in METHODS:
        raise DataError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    if method == "auto":
        method = "ig" if kind == "waveform" else "gradcam"
    if method == "gradcam" and kind == "waveform":
        raise DataError("--method gradcam: for image and panel models; beat models take ig or saliency")
    if method == "ig" and kind != "waveform":  # a black page is no neutral baseline, and no picture draws it
        raise DataError(f"--method ig: for beat models; {kind} models take gradcam or saliency")
    fn = {"gradcam": grad_cam, "ig": integrated_gradients, "saliency": saliency}[method]
    return method, fn(model, list(xs), classes)
