"""Augmentation for scanned pages (NumPy, SciPy and Pillow; runs in the input pipeline)."""

from __future__ import annotations

import numpy as np


def image_augment(rotation=2.0, scale=0.05, brightness=0.1, contrast=0.1, blur=0.5, noise=0.02):
    """Augmentation for scanned pages: ``fn(x_batch, rng) -> x_batch``.

    Each image (the last three axes, so page batches ``(B, H, W, C)`` and
    panel batches ``(B, 13, H, W, 1)`` both work) gets a small rotation
    (degrees, uniform in +-``rotation``) and zoom (+-``scale``) about its centre
    (bilinear, Pillow) with the background value filled in, then brightness and contrast shifts
    (fractions of the data's value range), a Gaussian blur with sigma in
    [0, ``blur``] px and Gaussian noise (std ``noise`` x range). NumPy/SciPy.
    """
    from PIL import Image
    from scipy import ndimage

    def fn(x_batch, rng):
        x = np.asarray(x_batch)
        shape = x.shape
        imgs = x.reshape((-1,) + shape[-3:]).astype(np.float32, copy=True)
        lo, hi = float(imgs.min()), float(imgs.max())
        span = (hi - lo) or 1.0
        for i in range(len(imgs)):
            img = imgs[i]
            h, w = img.shape[:2]
            bg = float(np.median(img))
            if rotation or scale:
                ang = np.deg2rad(rng.uniform(-rotation, rotation))
                z = 1.0 + rng.uniform(-scale, scale)
                c, s = np.cos(ang) / z, np.sin(ang) / z
                # output pixel centre (x, y) -> input (PIL's affine map, about the centre)
                cx, cy = w / 2.0, h / 2.0
                data = (c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy)
                for ch in range(img.shape[-1]):
                    src = Image.fromarray(np.ascontiguousarray(img[..., ch]), mode="F")
                    img[..., ch] = np.asarray(
                        src.transform((w, h), Image.AFFINE, data, resample=Image.BILINEAR, fillcolor=bg)
                    )
            if blur:
                sigma = rng.uniform(0, blur)
                if sigma > 0.05:
                    img[:] = ndimage.gaussian_filter(img, sigma=(sigma, sigma, 0))
            if contrast:
                mean = img.mean()
                img[:] = (img - mean) * (1.0 + rng.uniform(-contrast, contrast)) + mean
            if brightness:
                img += rng.uniform(-brightness, brightness) * span
            if noise:
                img += np.float32(noise * span) * rng.standard_normal(img.shape, dtype=np.float32)
            np.clip(img, lo, hi, out=img)
        return imgs.reshape(shape).astype(x.dtype if x.dtype.kind == "f" else np.float32)

    return fn
