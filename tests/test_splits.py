"""Splits: protocol names, group disjointness, class coverage, determinism."""

import numpy as np
import pytest

from keras_ecg.data import Dataset, splits, synthetic

pytestmark = pytest.mark.backend_free


def fake_mitbih(rng, per_record=30):
    """Items grouped by MIT-BIH record names, with every class in several records."""
    names = splits.DS1 + splits.DS2 + splits.PACED
    groups = np.repeat(names, per_record)
    y = rng.integers(0, 5, len(groups))
    x = rng.normal(size=(len(groups), 8)).astype(np.float32)
    return Dataset(x, y, groups, ["N", "S", "V", "F", "Q"])


def test_inter_patient_uses_ds1_ds2_and_drops_paced(rng):
    ds = fake_mitbih(rng)
    train, test = splits.inter_patient(ds)
    assert set(train.groups) == set(splits.DS1) and set(test.groups) == set(splits.DS2)
    assert not set(splits.PACED) & (set(train.groups) | set(test.groups))
    assert len(train) + len(test) == len(ds) - 4 * 30
    assert train.meta["split"] == test.meta["split"] == "inter_patient DS1/DS2 (de Chazal 2004)"
    assert splits.disjoint(train, test) and train.meta["groups_disjoint"]
    assert (train.meta["split_side"], test.meta["split_side"]) == ("train", "test")


def test_inter_patient_needs_record_names():
    ds = synthetic.beats(5)
    with pytest.raises(ValueError, match="record names"):
        splits.inter_patient(ds)


def test_intra_patient_is_random_beat_level_and_stratified():
    ds = synthetic.beats(50, n_patients=4)
    train, test = splits.intra_patient(ds, test_size=0.2, seed=1)
    assert train.meta["split"] == "intra_patient (random beat-level, records on both sides)"
    assert len(train) + len(test) == len(ds)
    assert test.class_counts() == {c: 10 for c in ds.class_names}
    assert not splits.disjoint(train, test)  # records on both sides, as named
    assert splits.shared_groups(train, test) and not test.meta["groups_disjoint"]
    again, _ = splits.intra_patient(ds, test_size=0.2, seed=1)
    np.testing.assert_array_equal(train.x, again.x)
    other, _ = splits.intra_patient(ds, test_size=0.2, seed=2)
    assert not np.array_equal(train.x, other.x)


def test_group_split_disjoint_keeps_classes_and_size():
    ds = synthetic.beats(40, n_patients=20)
    for seed in range(3):
        train, test = splits.group_split(ds, test_size=0.25, seed=seed)
        assert splits.disjoint(train, test)
        assert len(train) + len(test) == len(ds)
        assert 0.15 < len(test) / len(ds) < 0.35
        assert all(v > 0 for v in train.class_counts().values())
        assert all(v > 0 for v in test.class_counts().values())
        assert train.meta["split"].startswith("group_split")


def test_group_split_finds_the_rare_class(rng):
    # class 4 lives in only two groups: both sides must still get one
    groups = np.repeat(np.arange(10), 20)
    y = rng.integers(0, 4, 200)
    y[groups == 3] = 4
    y[groups == 7] = 4
    ds = Dataset(np.zeros((200, 2), np.float32), y, groups, list("abcde"))
    train, test = splits.group_split(ds, test_size=0.2, seed=0)
    assert train.class_counts()["e"] > 0 and test.class_counts()["e"] > 0
    assert splits.disjoint(train, test)


def test_grouped_kfold_covers_every_group_once(rng):
    ds = fake_mitbih(rng, per_record=rng.integers(5, 40))
    folds = splits.grouped_kfold(ds, k=4, seed=0)
    assert len(folds) == 4
    seen = []
    for f, (train, test) in enumerate(folds):
        assert splits.disjoint(train, test)
        assert len(train) + len(test) == len(ds)
        assert test.meta["split"] == f"grouped_kfold (k=4, fold {f})"
        seen += list(np.unique(test.groups))
    assert sorted(seen) == sorted(np.unique(ds.groups))
    sizes = [len(t) for _, t in folds]
    assert max(sizes) - min(sizes) <= 40
    with pytest.raises(ValueError, match="k"):
        splits.grouped_kfold(ds, k=1)


def test_bad_test_size():
    with pytest.raises(ValueError, match="test_size"):
        splits.group_split(synthetic.beats(5), test_size=1.5)


def test_splits_on_mitdb(mitdb_dir):
    from keras_ecg.data import mitbih

    ds = mitbih.load_beats(mitdb_dir)
    train, test = splits.inter_patient(ds)
    assert splits.disjoint(train, test)
    ds1 = train
    fit, val = splits.group_split(ds1, test_size=0.2, seed=0)
    assert splits.disjoint(fit, val) and not set(val.groups) - set(splits.DS1)
    # every class of DS1 present on both sides of the validation carve-out
    assert all(v > 0 for v in val.class_counts().values())
    assert all(v > 0 for v in fit.class_counts().values())
    for tr, te in splits.grouped_kfold(ds, k=4):
        assert splits.disjoint(tr, te)
    a, b = splits.intra_patient(ds, test_size=0.2, seed=0)
    assert len(splits.shared_groups(a, b)) == 48


@pytest.mark.parametrize("fold", [0, 1])
def test_ds1_folds_hold_out_half_of_ds1_and_never_touch_ds2(rng, fold):
    ds = fake_mitbih(rng)
    train, test = splits.ds1_fold(ds, fold)
    a, b = (set(f) for f in splits.DS1_FOLDS)
    assert a | b == set(splits.DS1) and not a & b
    assert set(test.groups) == set(splits.DS1_FOLDS[fold]) and set(train.groups) == set(splits.DS1_FOLDS[1 - fold])
    assert not (set(train.groups) | set(test.groups)) & set(splits.DS2) and splits.disjoint(train, test)
    assert set(splits.DS1_FOLD_VAL[fold]) <= set(train.groups)  # validation comes from the side that trains
    assert f"fold {fold} held out" in train.meta["split"] and "DS2 unused" in test.meta["split"]
    with pytest.raises(ValueError, match="fold must be 0 or 1"):
        splits.ds1_fold(ds, 2)
