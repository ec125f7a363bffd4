"""Exact and near duplicate images, merged into groups.

Exact duplicates share the sha256 of their file bytes. Near duplicates have
perceptual hashes (:func:`phash`, a DCT hash of the page with its grid removed)
within a Hamming distance. :func:`find_duplicates` joins both kinds with a
union-find, so every image and all its copies land in one group and a split by
group never puts copies on two sides. NumPy and SciPy (Pillow for :func:`page_hash`).

A grayscale copy of a colour page has no pink grid, so :func:`page_hash` (cut to
the pink grid, grid removed by colour) sees a different picture. Every page
therefore also gets :func:`gray_hash` (the whole page's luminance, as a grayscale
copy of it looks) and :func:`is_colour` (a pink grid found); a pair where either
page has no pink grid is also compared by its gray hashes (``GRAY_THRESHOLD``).
Two colour pages are compared by :func:`page_hash` only, as before.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy import fft as _fft

from keras_ecg.data.images import panels

HASH_SHAPE = (12, 48)  # low DCT frequencies kept -> 576-bit hash
RESIZE = (64, 256)  # (height, width) the image is reduced to before the DCT
NEAR_THRESHOLD = 72  # Hamming distance (of 576 bits) still called a near duplicate
# Measured on the real share: distinct pages lie at >= 82 from each other;
# re-encoded (JPEG q40), 2/3-rescaled or brightened copies of a real page at <= 66.
# Rendered (synthetic) pages are sharper: their JPEG q60 copies reach ~82, q80 <= 68.
GRAY_THRESHOLD = 44  # gray hashes (576 bits) still called a near duplicate, for a pair with a page without grid
# Measured on 500 pages of the real share: grayscale copies of a page lie at <= 4 from it, JPEG q40 <= 18,
# 1.3x-rescaled <= 30, grayscale + q40 + 2/3-rescaled <= 44; distinct pages at >= 48 (0.1st percentile 86).
# Synthetic pages: grayscale copies 0.8x-rescaled <= 44. Larger rescaling with recompression reaches ~52
# and may be missed: the margin to distinct pages is thin, so only small rescaling is promised.


def sha256_file(path, chunk=1 << 20) -> str:
    """Hex sha256 of the bytes of ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def phash(gray, hash_shape=HASH_SHAPE, size=RESIZE, blur: float = 1.0) -> np.ndarray:
    """Perceptual hash of a 2-D image: packed bits of its low DCT frequencies.

    The image is area-resized to ``size`` (height, width), blurred (sigma
    ``blur`` px), transformed by a 2-D DCT, and the ``hash_shape`` lowest
    frequencies are compared with their median (the DC term is bit 0, always 0).
    Returns ``prod(hash_shape) / 8`` uint8 values.
    """
    from scipy import ndimage

    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2:
        raise ValueError(f"phash needs a 2-D image, got shape {gray.shape}")
    small = _area_resize(gray, int(size[0]), int(size[1]))
    if blur:
        small = ndimage.gaussian_filter(small, blur)
    coeffs = _fft.dctn(small, type=2, norm="ortho")[: hash_shape[0], : hash_shape[1]]
    flat = coeffs.ravel()[1:]  # drop the DC term
    bits = np.concatenate([[0], (flat > np.median(flat)).astype(np.uint8)])
    return np.packbits(bits)


