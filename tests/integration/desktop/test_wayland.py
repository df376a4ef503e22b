"""A Wayland session without X access: desktop runs fail with one sentence saying what works.

Real processes with a real environment: ``deskpilot run`` with
``WAYLAND_DISPLAY`` set and no ``DISPLAY``, or with a ``DISPLAY`` whose X
server refuses (nothing listens there), as XWayland does when it is off.
No Wayland compositor runs here: the message depends only on what the
session's environment says and on the X connection being refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FLOW = """\
deskpilot: 1
name: wayland
nodes:
  click:
    block: mouse.click
    with: {x: 10, y: 10}
"""


def _free_display() -> str:
    number = next(n for n in range(150, 400) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    return f":{number}"


def _run(tmp_path: Path, **env: str | None) -> subprocess.CompletedProcess[str]:
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    environ = {**os.environ, "DESKPILOT_HOME": str(tmp_path / "home")}
    for name, value in env.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return subprocess.run(
        [sys.executable, "-m", "supervisor.cli.main", "run", str(flow)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("display", [None, "refused"])
def test_wayland_without_x_fails_with_what_works(tmp_path: Path, display: str | None) -> None:
    done = _run(
        tmp_path,
        DISPLAY=None if display is None else _free_display(),
        WAYLAND_DISPLAY="wayland-0",
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    assert "Deskpilot's desktop blocks drive X11" in output
    assert "XWayland" in output
    if display is None:
        assert "Wayland session without X access (WAYLAND_DISPLAY is set, DISPLAY is not)" in output
    else:
        assert "Connection refused" in output
