"""A display of a test module's own, with openbox and a private session bus, for real apps.

Openbox would reparent the windows of the other desktop tests, which expect none, so a module
that needs a window manager starts its own display here.  GTK apps (mousepad) need a session
bus; this one is private to the display and gone with it.  The module starts its apps with
``OpenboxDesktop.start``; everything started is stopped when the block ends, what the bus
started for the apps (dconf) included.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.a11y import _stop_children
from tests.helpers.common import stop_processes
from tests.helpers.keyring_session import _read_bus_address
from tests.helpers.xvfb import XDisplay, start_xvfb


@dataclass
class OpenboxDesktop:
    display: XDisplay
    env: dict[str, str]  # the display, the session bus and the XDG folders
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *command: str) -> subprocess.Popen[bytes]:
        """Start ``command`` on this desktop; it is stopped with it."""
        process = subprocess.Popen(list(command), env=self.env, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        return process


@contextlib.contextmanager
def openbox_desktop(
    folder: Path, programs: tuple[str, ...], **env: str
) -> Iterator[OpenboxDesktop]:
    """Xvfb, a session bus and openbox, with ``folder`` as the XDG config and data home and
    ``env`` added; DISPLAY and XAUTHORITY point this process at it until the block ends.
    ``programs`` the module starts must be installed, or the module fails saying so."""
    for program in ("openbox", "dbus-daemon", *programs):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is missing: bash packaging/system-deps.sh", pytrace=False)
    display = start_xvfb(xauthority_dir=folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISPLAY", display.name)
        patch.setenv("XAUTHORITY", str(display.xauthority))
        desktop = OpenboxDesktop(
            display,
            display.env(XDG_CONFIG_HOME=str(folder / "config"), XDG_DATA_HOME=str(folder), **env),
        )
        desktop.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        processes = desktop.processes
        try:
            bus = subprocess.Popen(
                ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                env=desktop.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            processes.append(bus)
            desktop.env["DBUS_SESSION_BUS_ADDRESS"] = _read_bus_address(bus)
            desktop.start("openbox")
            yield desktop
        finally:
            for process in processes:  # what the bus started for mousepad (dconf) goes too
                _stop_children(process.pid)
            stop_processes(processes)
            display.stop()
