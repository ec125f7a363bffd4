"""Issue 26 item 1: one input path per kind of input.

The same record and the same CSV of beats go through predict's, evaluate's, calibrate's,
explain's and annotate's code; every one must hand the model the same arrays (and so get
the same outputs from one model), with the card's per-beat normalisation for a labelled CSV too.
"""

import os
import shutil

import numpy as np
import pytest

import tiny_beat_model
from keras_ecg.data import synthetic_wfdb

BACKEND = os.environ.get("KERAS_BACKEND", "jax")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from keras_ecg import backend as kb

    kb.use(BACKEND)
    from keras_ecg.deploy import runtime

    root = tmp_path_factory.mktemp("paths")
    path = tiny_beat_model.make(root / "model")
    synthetic_wfdb.write_record(root / "a" / "rec", 1.0, 360.0, 4, ["MLII"])  # with reference beats (.atr)
    (root / "b").mkdir()
    for ext in ("hea", "dat"):  # the same record without them: detected R peaks everywhere
        shutil.copy(root / "a" / f"rec.{ext}", root / "b" / f"rec.{ext}")
    return root, path, runtime.load(path, "keras")


class Spy:
    """A classifier (runtime.Classifier's interface) or a model (``predict``) that keeps what it was given."""

    def __init__(self, clf):
        self.clf, self.card, self.path, self.runtime = clf, clf.card, clf.path, clf.runtime
        self.seen, self.outs = [], []

    def _keep(self, x):
        x = [np.asarray(a) for a in (x if isinstance(x, (list, tuple)) else [x])]
        out = np.asarray(self.clf(x), dtype=np.float64)
        self.seen.append(x)
        self.outs.append(out)
        return out

    def __call__(self, x):
        return self._keep(x)

    def predict(self, x, batch_size=None, verbose=0):
        return self._keep(x)

    def first(self):
        return self.seen[0], self.outs[0]


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)


def _predict(clf, inp):
    from keras_ecg.deploy import predict as P

    spy = Spy(clf)
    P.predict_paths(spy, clf.card, [inp])
    return spy.first()


def _labelled(clf, inp, tmp):
    """The inputs and outputs of evaluate's and calibrate's runs on ``inp``."""
    from keras_ecg.deploy.calibrate_model import calibrate
    from keras_ecg.deploy.evaluate_data import evaluate_data

    ev, ca = Spy(clf), Spy(clf)
    evaluate_data(ev, [inp], tmp / "eval", log=lambda *a: None)
    calibrate(ca, [inp], out=tmp / "cal", log=lambda *a: None)
    return ev.first(), ca.first()


def _explain(clf, inp):
    from keras_ecg.deploy.explain_files import _items

    ((_, xs, _, whole),) = _items(clf.card, str(inp), 10**6)
    return [np.asarray(x) for x in (whole[0] if whole is not None else xs)]


def test_a_record_reaches_the_model_the_same_through_every_command(setup, tmp_path):
    from keras_ecg.data.model_inputs import record_inputs
    from keras_ecg.deploy import beat_stream

    root, _, clf = setup
    # reference beats: predict, evaluate, calibrate, explain and the data layer itself
    ref = record_inputs(root / "a" / "rec", clf.card.preprocessing)
    assert len(ref.peaks) > 40 and ref.how == "annotated beats (.atr)"
    x_pred, y_pred = _predict(clf, root / "a" / "rec")
    (x_eval, y_eval), (x_cal, y_cal) = _labelled(clf, str(root / "a" / "rec"), tmp_path)
    for x in (x_pred, x_eval, x_cal, _explain(clf, root / "a" / "rec")):
        _same(ref.inputs, x)
    for y in (y_eval, y_cal):
        np.testing.assert_allclose(y, y_pred, rtol=0, atol=1e-6)
    # detected beats: predict, explain and annotate (chunked and whole), on the record and on a CSV of its samples
    det = record_inputs(root / "b" / "rec", clf.card.preprocessing)
    assert det.how == "detected R peaks"
    x_pred, y_pred = _predict(clf, root / "b" / "rec")
    _same(det.inputs, x_pred)
    _same(det.inputs, _explain(clf, root / "b" / "rec"))
    import wfdb

    csv = tmp_path / "rec.csv"
    np.savetxt(csv, wfdb.rdrecord(str(root / "b" / "rec")).p_signal.astype(np.float32), fmt="%.9g",
               header="MLII", comments="")
    for inp, fs in ((root / "b" / "rec", None), (csv, 360.0)):
        for run in (lambda s: beat_stream.classify_record(s, inp, fs), lambda s: beat_stream.classify_whole(s, inp, fs)):
            spy = Spy(clf)
            b = run(spy)
            assert np.array_equal(b.samples, det.peaks)
            _same(det.inputs, [np.concatenate(p) for p in zip(*spy.seen)])
            np.testing.assert_allclose(b.outputs, y_pred, rtol=0, atol=1e-6)


def test_a_csv_of_beats_reaches_the_model_the_same_and_normalised(setup, tmp_path):
    from keras_ecg.data.model_inputs import csv_inputs

    root, _, clf = setup
    prep = clf.card.preprocessing
    rng = np.random.default_rng(1)
    rows = (3.0 * rng.normal(size=(20, prep.window)) + 5.0).astype(np.float32)  # far from z-scored
    labels = rng.integers(0, 5, size=20)
    labelled = tmp_path / "beats.csv"
    np.savetxt(labelled, np.c_[rows, labels], delimiter=",", fmt="%.9g")
    want = csv_inputs(labelled, prep)  # predict's reader drops the label column
    x = want[0][:, :, 0]
    np.testing.assert_allclose(x.mean(axis=1), 0, atol=1e-4)  # the card's per-beat z-score
    np.testing.assert_allclose(x.std(axis=1), 1, atol=1e-2)
    x_pred, y_pred = _predict(clf, labelled)
    (x_eval, y_eval), (x_cal, y_cal) = _labelled(clf, str(labelled), tmp_path)
    for got in (x_pred, x_eval, x_cal, _explain(clf, labelled)):
        _same(want, got)
    for y in (y_eval, y_cal):
        np.testing.assert_allclose(y, y_pred, rtol=0, atol=1e-6)
