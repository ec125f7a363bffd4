"""Exact and near duplicates, union-find groups and the duplicates report."""

import hashlib
import io
import shutil

import numpy as np
import pytest
from PIL import Image

from keras_ecg.data import images
from keras_ecg.data.images import dedup, synthetic_pages

pytestmark = pytest.mark.backend_free


def test_sha256_file(tmp_path):
    p = tmp_path / "a.bin"
    p.write_bytes(b"abc" * 1000)
    assert dedup.sha256_file(p) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_union_find_chains():
    uf = dedup.UnionFind(5)
    uf.union(0, 3)
    uf.union(3, 4)
    assert uf.find(4) == uf.find(0) != uf.find(1)


def _jpeg(a, quality=85):
    b = io.BytesIO()
    Image.fromarray(a).save(b, "JPEG", quality=quality)
    return np.asarray(Image.open(b).convert("RGB"))


def test_page_hash_copies_close_distinct_far():
    a = synthetic_pages.render_page("normal", seed=11)
    b = synthetic_pages.render_page("normal", seed=12)
    h = images.page_hash(a)
    assert h.dtype == np.uint8 and h.size * 8 == np.prod(dedup.HASH_SHAPE)
    assert dedup.hamming(h, images.page_hash(a)) == 0
    rescaled = np.asarray(Image.fromarray(a).resize((886, 629)))
    for copy in (_jpeg(a, 80), rescaled, np.clip(a * 0.9 + 12, 0, 255).astype(np.uint8)):
        assert dedup.hamming(h, images.page_hash(copy)) <= dedup.NEAR_THRESHOLD
    assert dedup.hamming(h, images.page_hash(b)) > dedup.NEAR_THRESHOLD


def test_find_duplicates_merges_exact_and_near():
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 256, (5, 72), dtype=np.uint8)
    hashes[4] = hashes[2]
    hashes[4, 0] ^= 0b111  # 3 bits away from item 2: near
    shas = ["a" * 64, "b" * 64, "c" * 64, "a" * 64, "d" * 64]
    names = ["p0", "p1", "p2", "p3", "p4"]
    groups, report = dedup.find_duplicates(shas, hashes, names, threshold=10)
    assert groups[0] == groups[3] and groups[2] == groups[4]
    assert len(set(groups)) == 3
    assert report["exact"] == [["p0", "p3"]]
    assert [(a, b) for a, b, _ in report["near_pairs"]] == [("p2", "p4")]
    assert report["near_pairs"][0][2] == 3
    text = dedup.format_duplicates(report)
    assert "p0 == p3" in text and "p2 ~ p4" in text
    # exact only
    g2, r2 = dedup.find_duplicates(shas, None, names)
    assert len(set(g2)) == 4 and r2["near_pairs"] == []


def _pages_folder(tmp_path, n=3, size=(800, 568)):
    root = tmp_path / "pages"
    for cls in ("normal", "mi"):
        d = root / cls
        d.mkdir(parents=True)
        for i in range(n):
            page = synthetic_pages.render_page(cls, seed=100 + 10 * len(cls) + i, width=size[0], height=size[1])
            Image.fromarray(page).save(d / f"{cls}_{i}.jpg", quality=90)
    return root


def test_load_folder_groups_copies_and_splits_keep_them_together(tmp_path):
    root = _pages_folder(tmp_path)
    # an exact copy (same bytes), in the same class
    shutil.copy(root / "normal" / "normal_0.jpg", root / "normal" / "normal_copy.jpg")
    # a near copy: re-encoded and rescaled, filed in the other class
    im = Image.open(root / "normal" / "normal_1.jpg")
    im.resize((666, 473)).save(root / "mi" / "mi_near.jpg", quality=80)
    ds = images.load_folder(root, class_map={"normal": "normal", "mi": "mi"}, image_size=32,
                            cache_dir=tmp_path / "cache")
    assert len(ds) == 8
    rep = ds.meta["duplicates"]
    assert rep["exact"] == [["normal/normal_0.jpg", "normal/normal_copy.jpg"]]
    pairs = {frozenset(p[:2]) for p in rep["near_pairs"]}
    assert pairs == {frozenset({"normal/normal_1.jpg", "mi/mi_near.jpg"})}
    assert len(rep["label_conflicts"]) == 1
    assert len(np.unique(ds.groups)) == 6
    report = images.format_report(ds)
    assert "normal_copy.jpg" in report and "mi_near.jpg" in report and "label conflict" in report
    # any split by group keeps copies on one side
    rng = np.random.default_rng(0)
    for _ in range(10):
        uniq = np.unique(ds.groups)
        test_groups = set(rng.choice(uniq, 3, replace=False))
        test = np.array([g in test_groups for g in ds.groups])
        names_by_side = {}
        for side in (True, False):
            names_by_side[side] = set(ds.groups[test == side])
        assert not names_by_side[True] & names_by_side[False]
    # the same through the project's group split
    from keras_ecg.data import splits

    train, test = splits.group_split(ds, test_size=0.3, seed=0)
    assert not set(train.groups) & set(test.groups)


def test_duplicates_off(tmp_path):
    root = _pages_folder(tmp_path, n=2)
    shutil.copy(root / "mi" / "mi_0.jpg", root / "mi" / "mi_copy.jpg")
    ds = images.load_folder(root, image_size=32, duplicates="none", cache_dir=tmp_path / "c")
    assert len(np.unique(ds.groups)) == 4  # content hash still groups byte copies
    assert ds.meta["duplicates"] == {}
    exact = images.load_folder(root, image_size=32, duplicates="exact", cache_dir=tmp_path / "c")
    assert exact.meta["duplicates"]["near_pairs"] == []
    assert len(exact.meta["duplicates"]["exact"]) == 1


def test_real_share_duplicates(ecg_images_dir):
    """The share holds the known exact pair Normal (553) == Normal (554)."""
    ds = images.load_folder(ecg_images_dir, image_size=32)
    rep = ds.meta["duplicates"]
    print(dedup.format_duplicates(rep))
    assert len(rep["exact"]) >= 1
    flat = [n.split("/")[-1] for s in rep["exact"] for n in s]
    if "Normal (554).jpg" in flat:
        assert {"Normal (553).jpg", "Normal (554).jpg"} <= set(flat)
    # every exact set shares one group id, and groups are counted right
    index = {}
    for i, f in enumerate(_names(ds, ecg_images_dir)):
        index[f] = i
    for members in rep["exact"]:
        assert len({ds.groups[index[m]] for m in members}) == 1
    assert len(np.unique(ds.groups)) == rep["n_groups"] <= len(ds) - rep["n_exact_copies"]


def _names(ds, root):
    """Relative file names in load order (class order, natural sort), as load_folder lists them."""
    files, names, *_ = images.list_folder(root)
    return [str(f.relative_to(root)) for c in names for f in files[c]]
