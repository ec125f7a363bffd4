"""The examples of the README and the docs: every fenced ``python`` or shell block, with its marker.

A block runs as written unless the line before its fence is a marker comment:

- ``<!-- example: needs-data -->``: it reads the real data (``$KERAS_ECG_DATA``), runs only when that is set,
  and stands alone (it uses no file an earlier block wrote);
- ``<!-- example: server -->``: its first line starts a server in the background (``... --port N &``); the
  other lines run once the server answers ``/healthz``, then the server is stopped;
- ``<!-- example: not-run (REASON) -->``: it is not run, for the reason given (set-up commands such as
  ``make test``, which is this suite, or installs from the network).

The blocks of one page run in order in one fresh folder, so a later block may use what an earlier one
wrote (``tests/test_docs_examples.py``).
"""

from __future__ import annotations

import dataclasses
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHELL = ("bash", "sh", "shell", "console")
LANGS = ("python", *SHELL)
MARKERS = ("needs-data", "server", "not-run")
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
_MARKER = re.compile(r"^<!-- example: ([\w-]+)(?: \((.+)\))? -->$")


@dataclasses.dataclass(frozen=True)
class Example:
    path: str  # relative to the repository root
    line: int  # of the opening fence
    lang: str
    code: str
    marker: str | None = None
    reason: str = ""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


class ExampleError(ValueError):
    """A marker that is unknown, misplaced, or not-run without a reason."""


def pages() -> list[pathlib.Path]:
    """README.md and every Markdown source page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def extract(path) -> list[Example]:
    path = pathlib.Path(path)
    text = path.read_text()
    rel = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    out = []
    for m in _FENCE.finditer(text):
        lang = m.group(1).lower()
        line = text.count("\n", 0, m.start()) + 1
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        mk = _MARKER.match(before)
        marker, reason = (mk.group(1), mk.group(2) or "") if mk else (None, "")
        if marker is not None and marker not in MARKERS:
            raise ExampleError(f"{rel}:{line}: unknown example marker {marker!r}; one of {', '.join(MARKERS)}")
        if marker == "not-run" and not reason.strip():
            raise ExampleError(f"{rel}:{line}: 'not-run' needs a reason: <!-- example: not-run (why) -->")
        if lang not in LANGS:
            if marker is not None:
                raise ExampleError(f"{rel}:{line}: marker {marker!r} on a {lang or 'plain'} block")
            continue
        out.append(Example(rel, line, "python" if lang == "python" else "bash", m.group(2), marker, reason))
    return out


def all_examples() -> list[Example]:
    return [e for p in pages() for e in extract(p)]
