"""Pipelines: tf.data and PyDataset give the same batches, seeded shuffling,
oversampling, loaders with memoisation, augmentation, and model.fit on the
current KERAS_BACKEND."""

import numpy as np
import pytest

from keras_ecg.data import Dataset, pipeline, synthetic


@pytest.fixture(scope="module")
def small():
    return synthetic.beats(n_per_class=12, seed=0, rr_features=True)


def single(ds):
    return Dataset(ds.inputs[0], ds.y, ds.groups, ds.class_names, dict(ds.meta))


def test_class_weights():
    w = pipeline.class_weights([0, 0, 0, 1], 3)
    assert w == {0: 4 / 9, 1: 4 / 3, 2: 1.0}


def test_plan_order_seeded_and_per_epoch(small):
    plain = pipeline.BatchPlan(small, 16)
    np.testing.assert_array_equal(plain.order(0), np.arange(len(small)))
    a = pipeline.BatchPlan(small, 16, shuffle=True, seed=5)
    b = pipeline.BatchPlan(small, 16, shuffle=True, seed=5)
    np.testing.assert_array_equal(a.order(0), b.order(0))
    np.testing.assert_array_equal(a.order(3), b.order(3))
    assert not np.array_equal(a.order(0), a.order(1))
    assert not np.array_equal(a.order(0), pipeline.BatchPlan(small, 16, shuffle=True, seed=6).order(0))
    assert sorted(a.order(1)) == list(range(len(small)))


def test_batches_and_drop_remainder(small):
    plan = pipeline.BatchPlan(small, 16)
    assert len(plan) == 4  # 60 items
    (beats, rr), y = plan.batch(3)
    assert beats.shape == (12, 187) and rr.shape == (12, 3) and y.dtype == np.int32
    assert len(pipeline.BatchPlan(small, 16, drop_remainder=True)) == 3
    with pytest.raises(IndexError):
        plan.batch(4)
    with pytest.raises(ValueError, match="balance"):
        pipeline.BatchPlan(small, 16, balance="undersample")


def test_oversample_balances_each_epoch(rng):
    y = np.array([0] * 50 + [1] * 5 + [2] * 10)
    ds = Dataset(np.arange(65, dtype=np.float32)[:, None], y, np.arange(65), list("abc"))
    plan = pipeline.BatchPlan(ds, 10, balance="oversample", seed=1)
    order = plan.order(0)
    assert np.bincount(y[order]).tolist() == [50, 50, 50]
    assert set(order) == set(range(65))  # every item at least once
    assert len(plan) == 15
    assert not np.array_equal(order, plan.order(1))
    ys = np.concatenate([plan.batch(i, 0)[1] for i in range(len(plan))])
    assert np.bincount(ys).tolist() == [50, 50, 50]


def test_loader_is_memoised(rng):
    calls = []

    def loader(items):
        calls.append(len(items))
        return np.stack([np.full(4, float(i), np.float32) for i in items])

    items = np.array([f"{i}" for i in range(10)], dtype=object)
    ds = Dataset(items, np.arange(10) % 2, np.arange(10), ["a", "b"])
    plan = pipeline.BatchPlan(ds, 4, shuffle=True, loader=loader)
    first = [plan.batch(i, 0) for i in range(len(plan))]
    assert sum(calls) == 10
    for x, y in first:
        np.testing.assert_array_equal(x[:, 0] % 2, y)
    [plan.batch(i, 1) for i in range(len(plan))]
    assert sum(calls) == 10  # second epoch never decodes again
    nocache = pipeline.BatchPlan(ds, 4, loader=loader, cache=False)
    [nocache.batch(i, e) for e in range(2) for i in range(len(nocache))]
    assert sum(calls) == 30


