"""Real third-party apps from Debian (xterm, mousepad) started by desktop tests.

Each app starts in its own session so that the test can kill it with
everything it started (mousepad's private D-Bus daemon and accessibility bus);
nothing outlives the test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from automation.blocks.desktop.windows import WindowInfo, list_windows
from tests.helpers.common import eventually
from tests.helpers.xvfb import XDisplay


@dataclass
class App:
    process: subprocess.Popen[bytes]
    window: WindowInfo

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.fail(
            f"{program} is not installed: packaging/system-deps.sh installs it", pytrace=False
        )


@contextlib.contextmanager
def started(
    display: XDisplay, command: list[str], title: str, log: Path, *, timeout: float = 20.0
) -> Iterator[App]:
    """Start ``command`` on ``display``; yields once a new window whose title matches is mapped."""
    need(command[0])
    before = {w.id for w in list_windows()}
    # no accessibility bridge: a bus launcher started here would leave the display's
    # AT_SPI_BUS property pointing at its socket after the test kills it
    env = display.env(LANG="C.UTF-8", LC_ALL="C.UTF-8", NO_AT_BRIDGE="1")
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # never talk to the caller's session
    with log.open("wb") as err:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            start_new_session=True,
        )
    app: App | None = None
    try:

        def window() -> WindowInfo | None:
            if process.poll() is not None:
                raise AssertionError(f"{command[0]} exited: {log.read_text(errors='replace')}")
            fresh = [w for w in list_windows(title, include_hidden=False) if w.id not in before]
            return fresh[0] if fresh else None

        app = App(process, eventually(window, timeout=timeout, interval=0.05))
        yield app
    finally:
        if app is not None:
            app.stop()
        else:
            App(process, None).stop()  # type: ignore[arg-type]