def _area_resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Mean over (nearly) equal blocks: an anti-aliased resize of a 2-D array."""
    ys = np.linspace(0, a.shape[0], h + 1).astype(int)
    xs = np.linspace(0, a.shape[1], w + 1).astype(int)
    if a.shape[0] < h or a.shape[1] < w:
        yi = np.minimum((np.arange(h) + 0.5) * a.shape[0] / h, a.shape[0] - 1).astype(int)
        xi = np.minimum((np.arange(w) + 0.5) * a.shape[1] / w, a.shape[1] - 1).astype(int)
        return a[yi][:, xi]
    rows = np.add.reduceat(a, ys[:-1], axis=0) / np.diff(ys)[:, None]
    return np.add.reduceat(rows, xs[:-1], axis=1) / np.diff(xs)[None, :]


def page_hash(page: np.ndarray) -> np.ndarray:
    """Perceptual hash of a page's traces (for near duplicates).

    The page is cut to its grid (or to its ink, if it has no grid), so copies
    that were rescaled, shifted or cropped at the margins still match; the
    grid is removed and the rest hashed with :func:`phash`.
    """
    from PIL import Image

    try:
        y0, y1, x0, x1 = panels.find_grid(page)
    except panels.LayoutError:
        ink = panels.darkness(page) > 0.5
        ys, xs = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
        if len(ys) < 2 or len(xs) < 2:
            y0, y1, x0, x1 = 0, page.shape[0], 0, page.shape[1]
        else:
            y0, y1, x0, x1 = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
    crop = np.ascontiguousarray(page[y0:y1, x0:x1])
    small = np.asarray(Image.fromarray(crop).resize((256, 64), Image.BOX))
    return phash(panels.darkness(small, lo=60, hi=235))


def is_colour(page) -> bool:
    """Whether the page has a pink grid (1% of its pixels); a grayscale page has none."""
    a = np.asarray(page)
    return a.ndim == 3 and a.shape[-1] >= 3 and float(panels.grid_mask(a).mean()) > 0.01


def gray_hash(page, lo: int = 60, hi: int = 235) -> np.ndarray:
    """Perceptual hash of the whole page's luminance, the same for a colour page and its grayscale copy.

    Luminance (ITU-R 601, what a grayscale conversion keeps) area-resized to :data:`RESIZE`, ink
    darkness ``(hi - L) / (hi - lo)`` clipped to [0, 1], then :func:`phash`. Not cut to the grid (a
    grayscale page has no pink to find it by), so rescaled copies match but cropped ones may not.
    """
    a = panels.as_rgb(page).astype(np.float32)
    lum = 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]
    small = _area_resize(lum, *RESIZE)
    return phash(np.clip((hi - small) / np.float32(hi - lo), 0.0, 1.0))


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)


def hamming(a, b) -> int:
    """Hamming distance between two packed hashes."""
    return int(_POPCOUNT[np.bitwise_xor(np.asarray(a, np.uint8), np.asarray(b, np.uint8))].sum())


def hamming_matrix(hashes, chunk: int = 256) -> np.ndarray:
    """Pairwise Hamming distances of packed hashes ``(n, nbytes)`` -> ``(n, n)``."""
    hashes = np.asarray(hashes, np.uint8)
    n = len(hashes)
    out = np.zeros((n, n), np.uint16)
    for i in range(0, n, chunk):
        x = np.bitwise_xor(hashes[i : i + chunk, None, :], hashes[None, :, :])
        out[i : i + chunk] = _POPCOUNT[x].sum(-1)
    return out


class UnionFind:
    """Disjoint sets over ``0..n-1`` with path halving."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        p = self.parent
        while p[i] != i:
            p[i] = p[p[i]]
            i = p[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def find_duplicates(shas, hashes=None, names=None, threshold: int = NEAR_THRESHOLD, gray_hashes=None,
                    colour=None, gray_threshold: int = GRAY_THRESHOLD):
    """Group exact (same sha256) and near (phash within ``threshold``) duplicates.

    Args:
        shas: hex sha256 per item.
        hashes: packed perceptual hashes ``(n, nbytes)`` or None (exact only).
        names: a display name per item (defaults to the index).
        threshold: largest Hamming distance still called a near duplicate;
            a negative value turns near-duplicate search off.
        gray_hashes, colour: :func:`gray_hash` and :func:`is_colour` per item, or None: a pair where
            either item is not colour is also near when its gray hashes lie within ``gray_threshold``
            (a grayscale copy of a colour page).

    Returns:
        ``(groups, report)``: ``groups`` a string id per item (the first 16 hex
        digits of the sha256 of the group's first item), equal for all copies;
        ``report`` a dict with ``exact`` and ``near`` lists of duplicate sets
        (lists of names), ``near_pairs`` (name, name, distance), ``threshold``
        and counts.
    """
    shas = [str(s) for s in shas]
    n = len(shas)
    names = [str(i) for i in range(n)] if names is None else [str(s) for s in names]
    uf = UnionFind(n)
    first = {}
    exact_sets = {}
    for i, s in enumerate(shas):
        if s in first:
            uf.union(first[s], i)
            exact_sets.setdefault(first[s], [first[s]]).append(i)
        else:
            first[s] = i
    near_pairs = []
    near_items = set()
    if hashes is not None and n > 1 and threshold >= 0:
        hashes = np.asarray(hashes, np.uint8)
        reps = sorted(first.values())  # one item per distinct file
        d = hamming_matrix(hashes[reps])
        near = d <= threshold
        if gray_hashes is not None and colour is not None:
            dg = hamming_matrix(np.asarray(gray_hashes, np.uint8)[reps])
            plain = ~np.asarray(colour, bool)[reps]
            gray_pair = (plain[:, None] | plain[None, :]) & (dg <= gray_threshold)
            d = np.where(gray_pair & ~near, dg, d)
            near |= gray_pair
        ii, jj = np.nonzero(np.triu(near, k=1))
        for a, b in zip(ii, jj):
            i, j = reps[a], reps[b]
            uf.union(i, j)
            near_items.update((i, j))
            near_pairs.append((names[i], names[j], int(d[a, b])))
    roots = [uf.find(i) for i in range(n)]
    groups = np.array([shas[r][:16] for r in roots], dtype=object)
    members = {}
    for i, r in enumerate(roots):
        members.setdefault(r, []).append(i)
    near_sets = []
    for r, idx in members.items():
        if len(idx) > 1 and any(i in near_items for i in idx):
            near_sets.append([names[i] for i in idx])
    report = {
        "exact": [[names[i] for i in idx] for idx in exact_sets.values()],
        "near": near_sets,
        "near_pairs": near_pairs,
        "threshold": int(threshold),
        "n_items": n,
        "n_groups": len(members),
        "n_exact_copies": sum(len(v) - 1 for v in exact_sets.values()),
    }
    return groups, report


def format_duplicates(report: dict) -> str:
    """A readable summary of a :func:`find_duplicates` report."""
    if not report:
        return "duplicates: not checked"
    lines = [
        f"duplicates: {report['n_items']} items in {report['n_groups']} groups; "
        f"{len(report['exact'])} exact duplicate sets ({report['n_exact_copies']} extra copies), "
        f"{len(report['near_pairs'])} near-duplicate pairs (Hamming <= {report['threshold']})"
    ]
    for s in report["exact"]:
        lines.append("  exact: " + " == ".join(s))
    for a, b, d in report["near_pairs"]:
        lines.append(f"  near:  {a} ~ {b} (distance {d})")
    return "\n".join(lines)
