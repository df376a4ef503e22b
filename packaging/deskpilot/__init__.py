"""Deskpilot's installed programs: put Deskpilot's own packages on the path, then run them.

The code lives in three packages named ``app``, ``automation`` and ``supervisor``.
Installed as top-level names they would share ``site-packages/supervisor/`` with
PyPI's ``supervisor``: installing that merges into Deskpilot's folder, and
uninstalling it deletes Deskpilot's files.  So a wheel installs them one level
down, as ``site-packages/deskpilot/{app,automation,supervisor}``, where no other
distribution writes, and nothing puts that folder on ``sys.path`` except the
programs below (``deskpilot``, ``deskpilotd``, ``deskpilot-app`` and
``python -m deskpilot MODULE``).  Other programs in the same environment are not
affected: for them ``import supervisor`` is still PyPI's.

In a source checkout (editable install, ``PYTHONPATH``) this file is
``packaging/deskpilot/__init__.py`` and the root is the repository.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The folder holding Deskpilot's ``app``, ``automation`` and ``supervisor``, once activated.
root: Path | None = None


def _find_root() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here, here.parents[1]):  # installed wheel, then source checkout
        if (candidate / "supervisor" / "daemon.py").is_file():
            return candidate
    raise RuntimeError(f"Deskpilot's packages are neither in {here} nor in {here.parents[1]}")


def activate() -> Path:
    """Put Deskpilot's root on ``sys.path`` ahead of site-packages (so PyPI's ``supervisor``
    cannot shadow ours) but after ``PYTHONPATH`` entries (so a developer's tree still wins)."""
    global root
    if root is not None:
        return root
    found = _find_root()
    entries = {os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    if str(found) not in sys.path:
        index = 0
        for position, entry in enumerate(sys.path):
            if entry and os.path.abspath(entry) in entries:
                index = position + 1
        sys.path.insert(index, str(found))
    root = found
    return found


def cli() -> None:
    """``deskpilot``: the command line."""
    activate()
    from supervisor.cli.main import main

    main()


def daemon() -> None:
    """``deskpilotd``: the supervisor in the foreground."""
    activate()
    from supervisor.daemon import main

    main()


def gui() -> int:
    """``deskpilot-app``: the window (or the tray icon)."""
    activate()
    from app.__main__ import main

    return main()
