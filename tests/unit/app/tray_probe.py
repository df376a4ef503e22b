"""``python -m tests.unit.app.tray_probe``: the desktop shell on a real display, driven over stdin.

The tray tests run this in a subprocess on Xvfb with ``trayer`` (a tray
needs a real X display, and the unit tests' own Qt is offscreen).  It
starts ``DesktopShell`` exactly as ``python -m app --tray`` does (so it
starts the supervisor when none runs) and prints one JSON object per line
for everything the tests look at: tray availability, each icon state with
the supervisor's pid, notifications, menus, windows.  Commands, one per
line on stdin: ``menu``, ``run <workflow>``, ``pause``, ``failures``,
``open``, ``close``, ``window``, ``quit [keep|stop]``.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import signal
import sys
from typing import Any

from PySide6.QtCore import QSocketNotifier
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon

from app import theme as themes
from app.supervisor_link import SupervisorLink
from app.tray import DesktopShell
from automation.blocks.registry import BlockRegistry
from supervisor.paths import DeskpilotPaths


def out(**fact: Any) -> None:
    sys.stdout.write(json.dumps(fact, default=str) + "\n")
    sys.stdout.flush()


def texts(menu: QMenu) -> list[str]:
    return [action.text() for action in menu.actions() if not action.isSeparator()]


def main() -> int:
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks for stacks on a hang
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    app = QApplication(sys.argv[:1])
    out(available=QSystemTrayIcon.isSystemTrayAvailable())
    paths = DeskpilotPaths.from_env()
    link = SupervisorLink(paths, poll_interval=0.2)
    shell = DesktopShell(
        app, BlockRegistry.with_builtins(plugins=False), paths, themes.LIGHT, link=link
    )
    tray = shell.tray
    if tray is None:
        out(error="no tray")
        return 1

    def state(value: str) -> None:
        health = link.health
        out(
            state=value,
            pid=health.pid if health else None,
            visible=tray.icon.isVisible(),
            icon=not tray.icon.icon().isNull(),
        )

    tray.state_changed.connect(state)
    tray.notified.connect(lambda title, text: out(notified=title, text=text))
    shell.start(show_window=False)
    out(started=True, window=shell.window is not None)

    def command(line: str) -> None:
        sys.stderr.write(f"command: {line!r}\n")
        word, _, rest = line.strip().partition(" ")
        if word == "menu":
            tray.fill_run_menu()
            out(menu=texts(tray.menu), run=texts(tray.run_menu))
        elif word == "run":
            tray.run_workflow(rest, str(link.workflows[rest].path))
        elif word == "pause":
            tray.pause_all()
        elif word == "failures":
            tray.fill_failures_menu()
            out(failures=texts(tray.failures_menu), state=tray.state.value)
        elif word == "open":
            tray.open_action.trigger()
            out(window=shell.window.isVisible(), title=shell.window.windowTitle())
        elif word == "close":
            shell.window.close()
            app.processEvents()
            out(closed=not shell.window.isVisible(), connected=link.connected)
        elif word == "window":
            out(window=shell.window is not None and shell.window.isVisible(), id=id(shell.window))
        elif word == "quit":
            if rest:  # the answer to "keep the supervisor running?", as if remembered
                from app.main_window import open_settings
                from app.tray import QUIT_SETTING

                open_settings(paths).setValue(QUIT_SETTING, rest)
            tray.quit_action.trigger()

    notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
    pending = b""

    def readable() -> None:
        # unbuffered: a buffered readline() could keep a second command the notifier never sees
        nonlocal pending
        chunk = os.read(sys.stdin.fileno(), 65536)
        if not chunk:
            notifier.setEnabled(False)
            app.quit()
            return
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            command(line.decode())

    notifier.activated.connect(lambda *_a: readable())
    code = app.exec()
    out(exited=code, tray_visible=tray.icon.isVisible())
    return code


if __name__ == "__main__":
    sys.exit(main())
