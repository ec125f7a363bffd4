"""XML recordings parsed only through defusedxml, and their root element read from a file's first bytes.

:func:`parse` refuses any entity declaration (an entity-expansion bomb, an external entity
``file://``/``http://``) and any external reference, in one line naming the file; a document
type declaration without entities (GE MUSE writes ``<!DOCTYPE RestingECG SYSTEM "restecg.dtd">``)
is allowed and its DTD is never fetched. :func:`root` names the root element and its namespace
from the head of a file without parsing the rest, for the format modules' ``sniff``.
"""

from __future__ import annotations

import pathlib
import re

from keras_ecg.errors import DataError

_DECL = re.compile(rb"\s*(<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^\[>]|\[.*?\])*>)", re.S)
_START = re.compile(r"\s*<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)([^>]*)>?", re.S)
_XMLNS = re.compile(r"""xmlns(?::([\w.-]+))?\s*=\s*["']([^"']*)["']""")


def _defused():
    try:
        import defusedxml
        import defusedxml.ElementTree as det
    except ImportError:
        raise ImportError("Reading XML recordings needs the 'defusedxml' package: pip install keras-ecg[formats]") from None
    return defusedxml, det


def root(head: bytes):
    """``(local name, namespace)`` of the first element in ``head`` (the first bytes of a file), else ``None``."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", errors="ignore").encode("utf-8", errors="ignore")
    else:
        text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    pos = 0
    while True:
        m = _DECL.match(text, pos)
        if not m:
            break
        pos = m.end()
    m = _START.match(text[pos:].decode("latin-1"))
    if not m:
        return None
    prefix = (m.group(1) or "")[:-1] or None
    spaces = {p or None: ns for p, ns in _XMLNS.findall(m.group(3))}
    return m.group(2), spaces.get(prefix, "")


def parse(path):
    """The root :class:`xml.etree.ElementTree.Element` of ``path``, parsed with defusedxml (see the module doc)."""
    p = pathlib.Path(path)
    defusedxml, det = _defused()
    try:
        return det.parse(str(p), forbid_dtd=False, forbid_entities=True, forbid_external=True).getroot()
    except defusedxml.EntitiesForbidden as e:
        raise DataError(f"{p}: refused: the XML declares an entity ({e.name!r}); entities (expansion bombs, "
                        f"external file:// or http:// entities) are never read") from None
    except (defusedxml.ExternalReferenceForbidden, defusedxml.DTDForbidden, defusedxml.NotSupportedError) as e:
        raise DataError(f"{p}: refused: the XML refers to an external resource ({type(e).__name__})") from None
    except det.ParseError as e:
        raise DataError(f"{p}: not well-formed XML ({e})") from None
    except OSError as e:
        raise DataError(f"{p}: cannot read ({e.strerror or type(e).__name__})") from None


def text(el, default: str | None = None) -> str | None:
    """The stripped text of ``el`` (``default`` when ``el`` is missing or empty)."""
    t = None if el is None else (el.text or "").strip()
    return t or default
