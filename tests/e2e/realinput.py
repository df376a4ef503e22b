"""Real input for the end-to-end tests: ``xdotool`` sends XTEST events to the Xvfb display.

The events travel the way a person's do (X server, then Qt's xcb platform),
not through ``QTest``, so what a test clicks is what a user would hit:
coordinates come from the widget's own ``mapToGlobal``, never assumed.  Each
call returns once ``xdotool`` has sent the events; the test then polls, with
a deadline, for what the window did with them (``pump_until``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QWidget

from tests.helpers.common import eventually

T = TypeVar("T")


def pump_until(check: Callable[[], T], timeout: float = 10.0) -> T:
    """Process Qt events until ``check`` returns something truthy; fail after ``timeout``."""
    app = QApplication.instance()

    def pumped() -> T:
        if app is not None:
            app.processEvents()
        return check()

    return eventually(pumped, timeout=timeout)


class RealInput:
    """Mouse and keyboard through ``xdotool`` on the display in ``DISPLAY``."""

    def __init__(self) -> None:
        if shutil.which("xdotool") is None:
            raise RuntimeError("xdotool is missing: apt-get install xdotool")
        self.env = dict(os.environ)

    def _xdotool(self, *args: str) -> None:
        subprocess.run(["xdotool", *args], env=self.env, check=True, timeout=10)
        app = QApplication.instance()
        if app is not None:
            app.processEvents()

    def focus(self, widget: QWidget) -> None:
        """Give the widget's top-level window the X input focus (there is no window manager)."""
        window = widget.window()
        self._xdotool("windowfocus", "--sync", str(int(window.winId())))
        pump_until(lambda: QApplication.activeWindow() is window or window.isActiveWindow())

    def point(self, widget: QWidget, at: QPoint | None = None) -> QPoint:
        """The screen point of ``at`` in ``widget`` (its centre by default)."""
        return widget.mapToGlobal(at if at is not None else widget.rect().center())

    def move(self, screen: QPoint) -> None:
        self._xdotool("mousemove", str(screen.x()), str(screen.y()))

    def click_at(self, screen: QPoint, *, button: int = 1, double: bool = False) -> None:
        self.move(screen)
        repeat = ["--repeat", "2", "--delay", "40"] if double else []
        self._xdotool("click", *repeat, str(button))

    def click(
        self, widget: QWidget, at: QPoint | None = None, *, button: int = 1, double: bool = False
    ) -> None:
        self.click_at(self.point(widget, at), button=button, double=double)

    def wheel_down(self) -> None:
        """One notch of the mouse wheel, where the pointer is."""
        self._xdotool("click", "5")

    def key(self, *names: str) -> None:
        """Press keys by X keysym name: ``Return``, ``F9``, ``ctrl+q``."""
        self._xdotool("key", "--delay", "20", *names)

    def type(self, text: str) -> None:
        self._xdotool("type", "--delay", "8", text)
