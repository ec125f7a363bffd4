"""ONNX graphs of 1-D convolutions run lifted to 2-D (keras_ecg.deploy.onnx_lift): the same outputs, or left alone."""

import collections

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from keras_ecg.deploy import onnx_lift  # noqa: E402

pytestmark = pytest.mark.backend_free


def _options():
    return ort.SessionOptions()


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), _options(), providers=["CPUExecutionProvider"])


def _model(nodes, inits, outputs):
    rng = np.random.default_rng(0)
    tensors = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32) if isinstance(s, tuple)
                                       else np.asarray(s), n) for n, s in inits.items()]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 40, 3])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, s) for o, s in outputs.items()], tensors)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)


def _jax_like():
    """What jax2onnx writes for Conv1D -> BN -> ReLU -> MaxPool1D -> Conv1D -> residual -> pools, channels last."""
    n = helper.make_node
    nodes = [
        n("Transpose", ["x"], ["x_ncw"], perm=[0, 2, 1]),
        n("Conv", ["x_ncw", "w1", "b1"], ["c1"], pads=[2, 2]),
        n("Transpose", ["c1"], ["c1_nwc"], perm=[0, 2, 1]),
        n("Mul", ["c1_nwc", "scale"], ["bn_m"]),
        n("Add", ["bn_m", "shift"], ["bn"]),
        n("Relu", ["bn"], ["r1"]),
        n("Unsqueeze", ["r1", "ax0"], ["u0"]),
        n("Unsqueeze", ["u0", "ax1"], ["u1"]),  # (1, 1, N, W, C): pooled as 5-D, batch as a spatial axis
        n("MaxPool", ["u1"], ["p5"], kernel_shape=[1, 2, 1], strides=[1, 2, 1]),
        n("Squeeze", ["p5", "ax01"], ["p1"]),
        n("Transpose", ["p1"], ["p1_ncw"], perm=[0, 2, 1]),
        n("Conv", ["p1_ncw", "w2"], ["c2"], pads=[1, 1]),
        n("Add", ["c2", "p1_ncw"], ["res"]),  # a residual: both inputs views
        n("AveragePool", ["res"], ["avg"], kernel_shape=[3], strides=[1], pads=[1, 1]),
        n("Transpose", ["avg"], ["avg_nwc"], perm=[0, 2, 1]),
        n("Softmax", ["avg_nwc"], ["soft"], axis=-1),  # not lifted: its input is written out as it was
        n("ReduceMean", ["avg_nwc", "ax1"], ["gap"], keepdims=0),
    ]
    inits = {"w1": (4, 3, 5), "b1": (4,), "scale": (4,), "shift": (1, 1, 4), "w2": (4, 4, 3),
             "ax0": np.array([0], np.int64), "ax1": np.array([1], np.int64), "ax01": np.array([0, 1], np.int64)}
    return _model(nodes, inits, {"gap": ["N", 4], "soft": ["N", 20, 4]})


def test_lift_keeps_the_outputs_and_drops_the_layout_transposes():
    model = _jax_like()
    lifted, count = onnx_lift.lift(model)
    assert count == 2
    onnx.checker.check_model(lifted)
    ops = collections.Counter(node.op_type for node in lifted.graph.node)
    assert ops["Transpose"] == 2  # the input's, and the one the softmax needs back
    assert ops["GlobalAveragePool"] == 1 and ops["ReduceMean"] == 0
    x = np.random.default_rng(1).normal(size=(7, 40, 3)).astype(np.float32)
    want, got = _session(model).run(None, {"x": x}), _session(lifted).run(None, {"x": x})
    for a, b in zip(want, got):
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_a_graph_without_1d_convolutions_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_ECG_CACHE", str(tmp_path / "cache"))
    model = _model([helper.make_node("Relu", ["x"], ["y"])], {}, {"y": ["N", 40, 3]})
    assert onnx_lift.lift(model) == (model, 0)
    onnx.save(model, tmp_path / "relu.onnx")
    for _ in range(2):  # the second time from the cache
        assert onnx_lift.faster_session(tmp_path / "relu.onnx", _options, _session(model)) == (
            None, "no 1-D convolutions to lift")
    assert [p.suffix for p in (tmp_path / "cache" / "onnx_lift").iterdir()] == [".none"]


def test_the_lifted_graph_is_cached_and_checked_at_every_load(tmp_path, monkeypatch):
    import sys

    monkeypatch.setenv("KERAS_ECG_CACHE", str(tmp_path / "cache"))
    model = _jax_like()
    onnx.save(model, tmp_path / "m.onnx")
    original = _session(model)
    sess, note = onnx_lift.faster_session(tmp_path / "m.onnx", _options, original)
    assert sess is not None and note == "1-D convolutions lifted to 2-D"
    other = onnx.ModelProto()
    other.CopyFrom(model)
    other.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.ones((4, 3, 5), np.float32), "w1"))
    monkeypatch.setitem(sys.modules, "onnx", None)  # a cached graph needs no onnx package
    sess, note = onnx_lift.faster_session(tmp_path / "m.onnx", _options, original)
    assert sess is not None and note == "1-D convolutions lifted to 2-D (cached)"
    entry = next((tmp_path / "cache" / "onnx_lift").glob("*.onnx"))
    entry.write_bytes(other.SerializeToString())  # a cache entry that is not this model's lifted graph
    assert onnx_lift.faster_session(tmp_path / "m.onnx", _options, original) == (
        None, "lifted graph disagrees with the original")


def test_shipped_beat_model_runs_lifted_with_its_outputs():
    from keras_ecg.deploy import pretrained, runtime

    clf = runtime.load("pretrained:mitbih_beats", runtime="onnx")
    assert clf.runtime == "onnxruntime" and clf.graph.startswith("1-D convolutions lifted to 2-D")
    path = pretrained.model_path("mitbih_beats").with_name("model.onnx")
    original = ort.InferenceSession(str(path), _options(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(2)
    x, rr = rng.normal(size=(600, 126, 2)).astype(np.float32), rng.normal(size=(600, 8)).astype(np.float32)
    want = original.run(None, {"input": x, "rr": rr})[0]
    np.testing.assert_allclose(clf([x, rr]), want, atol=1e-5)
