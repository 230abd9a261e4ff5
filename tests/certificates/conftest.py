"""Set-up of the certificates tests."""

from __future__ import annotations

import contextlib

import pytest

from certificates.render import FontSet, FontsMissingError


def pytest_collection_finish(session: pytest.Session) -> None:
    """Find the certificate fonts once before the first test runs.

    On a machine that has not used them yet this converts the Song faces to TrueType (a
    minute or two of CPU, once per machine; certificates.render.truetype); done here it is
    outside every test's time limit, and the servers later tests start find it done.
    """
    if session.config.option.collectonly:
        return
    # Missing fonts: the rendering tests report it, with the Debian packages to install.
    with contextlib.suppress(FontsMissingError):
        FontSet.discover()
