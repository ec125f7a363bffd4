"""Mutual-information selection keeps the informative samples, fitted on train only."""

import numpy as np
import pytest

from keras_ecg.data import splits, synthetic
from keras_ecg.data.features import MutualInfoSelector

pytestmark = pytest.mark.backend_free


pytest.importorskip("sklearn")


def test_selects_the_informative_columns(rng):
    n = 600
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 40)).astype(np.float32)
    informative = [5, 17, 30]
    for c in informative:
        x[:, c] += 2.0 * y
    sel = MutualInfoSelector(k=3, seed=0).fit(x, y)
    assert sel.indices_.tolist() == informative
    assert sel.transform(x).shape == (n, 3)
    np.testing.assert_array_equal(sel.transform(x), x[:, informative])


def test_fit_on_train_then_transform_test():
    ds = synthetic.beats(30, rr_features=True)
    train, test = splits.group_split(ds, 0.3, seed=0)
    sel = MutualInfoSelector(k=60, max_samples=100).fit(train.x[0], train.y)
    assert len(sel.indices_) == 60 and np.all(np.diff(sel.indices_) > 0)
    out = sel.transform_dataset(test)
    assert out.x[0].shape == (len(test), 60) and out.x[1].shape == (len(test), 3)
    assert out.meta["selected_samples"] == sel.indices_.tolist()
    # fitted on train only: refitting on test can choose other samples, transform does not refit
    np.testing.assert_array_equal(out.x[0], test.x[0][:, sel.indices_])


def test_errors():
    with pytest.raises(RuntimeError, match="fit"):
        MutualInfoSelector(5).transform(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="k=20"):
        MutualInfoSelector(20).fit(np.zeros((4, 10)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="k must"):
        MutualInfoSelector(0)
