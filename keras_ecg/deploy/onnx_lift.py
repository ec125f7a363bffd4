"""Faster ONNX graphs for 1-D convolutional models: convolutions and pools lifted to 2-D, layout transposes dropped.

Keras models are channels-last (beats, time, channels); ONNX convolutions are channels-first.
An exported Conv1D model therefore transposes its activations around every convolution and
pool (jax2onnx also pools through 5-D tensors), and ONNX Runtime runs 1-D convolutions
without its blocked (NCHWc) kernels. For ``pretrained:mitbih_beats`` that is about 5 times
slower than the same weights in a clean 2-D graph.

:func:`lift` rewrites such a graph (constants folded first, by ONNX Runtime's basic
optimisations) so that every activation between the first convolution and the global
pooling is one 4-D tensor ``(N, C, 1, W)``: a 3-D activation is tracked as a *view* of it
(which axis is the batch ``N``, the channels ``C``, the time ``W``, or a unit axis ``1``);
transposes, unsqueezes and squeezes of a view only change the view; convolutions, pools,
element-wise operations with per-channel constants and means or maxima over time run on
the 4-D tensor; any other use of a view gets the tensor back as it was (a squeeze and a
transpose). Nothing is changed that this module does not understand.

:func:`faster_session` builds the lifted graph's session and keeps it only if it gives the
original graph's outputs on random probe inputs (within ``1e-5 + 1e-4 * |value|``); any
failure or difference leaves the original session in use.
"""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np

UNARY = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "HardSigmoid", "Abs", "Neg", "Exp",
         "Identity", "Clip", "Sqrt", "Erf", "Gelu", "HardSwish", "Mish", "Softsign"}
BINARY = {"Add", "Sub", "Mul", "Div", "Max", "Min"}
POOLS = {"MaxPool", "AveragePool"}
GLOBAL = {"ReduceMean": "GlobalAveragePool", "ReduceMax": "GlobalMaxPool"}
VERSION = 1  # of the rewrite: a cached lifted graph of another version is not used
BASE = ("N", "C", "W")  # the axes of a 3-D channels-first activation; its 4-D form is (N, C, 1, W)


class _Skip(Exception):
    """This node cannot run on the 4-D tensor: its inputs are turned back into what they were."""


