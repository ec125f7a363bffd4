"""Reading image files safely: which files are images, decoding, RGB conversion.

NumPy and Pillow only; importing this never imports keras.
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np

from keras_ecg import errors
from keras_ecg.data.images import panels

# The one list of image file suffixes: folders of pages (``--data``,
# ``load_folder``) and ``keras-ecg predict`` accept the same files.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp")
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MIN_SIZE = 32


class ImageError(errors.DataError):
    """An image file that cannot be used; the message names the file."""


def is_image_file(path) -> bool:
    """True for an existing file whose suffix is in :data:`IMAGE_SUFFIXES` (any case)."""
    p = pathlib.Path(path)
    return p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()


def read_image(path, max_pixels: int = DEFAULT_MAX_PIXELS, min_size: int = DEFAULT_MIN_SIZE):
    """Decode an image file to uint8 ``(H, W, 3)`` RGB, safely.

    The header is read first: an image over ``max_pixels`` (a decompression
    bomb) or with a side under ``min_size`` is refused before decoding. Gray,
    palette, 16-bit and RGBA images (alpha composited on white) become RGB.

    Raises:
        ImageError: naming ``path`` and the problem (not an image, corrupt or
            truncated, too large, too small).
    """
    from PIL import Image

    path = str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: image too large to decode safely ({e})") from None
    except (Image.UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: not a readable image file ({type(e).__name__}: {e})") from None
    with im:
        w, h = im.size
        if w * h > max_pixels:
            raise ImageError(
                f"{path}: {w}x{h} = {w * h / 1e6:.1f} Mpx is over max_pixels="
                f"{max_pixels} (possible decompression bomb); not decoded"
            )
        if min(w, h) < min_size:
            raise ImageError(f"{path}: {w}x{h} is too small (min side {min_size} px)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im.load()
                return _to_rgb(im)
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise ImageError(f"{path}: corrupt or truncated image ({type(e).__name__}: {e})") from None


def _to_rgb(im) -> np.ndarray:
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
        return np.repeat(a.round().astype(np.uint8)[..., None], 3, axis=-1)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def as_page(image) -> np.ndarray:
    """An array image (gray, RGB, RGBA; uint8 or float in [0, 1]) as uint8 RGB."""
    a = np.asarray(image)
    if a.dtype.kind == "f":
        a = np.clip(a * 255.0 if a.max() <= 1.0 else a, 0, 255).round().astype(np.uint8)
    if a.ndim == 3 and a.shape[-1] == 4:  # composite on white
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3] * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
    return panels.as_rgb(a)
