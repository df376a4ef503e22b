"""Where the wheel puts Deskpilot's packages (the rest of the metadata is in pyproject.toml).

A wheel installs ``app``, ``automation`` and ``supervisor`` inside
``site-packages/deskpilot/``, not as top-level names that other distributions
(PyPI's ``supervisor``) also install into and delete from; the ``deskpilot``
launcher (packaging/deskpilot/) puts that folder on the path of Deskpilot's own
programs only.  An editable install keeps the top-level names, as a source
checkout has them, so tests and tools import the tree they run from.
"""

import sys

from setuptools import find_namespace_packages, setup

OURS = ["app", "automation", "supervisor"]
found = find_namespace_packages(include=[f"{name}*" for name in OURS])
store_data = [
    "migrations/*.py",
    "migrations/versions/*.py",
    "migrations/script.py.mako",
    "alembic.ini",
]

if "editable_wheel" in sys.argv:
    setup(
        packages=[*found, "deskpilot"],
        package_dir={"deskpilot": "packaging/deskpilot"},
        package_data={"supervisor.store": store_data},
    )
else:
    setup(
        packages=["deskpilot", *(f"deskpilot.{name}" for name in found)],
        package_dir={"deskpilot": "packaging/deskpilot", **{f"deskpilot.{n}": n for n in OURS}},
        package_data={"deskpilot.supervisor.store": store_data},
    )
