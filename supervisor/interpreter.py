"""How Deskpilot starts its own modules in a new interpreter (the supervisor, its workers).

``<python> -m supervisor.worker`` only works where ``supervisor`` is Deskpilot's
on the default path: a source checkout or the frozen app.  An installed wheel
keeps its packages inside ``site-packages/deskpilot/`` (so that PyPI's
``supervisor`` cannot overwrite or delete them), and only the ``deskpilot``
launcher puts them on the path; a process it started starts its children
through it too, as ``<python> -m deskpilot supervisor.worker``.
"""

from __future__ import annotations

import sys


def module_args(module: str) -> list[str]:
    """The interpreter arguments that run Deskpilot's ``module`` as ``__main__``."""
    launcher = sys.modules.get("deskpilot")
    if getattr(launcher, "root", None) is not None and not getattr(sys, "frozen", False):
        return ["-m", "deskpilot", module]
    return ["-m", module]
