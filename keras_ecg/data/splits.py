"""Train/test splits of a :class:`~keras_ecg.data.Dataset`.

Every split returns ``(train, test)`` Datasets whose ``meta["split"]`` names the
protocol. All splits except :func:`intra_patient` keep each group (record or
patient) on one side only; :func:`disjoint` checks it.
"""

from __future__ import annotations

import numpy as np

from keras_ecg.data.dataset import Dataset
from keras_ecg.errors import DataError

# de Chazal, O'Dwyer, Reilly (2004); the paced records 102, 104, 107, 217 are excluded.
DS1 = ["101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122",
       "124", "201", "203", "205", "207", "208", "209", "215", "220", "223", "230"]
DS2 = ["100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210",
       "212", "213", "214", "219", "221", "222", "228", "231", "232", "233", "234"]
PACED = ["102", "104", "107", "217"]

# A development split inside DS1 (DS2 unused): two folds of records, each with about half of DS1's S and V
# beats; a fold is held out, the other trains, with its own validation records (S-, V-rich).
DS1_FOLDS = (["101", "106", "108", "112", "115", "118", "201", "205", "208", "215", "220"],
             ["109", "114", "116", "119", "122", "124", "203", "207", "209", "223", "230"])
DS1_FOLD_VAL = (["223", "207"], ["205", "220"])  # validation records of the side that trains when fold k is out

INTER_PATIENT = "inter_patient DS1/DS2 (de Chazal 2004)"
INTRA_PATIENT = "intra_patient (random beat-level, records on both sides)"


def shared_groups(a: Dataset, b: Dataset) -> set:
    """Groups present in both datasets."""
    return set(np.unique(a.groups).tolist()) & set(np.unique(b.groups).tolist())


def disjoint(a: Dataset, b: Dataset) -> bool:
    """True if no group (record/patient) appears in both datasets."""
    return not shared_groups(a, b)


def _pair(ds, train_idx, test_idx, name, **extra):
    meta = {"split": name, **extra}
    train = ds.subset(np.sort(train_idx), split_side="train", **meta)
    test = ds.subset(np.sort(test_idx), split_side="test", **meta)
    train.meta["groups_disjoint"] = test.meta["groups_disjoint"] = disjoint(train, test)
    return train, test


def inter_patient(ds: Dataset, train_records=DS1, test_records=DS2):
    """de Chazal's inter-patient split of MIT-BIH: DS1 to train, DS2 to test.

    ``ds.groups`` must hold record names ("101", ...). Paced records are in
    neither list and so dropped. When records of DS1 or DS2 are missing, the
    split does not carry the protocol's name: it is named ``inter_patient
    subset ...`` with the counts, and ``meta["missing_records"]`` lists them.
    """
    g = ds.groups.astype(str)
    have = set(np.unique(g))
    train = np.flatnonzero(np.isin(g, list(train_records)))
    test = np.flatnonzero(np.isin(g, list(test_records)))
    if len(train) == 0 or len(test) == 0:
        raise DataError(
            "inter_patient needs MIT-BIH record names as groups (e.g. '101'); found "
            f"{len(train)} DS1 and {len(test)} DS2 items among groups {sorted(set(g))[:5]}..."
        )
    missing = [r for r in [*train_records, *test_records] if r not in have]
    name = INTER_PATIENT
    if missing:
        n1 = sum(r in have for r in train_records)
        n2 = sum(r in have for r in test_records)
        name = (f"inter_patient subset: {n1}/{len(train_records)} DS1 and {n2}/{len(test_records)} DS2 records "
                f"(not the full de Chazal 2004 protocol; {len(missing)} records missing)")
    return _pair(ds, train, test, name, excluded_records=list(PACED), missing_records=missing)


def ds1_fold(ds: Dataset, fold: int):
    """Fold ``fold`` (0 or 1) of :data:`DS1_FOLDS` held out, the other fold trains: a record-wise
    development split inside DS1 for choosing a configuration without DS2."""
    if fold not in (0, 1):
        raise DataError(f"ds1cv: fold must be 0 or 1; got {fold}.")
    train_records, test_records = DS1_FOLDS[1 - fold], DS1_FOLDS[fold]
    train, test = inter_patient(ds, train_records, test_records)
    name = f"ds1cv fold {fold} held out ({len(test_records)} DS1 records; development split, DS2 unused)"
    if train.meta.get("missing_records"):
        name += f"; {len(train.meta['missing_records'])} records missing"
    for side in (train, test):
        side.meta["split"] = name
    return train, test


