"""The installed Deskpilot release, read once per process.

Reading the package metadata costs a few milliseconds each time, and the
supervisor reports its release on every fleet registration and health
answer, the client on every connection check and a backup in its manifest.
This module imports nothing heavy, so the client can use it too.
"""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version


@functools.cache
def installed_version() -> str | None:
    """The installed package's version; None when Deskpilot runs from a tree not installed."""
    try:
        return version("deskpilot")
    except PackageNotFoundError:
        return None
