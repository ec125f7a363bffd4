"""ECG page images: reading, layout and panels, preprocessing, duplicates, augmentation.

One concern per module:

- :mod:`.io`: which files are images (:data:`IMAGE_SUFFIXES`, the one list), safe decoding;
- :mod:`.panels`: the page layout (grid, trace rows; ``3x4+1``, ``6x2+1``, ``6x2``) and the 13 lead panels;
- :mod:`.pulses`: the 1 mV calibration pulses (rows and amplitude scale);
- :mod:`.grid`: the paper's scale (grid period in px) and deskewing;
- :mod:`.orientation`: which way up a page is (calibration pulses, traces, header); upside-down pages
  turned, ambiguous ones refused before digitising;
- :mod:`.digitize`: a page -> 12 leads in mV against seconds (:mod:`.digitize_io` writes them,
  :mod:`.digitize_check` scores them against rendered pages);
- :mod:`.measurements`: each digitised lead's median beat measured (Q, R, S, ST, T, QRS, QT), heart rate,
  QTc, axis and the abnormal findings as evidence strings (:mod:`.measure_check`: signals with known values);
- :mod:`.preprocess`: the variants ``page``, ``panels``, ``grid_removed`` and a batch loader;
- :mod:`.dedup`: exact and near duplicates merged into groups;
- :mod:`.folder`: a folder of class folders -> a :class:`~keras_ecg.data.Dataset` (cached);
- :mod:`.augment`: augmentation for scanned pages;
- :mod:`.synthetic_pages`: rendered pages, an embedded dataset for recipes and tests.

The common names are importable from here: ``images.load_folder(...)``,
``images.read_image(...)``. NumPy, SciPy and Pillow only; importing this never
imports keras.
"""

from keras_ecg.data.images import dedup, panels
from keras_ecg.data.images.augment import image_augment
from keras_ecg.data.images.dedup import page_hash
from keras_ecg.data.images.folder import (
    BINARY_CLASSES,
    CACHE_VERSION,
    CLASS_ORDER,
    KHAN_KEYWORDS,
    folder_class,
    format_report,
    list_folder,
    load_folder,
)
from keras_ecg.data.images.io import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_SIZE,
    IMAGE_SUFFIXES,
    ImageError,
    as_page,
    is_image_file,
    read_image,
)
from keras_ecg.data.images.panels import LayoutError
from keras_ecg.data.images.preprocess import PREPROCESS, image_loader, preprocess_image

__all__ = [
    "BINARY_CLASSES",
    "CACHE_VERSION",
    "CLASS_ORDER",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_SIZE",
    "IMAGE_SUFFIXES",
    "ImageError",
    "KHAN_KEYWORDS",
    "LayoutError",
    "PREPROCESS",
    "as_page",
    "dedup",
    "folder_class",
    "format_report",
    "image_augment",
    "image_loader",
    "is_image_file",
    "list_folder",
    "load_folder",
    "page_hash",
    "panels",
    "preprocess_image",
    "read_image",
]