class _Lifter:
    def __init__(self, graph):
        from onnx import numpy_helper

        self.consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        self.view = {}  # tensor name -> (name of its 4-D form, labels of its axes)
        self.real = set()  # tensors that exist in the new graph
        self.nodes, self.new_inits, self.lifted = [], [], 0
        self.k = 0

    def name(self, base):
        self.k += 1
        return f"{base}__lift{self.k}"

    def const(self, base, array):
        from onnx import numpy_helper

        name = self.name(base)
        self.new_inits.append(numpy_helper.from_array(np.asarray(array), name))
        self.consts[name] = np.asarray(array)
        return name

    def emit(self, op, inputs, outputs, **attrs):
        from onnx import helper

        self.nodes.append(helper.make_node(op, list(inputs), list(outputs), **attrs))
        self.real.update(outputs)

    def ints(self, node, attr, index):
        """An integer list given as attribute ``attr`` or as the constant input ``index``."""
        from onnx import helper

        for a in node.attribute:
            if a.name == attr:
                return [int(v) for v in helper.get_attribute_value(a)]
        if len(node.input) > index and node.input[index]:
            if node.input[index] not in self.consts:
                raise _Skip
            return [int(v) for v in self.consts[node.input[index]].ravel()]
        return None

    def materialize(self, t):
        """Tensor ``t`` as the original graph has it, from its 4-D form."""
        if t in self.real or t not in self.view:
            return
        four, labels = self.view[t]
        x = self.name(t)
        self.emit("Squeeze", [four, self.const("axes", np.array([2], np.int64))], [x])
        order = [lab for lab in labels if lab != "1"]
        perm = [BASE.index(lab) for lab in order]
        ones = [i for i, lab in enumerate(labels) if lab == "1"]
        if perm != [0, 1, 2]:
            y = self.name(t) if ones else t
            self.emit("Transpose", [x], [y], perm=perm)
            x = y
        if ones:
            self.emit("Unsqueeze", [x, self.const("axes", np.array(ones, np.int64))], [t])
        elif x != t:
            self.emit("Identity", [x], [t])

    def four(self, t):
        """The 4-D form of ``t``, a 3-D channels-first (N, C, W) tensor: its view's, or an unsqueeze."""
        if t in self.view and self.view[t][1] == BASE:
            return self.view[t][0]
        if t in self.view:
            raise _Skip
        x = self.name(t)
        self.emit("Unsqueeze", [t, self.const("axes", np.array([2], np.int64))], [x])
        return x

    # ------------------------------------------------------------------ rules: True when the node was lifted

    def node(self, n, attrs):
        op, ins = n.op_type, list(n.input)
        viewed = [i for i in ins if i in self.view]
        if n.domain not in ("", "ai.onnx"):
            return False
        if op == "Conv":
            return self.conv(n, attrs, ins)
        if not viewed:
            return False
        x = ins[0]
        if op == "Transpose" and x in self.view:
            four, labels = self.view[x]
            perm = attrs.get("perm", list(range(len(labels)))[::-1])
            self.view[n.output[0]] = (four, tuple(labels[p] for p in perm))
            return True
        if op in ("Unsqueeze", "Squeeze") and x in self.view:
            return self.reshape(n, op, x)
        if op in UNARY and x in self.view:
            if any(i and i not in self.consts for i in ins[1:]):
                return False
            out = self.name(n.output[0])
            self.emit(op, [self.view[x][0], *ins[1:]], [out], **attrs)
            self.view[n.output[0]] = (out, self.view[x][1])
            return True
        if op in BINARY and len(ins) == 2:
            return self.binary(n, op, ins, attrs)
        if op in POOLS and x in self.view and len(n.output) == 1:
            return self.pool(n, op, x, attrs)
        if op in GLOBAL and x in self.view:
            return self.reduce(n, op, x, attrs)
        return False

    def conv(self, n, attrs, ins):
        w = ins[1]
        if w not in self.consts or self.consts[w].ndim != 3 or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET",
                                                                                                      "NOTSET"):
            return False
        if any(i in self.view for i in ins[1:]):
            return False
        x4 = self.four(ins[0])
        w4 = self.const(w, self.consts[w][:, :, None, :])
        new = {"group": attrs.get("group", 1), "kernel_shape": [1, int(self.consts[w].shape[2])]}
        if "strides" in attrs:
            new["strides"] = [1, *attrs["strides"]]
        if "dilations" in attrs:
            new["dilations"] = [1, *attrs["dilations"]]
        if "pads" in attrs:
            p = attrs["pads"]
            new["pads"] = [0, p[0], 0, p[1]]
        out = self.name(n.output[0])
        self.emit("Conv", [x4, w4, *ins[2:]], [out], **new)
        self.view[n.output[0]] = (out, BASE)
        self.lifted += 1
        return True

    def reshape(self, n, op, x):
        four, labels = self.view[x]
        axes = self.ints(n, "axes", 1)
        if axes is None:
            return False
        labels = list(labels)
        if op == "Unsqueeze":
            rank = len(labels) + len(axes)
            for a in sorted(a % rank for a in axes):
                labels.insert(a, "1")
        else:
            drop = sorted({a % len(labels) for a in axes})
            if any(labels[a] != "1" for a in drop):
                return False
            labels = [lab for i, lab in enumerate(labels) if i not in drop]
        self.view[n.output[0]] = (four, tuple(labels))
        return True

    def binary(self, n, op, ins, attrs):
        a, b = ins
        if a in self.view and b in self.view:
            if self.view[a][1] != self.view[b][1]:
                return False
            args, labels = [self.view[a][0], self.view[b][0]], self.view[a][1]
        else:
            x, c = (a, b) if a in self.view else (b, a)
            if c not in self.consts:
                return False
            labels = self.view[x][1]
            c4 = self._const4(self.consts[c], labels)
            if c4 is None:
                return False
            cname = self.const(c, c4)
            args = [self.view[x][0], cname] if x == a else [cname, self.view[x][0]]
        out = self.name(n.output[0])
        self.emit(op, args, [out], **attrs)
        self.view[n.output[0]] = (out, labels)
        return True

    @staticmethod
    def _const4(c, labels):
        """Constant ``c``, broadcast against a view with ``labels``, as a constant for the 4-D form (or None)."""
        if c.ndim > len(labels):
            return None
        full = c.reshape((1,) * (len(labels) - c.ndim) + c.shape)
        dims = dict.fromkeys(BASE, 1)
        for size, lab in zip(full.shape, labels):
            if lab in ("1", "N"):
                if size != 1:
                    return None
            else:
                dims[lab] = size
        order = [i for i, lab in enumerate(labels) if lab in ("C", "W")]
        moved = full.transpose(order + [i for i in range(len(labels)) if i not in order]).reshape(
            [full.shape[i] for i in order])
        if [labels[i] for i in order] == ["W", "C"]:
            moved = moved.T
        return np.ascontiguousarray(moved).reshape(1, dims["C"], 1, dims["W"]).astype(c.dtype)

    def pool(self, n, op, x, attrs):
        four, labels = self.view[x]
        rank = len(labels)
        kernel = attrs.get("kernel_shape")
        if kernel is None or len(kernel) != rank - 2 or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET",
                                                                                              "NOTSET"):
            return False
        strides = attrs.get("strides", [1] * len(kernel))
        dil = attrs.get("dilations", [1] * len(kernel))
        pads = attrs.get("pads", [0] * (2 * len(kernel)))
        spatial = labels[2:]
        if "W" not in spatial:
            return False
        w = spatial.index("W")
        for i, lab in enumerate(spatial):
            if i != w and (kernel[i] != 1 or strides[i] != 1 or dil[i] != 1 or pads[i] or pads[i + len(kernel)]):
                return False
        new = {"kernel_shape": [1, kernel[w]], "strides": [1, strides[w]],
               "pads": [0, pads[w], 0, pads[w + len(kernel)]]}
        for key in ("ceil_mode", "count_include_pad"):
            if key in attrs:
                new[key] = attrs[key]
        if "dilations" in attrs:
            new["dilations"] = [1, dil[w]]
        out = self.name(n.output[0])
        self.emit(op, [four], [out], **new)
        self.view[n.output[0]] = (out, labels)
        return True

    def reduce(self, n, op, x, attrs):
        four, labels = self.view[x]
        axes = self.ints(n, "axes", 1)
        if not axes:
            return False
        axes = sorted({a % len(labels) for a in axes})
        if [labels[a] for a in axes if labels[a] != "1"] != ["W"]:
            return False
        keepdims = attrs.get("keepdims", 1)
        rest = [lab for i, lab in enumerate(labels) if i not in axes]
        if not keepdims and [lab for lab in rest if lab != "1"] != ["N", "C"]:
            return False
        pooled = self.name(n.output[0])
        self.emit(GLOBAL[op], [four], [pooled])  # (N, C, 1, 1): the time axis of length 1
        if keepdims:
            self.view[n.output[0]] = (pooled, labels)
            return True
        y = self.name(n.output[0])  # the time axis gone: (N, C), as the original graph has it
        self.emit("Squeeze", [pooled, self.const("axes", np.array([2, 3], np.int64))], [y])
        ones = [i for i, lab in enumerate(rest) if lab == "1"]
        if ones:
            self.emit("Unsqueeze", [y, self.const("axes", np.array(ones, np.int64))], [n.output[0]])
        else:
            self.emit("Identity", [y], [n.output[0]])
        return True


