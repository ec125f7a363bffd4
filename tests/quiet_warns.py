"""``pytest.warns`` without the third-party noise it lets through.

``pytest.warns`` records every warning in its block and re-emits those that do not match without their module,
which defeats pyproject's module-matched filters (wfdb's pandas deprecation). :func:`warns` applies the same
filter inside the block.
"""

import contextlib
import warnings

import pytest


@contextlib.contextmanager
def warns(category, match=None):
    with pytest.warns(category, match=match):
        warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame", module="wfdb")
        yield
