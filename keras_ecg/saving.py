"""Loading ``.keras`` files safely: safe_mode on, and a one-line reason for every file that is refused.

A ``.keras`` file is a zip archive holding ``config.json`` (the architecture)
and the weights. :func:`load_model` reads the archive and its configuration
before Keras does, and refuses with a :class:`~keras_ecg.errors.DataError`
naming the file:

* a file that is not a complete zip archive (truncated, empty, another format);
* a ``Lambda`` layer (it carries Python code; Keras's ``safe_mode``, always on
  here, would not run it either);
* a layer or object that is neither a Keras one nor registered (the keras_ecg
  layers are; another package's must be imported and registered first).

Keras errors that remain are reported on one line as well.
"""

from __future__ import annotations

import json
import pathlib
import zipfile

from keras_ecg.errors import DataError


class ModelFileError(DataError):
    """A ``.keras`` file that cannot be loaded (one line, naming the file)."""


def _walk(obj):
    if isinstance(obj, dict):
        if "class_name" in obj:
            yield obj
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)


def read_config(path) -> dict:
    """The architecture (``config.json``) of the ``.keras`` file at ``path``; :class:`ModelFileError` if unreadable."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            if bad is not None:
                raise ModelFileError(f"{path}: corrupt .keras file (member {bad} fails its checksum)")
            return json.loads(z.read("config.json"))
    except zipfile.BadZipFile:
        raise ModelFileError(f"{path}: not a complete .keras file ({path.stat().st_size} bytes; truncated, or "
                             "not a zip archive)") from None
    except KeyError:
        raise ModelFileError(f"{path}: not a .keras model file (no config.json inside)") from None
    except (ValueError, UnicodeDecodeError):
        raise ModelFileError(f"{path}: corrupt .keras file (config.json is not valid JSON)") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None


def check_config(config, path) -> None:
    """Refuse Lambda layers and objects that are neither Keras's nor registered."""
    import keras

    from keras_ecg import layers  # noqa: F401  (registers the custom layers)

    for obj in _walk(config):
        cls = obj.get("class_name")
        if cls == "Lambda":
            name = (obj.get("config") or {}).get("name", "?")
            raise ModelFileError(f"{path}: refused: layer {name!r} is a Lambda layer (Python code inside the file); "
                                 "keras_ecg loads models with safe_mode and no Lambda layers")
        reg = obj.get("registered_name")
        module = str(obj.get("module") or "")
        if reg and not module.startswith("keras") and keras.saving.get_registered_object(reg) is None:
            # a registered name ("package>Class") or, for an unregistered class, the bare class name
            name = (obj.get("config") or {}).get("name", "?") if isinstance(obj.get("config"), dict) else "?"
            raise ModelFileError(f"{path}: refused: unknown custom object {reg!r} (class {cls}, layer {name!r}); "
                                 "import and register it (keras.saving.register_keras_serializable) before loading")


def load_model(path, **kwargs):
    """Load a ``.keras`` file saved by keras_ecg on any backend, with ``safe_mode`` (see the module doc)."""
    import keras

    from keras_ecg import layers  # noqa: F401  (registers the custom layers)

    if kwargs.get("safe_mode") is False:
        raise ModelFileError(f"{path}: safe_mode=False is not supported; keras_ecg loads models safely")
    kwargs["safe_mode"] = True
    check_config(read_config(path), path)
    try:
        return keras.saving.load_model(str(path), **kwargs)
    except (ValueError, TypeError, KeyError, OSError) as e:
        text = str(e).strip().splitlines()
        raise ModelFileError(f"{path}: cannot load model ({type(e).__name__}: {text[0] if text else ''})") from None
