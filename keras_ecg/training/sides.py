"""The sides of a run's data: the validation side carved from the training side, by group, and the
optional mutual-information sample selection (fitted on the training side only)."""

from __future__ import annotations

from keras_ecg.errors import RunError


def carve_validation(train, size, seed, records=None):
    """Validation side by group (record/patient/content hash); random when groups are too few.

    ``records``: the groups (e.g. MIT-BIH records) that make the validation side, when named.
    """
    import numpy as np

    from keras_ecg.data import splits

    if records:
        names = [str(r) for r in records]
        missing = sorted(set(names) - set(np.unique(train.groups).astype(str)))
        if missing:
            raise RunError(f"--val-records: {', '.join(missing)} not on the training side "
                           f"(it holds {', '.join(sorted(np.unique(train.groups).astype(str)))})")
        is_val = np.isin(train.groups.astype(str), names)
        tr, val = train.subset(np.flatnonzero(~is_val)), train.subset(np.flatnonzero(is_val))
        how = f"records {', '.join(names)} of the training side"
    elif len(np.unique(train.groups)) >= 4:
        tr, val = splits.group_split(train, test_size=size, seed=seed)
        how = "group_split"
    else:
        tr, val = splits.intra_patient(train, test_size=size, seed=seed)
        how = "stratified random (too few groups for a group split)"
    tr.meta["validation"] = val.meta["validation"] = how
    tr.meta["split"] = val.meta["split"] = train.meta.get("split")
    return tr, val


def select_mi(data, k, seed):
    """Keep the top-``k`` beat samples by mutual information with the labels (fitted on the training side)."""
    from keras_ecg.data import features

    x_train = data.train.inputs[0]
    flat = x_train.reshape(len(x_train), -1)
    if not 0 < k <= flat.shape[1]:
        raise RunError(f"--mi-top {k}: must lie in 1..{flat.shape[1]} (samples per beat)")
    sel = features.MutualInfoSelector(k=k, seed=seed).fit(flat, data.train.y)
    idx = sel.indices_

    def apply(ds):
        xs = list(ds.inputs)
        xs[0] = xs[0][:, idx, ...]
        ds.x = tuple(xs) if isinstance(ds.x, tuple) else xs[0]
        ds.meta["mi_top"] = int(k)
        return ds

    data.train, data.test = apply(data.train), apply(data.test)
    data.preprocessing = {**data.preprocessing, "mi_top": int(k), "mi_indices": [int(i) for i in idx]}
    return data
