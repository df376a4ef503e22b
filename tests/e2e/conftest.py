"""End-to-end GUI tests: the real app on a private Xvfb display, the real supervisor behind it.

Qt chooses its platform once per process and the unit tests' Qt is
offscreen, so run these in a pytest process of their own:
``pytest tests/e2e``.  ``gui_display`` starts Xvfb and points Qt at it
(``QT_QPA_PLATFORM=xcb``) before pytest-qt makes the application: the
``qapp_args`` override below makes the application wait for the display.

As in the unit tests, any Qt warning fails the test that caused it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from supervisor.paths import DeskpilotPaths
from tests.helpers.common import eventually
from tests.helpers.daemon import short_home
from tests.helpers.xvfb import XDisplay, start_xvfb
from tests.unit.app.conftest import QtWarnings, failing_on_qt_warnings

#: What the X11 platform says on a bare Xvfb without a window manager.
XCB_NOISE = (re.compile(r"^QXcbConnection: XCB error"),)


@pytest.fixture(scope="session")
def gui_display(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XDisplay]:
    existing = QApplication.instance()
    if isinstance(existing, QApplication) and existing.platformName() != "xcb":
        pytest.fail(
            "the end-to-end tests need Qt on an X display, but this process already made an "
            f"'{existing.platformName()}' application: run them on their own (pytest tests/e2e)",
            pytrace=False,
        )
    try:
        display = start_xvfb(((1600, 1000),), xauthority_dir=tmp_path_factory.mktemp("x"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISPLAY", display.name)
        patch.setenv("XAUTHORITY", str(display.xauthority))
        patch.setenv("QT_QPA_PLATFORM", "xcb")
        try:
            yield display
        finally:
            display.stop()


@pytest.fixture(scope="session")
def qapp_args(gui_display: XDisplay) -> list[str]:
    return ["deskpilot-e2e"]


@pytest.fixture(autouse=True)
def qt_warnings() -> Iterator[QtWarnings]:
    with failing_on_qt_warnings(XCB_NOISE) as recorder:
        yield recorder


@pytest.fixture
def gui_home() -> Iterator[Path]:
    """A DESKPILOT_HOME for the GUI; the supervisor the GUI starts in it is stopped afterwards."""
    home = short_home("dp-e2e-")
    paths = DeskpilotPaths.under(home)
    try:
        yield home
    finally:
        lock = paths.state_dir / "deskpilotd.lock"
        pid = None
        with contextlib.suppress(OSError, ValueError):
            pid = int(lock.read_text().strip())
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            eventually(lambda: not _alive(pid), timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        return state != "Z"
    return True