def intra_patient(ds: Dataset, test_size: float = 0.2, seed: int = 0):
    """Random beat-level split, stratified by class (the Kaggle set's protocol).

    Beats of one record land on both sides, so scores are optimistic: this is
    not a measure of generalisation to new patients.
    """
    _check_size(test_size)
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(ds.y):
        idx = rng.permutation(np.flatnonzero(ds.y == c))
        k = int(round(len(idx) * test_size))
        if len(idx) > 1:
            k = min(max(k, 1), len(idx) - 1)
        test.append(idx[:k])
    test = np.concatenate(test) if test else np.array([], dtype=np.int64)
    train = np.setdiff1d(np.arange(len(ds)), test)
    return _pair(ds, train, test, INTRA_PATIENT, seed=seed)


def _check_size(test_size):
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must lie in (0, 1); got {test_size}.")


def _group_table(ds):
    names, inv = np.unique(ds.groups, return_inverse=True)
    counts = np.zeros((len(names), ds.num_classes), dtype=np.int64)
    np.add.at(counts, (inv, ds.y), 1)
    return names, inv, counts


def group_split(ds: Dataset, test_size: float = 0.2, seed: int = 0, tries: int = 256):
    """Group-aware holdout: whole groups go to test until ``test_size`` of items.

    Among ``tries`` seeded shuffles of the groups it keeps the one that leaves
    the fewest classes missing from either side, then the closest test fraction.
    Used to carve a validation set from a training set by patient/record.
    """
    _check_size(test_size)
    names, inv, counts = _group_table(ds)
    if len(names) < 2:
        raise ValueError(f"group_split needs at least 2 groups; the dataset has {len(names)}.")
    rng = np.random.default_rng(seed)
    sizes = counts.sum(1)
    present = counts.sum(0) > 0
    target = test_size * len(ds)
    best, best_score = None, None
    for _ in range(tries):
        perm = rng.permutation(len(names))
        cum = np.cumsum(sizes[perm])
        cut = int(np.clip(np.searchsorted(cum, target) + 1, 1, len(names) - 1))
        if cut > 1 and abs(cum[cut - 2] - target) < abs(cum[cut - 1] - target):
            cut -= 1
        test_counts = counts[perm[:cut]].sum(0)
        train_counts = counts[perm[cut:]].sum(0)
        missing = int(np.sum(present & ((test_counts == 0) | (train_counts == 0))))
        score = (missing, abs(cum[cut - 1] - target))
        if best_score is None or score < best_score:
            best, best_score = perm[:cut], score
    is_test = np.isin(inv, best)
    return _pair(ds, np.flatnonzero(~is_test), np.flatnonzero(is_test),
                 f"group_split (group-aware holdout, test_size={test_size})", seed=seed)


def grouped_kfold(ds: Dataset, k: int = 5, seed: int = 0):
    """``k`` (train, test) folds; each group is in exactly one test fold.

    Groups are shuffled with ``seed`` then dealt, largest first, to the fold
    with the fewest items so far, so folds have similar sizes.
    """
    names, inv, counts = _group_table(ds)
    if not 2 <= k <= len(names):
        raise ValueError(f"grouped_kfold needs 2 <= k <= number of groups ({len(names)}); got k={k}.")
    rng = np.random.default_rng(seed)
    sizes = counts.sum(1)
    order = rng.permutation(len(names))
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of = np.empty(len(names), dtype=np.int64)
    load = np.zeros(k, dtype=np.int64)
    for g in order:
        f = int(np.argmin(load))
        fold_of[g] = f
        load[f] += sizes[g]
    folds = []
    for f in range(k):
        is_test = fold_of[inv] == f
        folds.append(_pair(ds, np.flatnonzero(~is_test), np.flatnonzero(is_test),
                           f"grouped_kfold (k={k}, fold {f})", fold=f, seed=seed))
    return folds
