"""Finding the GUI's resource files (icons, example workflows, templates, the README) wherever the app runs from.

Where they are depends on how Deskpilot was installed:

- a checkout or an editable install: ``resources/`` next to the packages;
- a wheel (venv, pipx, system ``pip``): ``<prefix>/share/deskpilot/resources``,
  where ``<prefix>`` is the one the packages were installed under.  That is
  ``sys.prefix`` for a venv or pipx, but ``site.USER_BASE`` (``~/.local``) for
  ``pip install --user`` and ``/usr/local`` or ``/usr`` for a system install,
  so the prefix is also worked out from this file's own location
  (``<prefix>/lib/pythonX.Y/site-packages/deskpilot/app/resources.py``);
- a PyInstaller bundle: ``sys._MEIPASS/resources``.

``DESKPILOT_RESOURCES`` overrides them all (packagers, tests).
``python -m app.resources`` prints where they were found, as JSON.
"""

from __future__ import annotations

import logging
import os
import site
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtGui import QIcon

log = logging.getLogger(__name__)

RESOURCES_VARIABLE = "DESKPILOT_RESOURCES"
_INSTALLED = Path("share") / "deskpilot" / "resources"


def candidate_dirs() -> list[Path]:
    """Every place looked in, in order (the first holding ``icons/`` wins)."""
    candidates = []
    if os.environ.get(RESOURCES_VARIABLE):
        candidates.append(Path(os.environ[RESOURCES_VARIABLE]))
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "resources")
    here = Path(__file__).resolve()
    candidates.append(here.parents[1] / "resources")  # a checkout or an editable install
    # <prefix>/lib/pythonX.Y/site-packages/[deskpilot/]app/resources.py -> <prefix>
    site_dir = next((p for p in here.parents if p.name in ("site-packages", "dist-packages")), None)
    if site_dir is not None and len(site_dir.parents) > 2:
        candidates.append(site_dir.parents[2] / _INSTALLED)
    prefixes = [sys.prefix, site.getuserbase(), sys.base_prefix, "/usr/local", "/usr"]
    candidates.extend(Path(prefix) / _INSTALLED for prefix in prefixes)
    unique: list[Path] = []
    for candidate in candidates:
        if candidate not in unique:
            unique.append(candidate)
    return unique


@cache
def resources_dir() -> Path:
    candidates = candidate_dirs()
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
    from PySide6.QtGui import QIcon  # here: finding the files needs no Qt (install tests, CLI)

    path = icon_path(name)
    if not path.is_file():
        log.warning("icon %s not found at %s", name, path)
        return QIcon()
    return QIcon(str(path))


def examples_dir() -> Path:
    return resources_dir() / "examples"


def templates_dir() -> Path:
    return resources_dir() / "templates"


def readme_path() -> Path | None:
    """The README (Help › Documentation): installed beside the resources, or the checkout's."""
    for candidate in (resources_dir() / "README.md", resources_dir().parent / "README.md"):
        if candidate.is_file():
            return candidate
    return None


def report() -> dict[str, object]:
    """Where this installation finds its files (``python -m app.resources``; About shows it too)."""
    return {
        "module": __file__,
        "resources": str(resources_dir()),
        "icons": sorted(p.name for p in (resources_dir() / "icons").glob("*.svg")),
        "examples": sorted(
            p.relative_to(examples_dir()).as_posix()
            for p in examples_dir().rglob("*")
            if p.is_file()
        ),
        "templates": sorted(p.name for p in templates_dir().glob("*.yaml")),
        "readme": str(readme_path()) if readme_path() else None,
        "looked_in": [str(p) for p in candidate_dirs()],
    }


if __name__ == "__main__":
    import json

    sys.stdout.write(json.dumps(report(), indent=2) + "\n")