def lift(model):
    """``(model, convolutions lifted)``: ``model`` (an ``onnx.ModelProto``, constants folded) with its 1-D
    convolutions and pools run on 4-D tensors (see the module doc); the same model when there are none."""
    import onnx
    from onnx import helper

    g = model.graph
    lifter = _Lifter(g)
    for n in g.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        try:
            done = lifter.node(n, attrs)
        except _Skip:
            done = False
        if not done:
            for i in n.input:
                lifter.materialize(i)
            lifter.nodes.append(n)
            lifter.real.update(n.output)
    for out in g.output:
        lifter.materialize(out.name)
    if not lifter.lifted:
        return model, 0
    new = onnx.ModelProto()
    new.CopyFrom(model)
    del new.graph.node[:]
    new.graph.node.extend(lifter.nodes)
    new.graph.initializer.extend(lifter.new_inits)
    del new.graph.value_info[:]
    used = {i for n in lifter.nodes for i in n.input}
    keep = [i for i in new.graph.initializer if i.name in used]
    del new.graph.initializer[:]
    new.graph.initializer.extend(keep)
    return new, lifter.lifted


def _probe_inputs(session, batch: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    feeds = {}
    for i in session.get_inputs():
        if i.type != "tensor(float)":
            return None
        shape = [d if isinstance(d, int) and d > 0 else None for d in i.shape]
        if any(d is None for d in shape[1:]):
            return None
        feeds[i.name] = rng.normal(size=[batch, *shape[1:]]).astype(np.float32)
    return feeds


def _lifted_bytes(path, options) -> tuple:
    """``(bytes of the lifted graph or None, note)``, from the cache when it holds them (see :func:`faster_session`)."""
    import hashlib

    import onnxruntime as ort

    from keras_ecg import _atomic
    from keras_ecg.data import cache

    key = hashlib.sha256(pathlib.Path(path).read_bytes() + f"lift{VERSION}-ort{ort.__version__}".encode())
    entry = cache.cache_dir() / "onnx_lift" / f"{key.hexdigest()[:32]}"
    for suffix, lifted in ((".onnx", True), (".none", False)):
        try:
            data = entry.with_suffix(suffix).read_bytes()
            return (data, "cached") if lifted else (None, data.decode() or "nothing to lift")
        except OSError:
            pass
    try:
        import onnx
    except ImportError:
        return None, "onnx not installed"
    with tempfile.TemporaryDirectory(prefix="keras_ecg_onnx_") as tmp:
        basic = options()
        basic.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        basic.optimized_model_filepath = f"{tmp}/basic.onnx"
        ort.InferenceSession(str(path), basic, providers=["CPUExecutionProvider"])
        model, lifted = lift(onnx.load(f"{tmp}/basic.onnx"))
    data, note = (model.SerializeToString(), "") if lifted else (None, "no 1-D convolutions to lift")
    try:  # kept for the next load; a cache that cannot be written is no error
        _atomic.write_bytes(entry.with_suffix(".onnx" if lifted else ".none"), data or note.encode())
    except OSError:
        pass
    return data, note


def faster_session(path, options, original):
    """``(session, note)``: the lifted graph's session when it agrees with ``original`` (the session of
    ``path``) on probe inputs, else ``(None, why not)``. ``options()`` makes fresh session options.

    The lifted graph is kept in ``$KERAS_ECG_CACHE/onnx_lift/`` (by the SHA-256 of the ONNX file, this
    module's :data:`VERSION` and the onnxruntime version), so that later loads neither import ``onnx``
    nor rewrite the graph; it is checked against the original at every load all the same.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        return None, "onnxruntime not installed"
    feeds = _probe_inputs(original)
    if feeds is None:
        return None, "inputs of unknown shape"
    try:
        data, note = _lifted_bytes(path, options)
        if data is None:
            return None, note
        sess = ort.InferenceSession(data, options(), providers=["CPUExecutionProvider"])
        want = original.run(None, feeds)
        got = sess.run(None, feeds)
    except Exception as e:  # noqa: BLE001 - any failure: the original graph stays in use
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]
    for a, b in zip(want, got):
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-4, atol=1e-5):
            return None, "lifted graph disagrees with the original"
    return sess, "1-D convolutions lifted to 2-D" + (" (cached)" if note == "cached" else "")
