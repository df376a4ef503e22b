"""``python -m tests.screenshots.first_run OUTDIR``: what a newcomer sees, as PNG files.

For each screen size (1366x768 and 1920x1080 unless ``--size`` says), in a
process of its own: a private Xvfb of that size, a fresh ``DESKPILOT_HOME``,
the real window with its run panels and the supervisor it starts, exactly as
``deskpilot gui`` makes them.  Then, grabbing the whole X screen each time
(what a person would see, not a widget rendering):

* ``welcome-WxH.png``: the first start, on the welcome page;
* ``gallery-WxH.png``: the welcome page scrolled to the example gallery;
* ``debugger-WxH.png``: the ``hello`` example opened from the gallery, run
  through the supervisor with a breakpoint, paused before ``tally``;
* ``history-WxH.png``: that run finished, in the History panel.

It prints, for each size, how much of the window the canvas gets.  Runs from
a checkout (``PYTHONPATH=. python -m tests.screenshots.first_run shots/``);
it needs Xvfb, and dbus and gnome-keyring for a private keyring.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.screenshots.sizes import shoot_each_size, size_parser

if TYPE_CHECKING:
    from app.editor.widget import EditorWidget
    from app.main_window import MainWindow
    from app.runs.panels import RunPanels

SIZES = ("1366x768", "1920x1080")


def main(argv: Sequence[str] | None = None) -> int:
    parser = size_parser("tests.screenshots.first_run", SIZES)
    parser.add_argument("--dark", action="store_true", help="the dark theme")
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    sizes = args.size or list(SIZES)
    if args.child:
        return _shoot(args.outdir, sizes[0], dark=args.dark)
    dark = ["--dark"] if args.dark else []
    return shoot_each_size("tests.screenshots.first_run", args.outdir, sizes, *dark)


def _shoot(outdir: Path, size: str, *, dark: bool) -> int:
    width, height = (int(v) for v in size.lower().split("x"))
    from tests.helpers.keyring_session import _private_keyring
    from tests.helpers.xvfb import start_xvfb

    display = start_xvfb(((width, height),))
    home = Path(tempfile.mkdtemp(prefix="dp-shots-"))
    try:
        # a desktop session has a keyring: without one the window says so in its status bar
        with _private_keyring() as keyring:
            os.environ.update(
                DISPLAY=display.name,
                XAUTHORITY=str(display.xauthority),
                QT_QPA_PLATFORM="xcb",
                DESKPILOT_HOME=str(home),
                DBUS_SESSION_BUS_ADDRESS=keyring.bus_address,
                PYTHON_KEYRING_BACKEND=keyring.backend_name,
            )
            os.environ.pop("WAYLAND_DISPLAY", None)
            try:
                return _scenes(outdir, f"{width}x{height}", home, dark=dark)
            finally:
                _stop_supervisor(home)
    finally:
        display.stop()
        shutil.rmtree(home, ignore_errors=True)


def open_shell(home: Path, *, dark: bool) -> tuple[Any, Any, Any, Any]:
    """The real window, its supervisor link and paths under ``home``, as a user opens them."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from app import theme as themes
    from app.supervisor_link import SupervisorLink
    from app.tray import DesktopShell
    from automation.blocks.registry import BlockRegistry
    from supervisor.paths import DeskpilotPaths

    app = QApplication(["deskpilot"])
    app.setApplicationName("Deskpilot")
    if dark:
        app.styleHints().setColorScheme(Qt.ColorScheme.Dark)
    theme = themes.apply(app)
    paths = DeskpilotPaths.under(home).ensure()
    link = SupervisorLink(paths, poll_interval=0.3)
    shell = DesktopShell(
        app, BlockRegistry.with_builtins(), paths, theme, link=link, use_tray=False
    )
    shell.start(show_window=True)
    return app, shell, link, paths


def poller(app: Any, size: str) -> Callable[..., None]:
    """``until(what, check, timeout)``: process Qt events until ``check()`` holds, or exit."""

    def until(what: str, check: Callable[[], object], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise SystemExit(f"{size}: {what} did not happen within {timeout:g}s")
            app.processEvents()
            time.sleep(0.02)  # polling interval, bounded by the deadline

    return until


def _scenes(outdir: Path, size: str, home: Path, *, dark: bool) -> int:
    from app.resources import examples_dir
    from app.welcome import WelcomePage

    app, shell, link, paths = open_shell(home, dark=dark)
    window = shell.window
    panels = window.run_panels
    until = poller(app, size)

    def settle() -> None:
        until("painting", lambda: True)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)

    def shot(name: str) -> None:
        settle()
        screen = app.primaryScreen()
        target = outdir / f"{name}-{size}{'-dark' if dark else ''}.png"
        screen.grabWindow(0).save(str(target))
        print(f"{target}")  # noqa: T201 - the tool's output

    until("the window", window.isVisible)
    until("the supervisor", lambda: link.connected and link.stream_open, 90)
    shot("welcome")
    page = window.empty
    assert isinstance(page, WelcomePage)
    page.ensureWidgetVisible(page.cards[-1], 0, 0)
    shot("gallery")

    window.open_example_copy(examples_dir() / "hello.yaml")
    editor = window.current_editor()
    assert editor is not None
    editor.ask_inputs = lambda _document: {}  # the defaults: the dialog is not the subject
    settle()
    _report(size, window, editor, panels)  # the layout as it opens, before a pause grows it
    editor.scene.select_nodes(["tally"])
    editor.toggle_breakpoint()
    window.run_action.trigger()
    debug = panels.live.debug
    until("the pause", lambda: debug.node_id == "tally")
    editor.scene.select_nodes(["tally"])
    shot("debugger")
    record = panels.live.record
    while not (record is not None and record.finished):  # tally pauses once per number
        paused_at = debug.where.text()
        debug.send("continue")

        def moved_on(paused_at: str = paused_at) -> bool:
            done = panels.live.record is not None and panels.live.record.finished
            return done or debug.where.text() not in ("", paused_at)

        until("the next pause or the end", moved_on)
        record = panels.live.record
    until("the run's end", lambda: panels.live.record is not None and panels.live.record.finished)
    panels.show_panel("history")
    history = panels.history
    until("the history", lambda: bool(history.model.rows) and history.detail.record is not None)
    shot("history")
    window.close()
    link.stop()
    return 0


def _report(size: str, window: MainWindow, editor: EditorWidget, panels: RunPanels) -> None:
    view = editor.view.viewport()
    dock = panels.docks["live"]
    print(  # noqa: T201 - the tool's output
        f"{size}: window {window.width()}x{window.height()}, canvas {view.width()}x{view.height()} "
        f"({100 * view.width() * view.height() / (window.width() * window.height()):.0f}% of the "
        f"window, {100 * view.height() / window.height():.0f}% of its height), run panel "
        f"{dock.height()} px high, workflows pane {window.splitter.sizes()[0]} px wide"
    )


def _stop_supervisor(home: Path) -> None:
    lock = home / "state" / "deskpilotd.lock"
    try:
        pid = int(lock.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)  # polling interval, bounded by the deadline


if __name__ == "__main__":
    sys.exit(main())
