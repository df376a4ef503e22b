"""Finding the GUI's resource files (icons, example workflows) wherever the app runs from.

In a checkout (or an editable install) they are in ``resources/`` next to the
packages; a wheel installs them under ``<prefix>/share/deskpilot/resources``;
a PyInstaller bundle unpacks them under ``sys._MEIPASS``.
``DESKPILOT_RESOURCES`` overrides both (packagers, tests).
"""

from __future__ import annotations

import logging
import os
import sys
from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

log = logging.getLogger(__name__)

RESOURCES_VARIABLE = "DESKPILOT_RESOURCES"


@cache
def resources_dir() -> Path:
    candidates = []
    if os.environ.get(RESOURCES_VARIABLE):
        candidates.append(Path(os.environ[RESOURCES_VARIABLE]))
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "resources")
    candidates.append(Path(__file__).resolve().parents[1] / "resources")
    candidates.append(Path(sys.prefix) / "share" / "deskpilot" / "resources")  # a wheel install
    for candidate in candidates:
        if (candidate / "icons").is_dir():
            return candidate
    log.warning("resource folder not found (looked in %s); icons will be missing", candidates)
    return candidates[-1]


def icon_path(name: str) -> Path:
    return resources_dir() / "icons" / f"{name}.svg"


@cache
def icon(name: str) -> QIcon:
    """An icon from ``resources/icons/<name>.svg`` (an empty icon when it is missing)."""
    path = icon_path(name)
    if not path.is_file():
        log.warning("icon %s not found at %s", name, path)
        return QIcon()
    return QIcon(str(path))


def examples_dir() -> Path:
    return resources_dir() / "examples"