def test_waveform_augment(rng):
    x = np.tile(np.sin(np.linspace(0, 6, 100, dtype=np.float32)), (8, 1))
    aug = pipeline.waveform_augment()
    out = aug(x, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == np.float32
    assert not np.allclose(out, x) and np.abs(out - x).max() < 0.6
    np.testing.assert_array_equal(out, aug(x, np.random.default_rng(1)))
    shift_only = pipeline.waveform_augment(noise=0, wander=0, scale=0, shift=3)(x, np.random.default_rng(2))
    # a pure time shift: every row equals the input moved by at most 3 samples
    for row in shift_only:
        assert any(np.allclose(row[5:-5], np.roll(x[0], s)[5:-5]) for s in range(-3, 4))
    leads = aug(np.stack([x, x], axis=-1), rng)
    assert leads.shape == (8, 100, 2)


def test_augment_only_first_input_and_seeded(small):
    plan = pipeline.BatchPlan(small, 16, augment=pipeline.waveform_augment(), seed=3)
    (b1, rr1), _ = plan.batch(0, 0)
    (b2, rr2), _ = plan.batch(0, 0)
    np.testing.assert_array_equal(b1, b2)
    np.testing.assert_array_equal(rr1, small.x[1][:16])
    assert not np.allclose(b1, small.x[0][:16])
    (b3, _), _ = plan.batch(0, 1)
    assert not np.allclose(b1, b3)


def _tf_batches(tfd):
    return [(tuple(np.asarray(a) for a in x) if isinstance(x, tuple) else np.asarray(x), np.asarray(y))
            for x, y in tfd.as_numpy_iterator()]


def test_tf_and_pydataset_give_the_same_batches(small):
    pytest.importorskip("tensorflow")
    for ds in (small, single(small)):
        tfd = pipeline.to_tf_dataset(ds, batch_size=16)
        pyd = pipeline.to_pydataset(ds, batch_size=16)
        got = _tf_batches(tfd)
        assert len(got) == len(pyd) == 4
        for i, (x, y) in enumerate(got):
            px, py = pyd[i]
            np.testing.assert_array_equal(y, py)
            for a, b in zip(x if isinstance(x, tuple) else (x,), px if isinstance(px, tuple) else (px,)):
                np.testing.assert_array_equal(a, b)


def test_tf_dataset_reshuffles_each_iteration(small):
    pytest.importorskip("tensorflow")
    tfd = pipeline.to_tf_dataset(single(small), batch_size=60, shuffle=True, seed=1)
    first = _tf_batches(tfd)[0][1]
    second = _tf_batches(tfd)[0][1]
    assert sorted(first) == sorted(second) and not np.array_equal(first, second)
    again = _tf_batches(pipeline.to_tf_dataset(single(small), batch_size=60, shuffle=True, seed=1))[0][1]
    np.testing.assert_array_equal(first, again)


def _model(multi):
    import keras

    beats = keras.Input((187,))
    h = keras.layers.Flatten()(beats)
    if multi:
        rr = keras.Input((3,))
        h = keras.layers.Concatenate()([h, rr])
        inputs = [beats, rr]
    else:
        inputs = beats
    model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(h))
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("multi", [False, True])
def test_fit_with_pydataset(small, multi, backend_name):
    ds = small if multi else single(small)
    pyd = pipeline.to_pydataset(ds, batch_size=16, shuffle=True, balance="oversample",
                                augment=pipeline.waveform_augment())
    hist = _model(multi).fit(pyd, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2 and np.all(np.isfinite(hist.history["loss"]))


@pytest.mark.parametrize("multi", [False, True])
def test_fit_with_tf_dataset(small, multi, backend_name):
    pytest.importorskip("tensorflow")
    ds = small if multi else single(small)
    tfd = pipeline.to_tf_dataset(ds, batch_size=16, shuffle=True, augment=pipeline.waveform_augment())
    hist = _model(multi).fit(tfd, epochs=2, verbose=0, shuffle=False)
    assert len(hist.history["loss"]) == 2 and np.all(np.isfinite(hist.history["loss"]))


def test_pydataset_epochs_reshuffle(small):
    pyd = pipeline.to_pydataset(single(small), batch_size=60, shuffle=True, seed=2)
    first = pyd[0][1]
    np.testing.assert_array_equal(first, pyd[0][1])
    pyd.on_epoch_end()
    second = pyd[0][1]
    assert sorted(first) == sorted(second) and not np.array_equal(first, second)
    np.testing.assert_array_equal(first, pipeline.to_pydataset(single(small), 60, shuffle=True, seed=2)[0][1])


def test_data_modules_import_no_framework():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import keras_ecg.data, keras_ecg.data.mitbih, keras_ecg.data.splits, keras_ecg.data.pipeline\n"
        "import keras_ecg.data.synthetic, keras_ecg.data.signal, keras_ecg.data.features, keras_ecg.data.cache\n"
        "keras_ecg.data.synthetic.beats(2)\n"
        "bad = [m for m in ('keras', 'tensorflow', 'jax', 'torch', 'wfdb', 'sklearn') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_tensorflow_names_the_extra(small, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(ImportError, match=r"keras-ecg\[tensorflow\]"):
        pipeline.to_tf_dataset(small)
