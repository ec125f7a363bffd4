"""The project's exception types.

Every error a user can cause (a bad file, flag, model card or run folder) is a
:class:`KerasECGError`; the CLI and the recipes print it as one line, naming the
file or flag and the problem. The subclasses keep the built-in base they had
before (``ValueError`` for malformed data, ``RuntimeError`` for exports), so
``except ValueError`` written against earlier versions still catches them.
"""

from __future__ import annotations


class KerasECGError(Exception):
    """Base of every error keras_ecg raises on purpose; ``str(e)`` is one line for the user."""


class DataError(KerasECGError, ValueError):
    """Data cannot be found, read or used (a file, a folder, a record, a CSV, an image)."""


class MissingFileError(DataError, FileNotFoundError):
    """A file or folder that should be there is not (also a ``FileNotFoundError``, as before)."""


class CardError(KerasECGError, ValueError):
    """A model card is missing, malformed, from an unknown schema, or disagrees with its model."""


class RunError(KerasECGError):
    """A run cannot start or go on (flags, configuration, run folder)."""


class ExportError(KerasECGError, RuntimeError):
    """An export could not be written or did not verify."""


def one_line(e: BaseException) -> str:
    """The first line of an exception's message (the class name when it has none)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
