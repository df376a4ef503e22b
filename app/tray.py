"""The tray icon, and the desktop shell that keeps it (and the supervisor) going without a window.

The icon says at a glance how things stand (``tray_state``): grey with a
cross when the supervisor is unreachable, a red mark when something failed
unattended (or a circuit breaker is open) since the user last looked, a
blue play mark while runs are running or queued, a green tick otherwise.
Its menu opens the window, runs a workflow, pauses or resumes every
trigger, lists recent failures, and quits.

The tooltip and the menu's first line name the machine whose supervisor the
link talks to ("Deskpilot — robot1 (remote)", or "Deskpilot — this machine"),
and everything the icon shows is that supervisor's health: connected to
another machine, a stopped local supervisor does not matter, and an
unreachable remote one says so (not "not running", which would invite
starting one here).

A run started by a schedule, a file, a webhook or another workflow that
fails pops a notification: nobody was watching it.

``DesktopShell`` owns the link, the tray and the main window.  Closing the
window leaves the tray and the supervisor running; "Open Deskpilot" makes a
new window (which reopens the files that were open).  Quitting ends the GUI
only: the supervisor goes on running schedules.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon

from app.notifications import DesktopNotifications, Urgency
from app.preferences import QUIT_SETTING, NotifyVia, NotifyWhen, load_for, open_settings
from app.resources import icon_path
from app.runs.records import local_time
from app.supervisor_link import SupervisorLink, is_unattended, run_job
from app.theme import Theme
from automation.blocks.registry import BlockRegistry
from automation.errors import DeskpilotError
from supervisor.api.models import Health, RunInfo
from supervisor.paths import DeskpilotPaths

log = logging.getLogger(__name__)

RECENT_FAILURES = 10
NOTIFY_MS = 10_000


class TrayState(StrEnum):
    OK = "ok"
    RUNNING = "running"
    FAILING = "failing"
    DOWN = "down"


_TIPS = {
    TrayState.OK: "all well",
    TrayState.RUNNING: "running",
    TrayState.FAILING: "something failed",
    TrayState.DOWN: "the supervisor is not running",
}
_REMOTE_DOWN = "its supervisor does not answer"


def tray_header(link: SupervisorLink) -> str:
    """Which machine's supervisor the tray reports on."""
    if link.remote is None:
        return "Deskpilot — this machine"
    return f"Deskpilot — {link.remote.host} (remote)"


def tray_tip(link: SupervisorLink, state: TrayState, unseen_failures: int = 0) -> str:
    """The tooltip: the machine, then how its supervisor is doing."""
    what = _REMOTE_DOWN if state is TrayState.DOWN and link.remote is not None else _TIPS[state]
    tip = f"{tray_header(link)}: {what}"
    health = link.health
    if health is not None and (health.running or health.queue_depth):
        tip += f" — {health.running} running, {health.queue_depth} queued"
    if unseen_failures:
        tip += f" — {unseen_failures} new failure{'s' if unseen_failures != 1 else ''}"
    if state is TrayState.DOWN and link.remote is not None and link.banner:
        tip += f"\n{link.banner.splitlines()[0][:160]}"
    return tip


def tray_state(health: Health | None, unseen_failures: int = 0) -> TrayState:
    """What the icon shows for this health report and this many failures not yet looked at."""
    if health is None:
        return TrayState.DOWN
    if (
        unseen_failures
        or health.status != "ok"
        or any(state != "closed" for state in health.breakers.values())
    ):
        return TrayState.FAILING
    if health.running or health.queue_depth:
        return TrayState.RUNNING
    return TrayState.OK


def tray_icon(state: TrayState) -> QIcon:
    path = icon_path(f"tray-{state.value}")
    return QIcon(str(path)) if path.is_file() else QIcon()


@dataclass(frozen=True)
class Failure:
    run_id: str
    workflow: str
    error: str
    at: datetime | None
    unattended: bool


_URGENCY: dict[QSystemTrayIcon.MessageIcon, Urgency] = {
    QSystemTrayIcon.MessageIcon.Critical: "critical",
    QSystemTrayIcon.MessageIcon.Warning: "normal",
    QSystemTrayIcon.MessageIcon.Information: "low",
}


class DeskpilotTray(QObject):
    """The tray icon and its menu."""

    state_changed = Signal(str)
    #: a notification was shown: title, text
    notified = Signal(str, str)

    def __init__(
        self,
        link: SupervisorLink,
        *,
        open_window: Callable[[], None],
        show_run: Callable[[str], None],
        quit_app: Callable[[], None],
        desktop: DesktopNotifications | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.link = link
        #: the desktop's notification server, tried before the tray's own messages
        self.desktop = desktop or DesktopNotifications()
        self.open_window = open_window
        self.show_run = show_run
        self.quit_app = quit_app
        self.state = TrayState.DOWN
        self.failures: deque[Failure] = deque(maxlen=RECENT_FAILURES)
        self.unseen = 0
        self.notifications: list[tuple[str, str]] = []
        self._triggers: dict[str, str] = {}
        self.icon = QSystemTrayIcon(self)
        self.icon.setIcon(tray_icon(self.state))
        self.icon.setToolTip(tray_tip(link, self.state))
        self.menu = QMenu()
        self._build_menu()
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(self._message_clicked)
        link.signals.health_changed.connect(self._health_changed)
        link.signals.received.connect(self._event)
        link.signals.connected_changed.connect(self._connected_changed)
        link.signals.target_changed.connect(self._target_changed)
        link.signals.banner_changed.connect(self._health_changed)
        self._health_changed(link.health)
        if link.connected:
            self.load_failures()

    # -- menu ------------------------------------------------------------------------------
    def _build_menu(self) -> None:
        menu = self.menu
        #: the first line: which machine this tray reports on (not clickable)
        self.header_action = QAction(tray_header(self.link), menu)
        self.header_action.setEnabled(False)
        self.open_action = QAction("Open Deskpilot", menu)
        self.open_action.triggered.connect(lambda _c=False: self._open())
        self.run_menu = QMenu("Run workflow", menu)
        self.run_menu.aboutToShow.connect(self.fill_run_menu)
        self.pause_action = QAction("Pause all triggers", menu)
        self.pause_action.setToolTip("Schedules, file watches and webhooks stop; manual runs work")
        self.pause_action.triggered.connect(lambda _c=False: self.pause_all())
        self.resume_action = QAction("Resume all triggers", menu)
        self.resume_action.triggered.connect(lambda _c=False: self.resume_all())
        self.failures_menu = QMenu("Recent failures", menu)
        self.failures_menu.aboutToShow.connect(self.fill_failures_menu)
        self.quit_action = QAction("Quit Deskpilot", menu)
        self.quit_action.setToolTip(
            "Close the window and the tray (asks whether the supervisor keeps running)"
        )
        self.quit_action.triggered.connect(lambda _c=False: self.quit_app())
        menu.addAction(self.header_action)
        menu.addSeparator()
        menu.addAction(self.open_action)
        menu.addMenu(self.run_menu)
        menu.addSeparator()
        menu.addAction(self.pause_action)
        menu.addAction(self.resume_action)
        menu.addMenu(self.failures_menu)
        menu.addSeparator()
        menu.addAction(self.quit_action)
        self._update_actions()

    def fill_run_menu(self) -> None:
        self.run_menu.clear()
        entries = sorted(
            (info for info in self.link.workflows.values() if info.valid is not False),
            key=lambda info: info.name.lower(),
        )
        if not entries:
            empty = self.run_menu.addAction("No valid workflows")
            empty.setEnabled(False)
            return
        for info in entries:
            action = self.run_menu.addAction(info.name)
            action.setEnabled(self.link.connected)
            action.triggered.connect(
                lambda _c=False, name=info.name, path=info.path: self.run_workflow(name, path)
            )

    def fill_failures_menu(self) -> None:
        self.failures_menu.clear()
        self.unseen = 0
        self._update_state()
        if not self.failures:
            empty = self.failures_menu.addAction("No failures")
            empty.setEnabled(False)
            return
        for failure in self.failures:
            when = local_time(failure.at, seconds=False)
            text = f"{failure.workflow} — {when}: {failure.error.splitlines()[0][:60]}"
            action = self.failures_menu.addAction(text)
            action.setToolTip(failure.error)
            action.triggered.connect(lambda _c=False, run_id=failure.run_id: self._show(run_id))

    def _update_actions(self) -> None:
        connected = self.link.connected
        for action in (self.pause_action, self.resume_action):
            action.setEnabled(connected)
        self.run_menu.setEnabled(connected)

    # -- actions ---------------------------------------------------------------------------
    def _open(self) -> None:
        self.unseen = 0
        self._update_state()
        self.open_window()

    def _show(self, run_id: str) -> None:
        self.unseen = 0
        self._update_state()
        self.show_run(run_id)

    def run_workflow(self, name: str, path: str | None) -> None:
        client = self.link.client

        def work() -> Any:
            if path:
                return client.submit(Path(path))
            return client.submit(workflow=name)

        run_job(
            work,
            lambda submitted: self.notify("Run started", f"{name}: run {submitted.run_id[:12]}"),
            lambda error: self.notify(f"Cannot run {name}", str(error)),
            owner=self,
        )

    def pause_all(self) -> None:
        run_job(
            self.link.client.pause_all,
            lambda changed: self.notify("Triggers paused", f"{len(changed)} triggers paused"),
            lambda error: self.notify("Cannot pause the triggers", str(error)),
            owner=self,
        )

    def resume_all(self) -> None:
        run_job(
            self.link.client.resume_all,
            lambda changed: self.notify("Triggers resumed", f"{len(changed)} triggers resumed"),
            lambda error: self.notify("Cannot resume the triggers", str(error)),
            owner=self,
        )

    def notify(
        self,
        title: str,
        text: str,
        kind: QSystemTrayIcon.MessageIcon = QSystemTrayIcon.MessageIcon.Information,
    ) -> None:
        self.notifications.append((title, text))
        self.notified.emit(title, text)
        urgency = _URGENCY.get(kind, "normal")
        if load_for(self.link.paths).notify_via is NotifyVia.TRAY:
            self._balloon(title, text, kind)
            return
        run_job(
            lambda: self.desktop.send(title, text, urgency),
            lambda sent: None if sent else self._balloon(title, text, kind),
            lambda error: self._balloon(title, text, kind),
            owner=self,
        )

    def _balloon(self, title: str, text: str, kind: QSystemTrayIcon.MessageIcon) -> None:
        """No notification server answered: the tray's own message, where a tray shows."""
        if self.icon.isVisible() and QSystemTrayIcon.supportsMessages():
            self.icon.showMessage(title, text, kind, NOTIFY_MS)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self._open()

    def _message_clicked(self) -> None:
        if self.failures:
            self._show(self.failures[0].run_id)
        else:
            self._open()

    # -- state -----------------------------------------------------------------------------
    def _health_changed(self, _health: object) -> None:
        self._update_state()

    def _connected_changed(self, connected: bool) -> None:
        self._update_actions()
        if connected:
            self.load_failures()

    def _target_changed(self, _target: str) -> None:
        """Another machine: its failures, not the last one's, and its name everywhere."""
        self.failures.clear()
        self.unseen = 0
        self._triggers.clear()
        self.header_action.setText(tray_header(self.link))
        self._update_state()

    def _update_state(self) -> None:
        state = tray_state(self.link.health, self.unseen)
        if state != self.state:
            self.state = state
            self.icon.setIcon(tray_icon(state))
            log.debug("tray state %s", state)
            self.state_changed.emit(state.value)
        self.icon.setToolTip(tray_tip(self.link, state, self.unseen))

    def load_failures(self) -> None:
        """The latest failed runs, so the menu is not empty after a restart."""
        client = self.link.client
        run_job(
            lambda: client.list_runs(status="failed", limit=RECENT_FAILURES).runs,
            self._failures_loaded,
            lambda error: log.info("recent failures not loaded: %s", error),
            owner=self,
        )

    def _failures_loaded(self, runs: Sequence[RunInfo]) -> None:
        known = {f.run_id for f in self.failures}
        for run in reversed(runs):
            if run.id not in known:
                self.failures.appendleft(_failure(run))

    def _event(self, item: dict[str, Any]) -> None:
        kind = item.get("kind")
        run_id = item.get("run_id")
        if kind in ("run_queued", "run_started") and isinstance(run_id, str):
            trigger = item.get("trigger")
            if isinstance(trigger, str) and trigger:
                self._triggers[run_id] = trigger
                if len(self._triggers) > 500:
                    self._triggers.pop(next(iter(self._triggers)))
        elif kind == "run_finished" and item.get("status") == "failed" and isinstance(run_id, str):
            client = self.link.client
            run_job(
                lambda: client.get_run(run_id).run,
                self._run_failed,
                lambda error: log.info("failed run %s not loaded: %s", run_id, error),
                owner=self,
            )
        elif kind == "breaker_opened":
            if load_for(self.link.paths).notify_when is NotifyWhen.NEVER:
                return
            workflow = str(item.get("workflow"))
            self.notify(
                f"{workflow} keeps failing",
                f"Its schedule is paused after {item.get('failures')} failures; "
                "it tries again after a cool-down.",
                QSystemTrayIcon.MessageIcon.Warning,
            )

    def _run_failed(self, run: RunInfo) -> None:
        failure = _failure(run)
        if any(f.run_id == run.id for f in self.failures):
            return
        self.failures.appendleft(failure)
        when = load_for(self.link.paths).notify_when
        if failure.unattended:
            self.unseen += 1
        if (failure.unattended and when is NotifyWhen.UNATTENDED) or when is NotifyWhen.ALL:
            where = f" at {run.failed_node}" if run.failed_node else ""
            machine = "" if self.link.remote is None else f" on {self.link.remote.host}"
            self.notify(
                f"{run.workflow_name} failed{machine}",
                f"{failure.error.splitlines()[0][:200]}{where} (started by {run.trigger})",
                QSystemTrayIcon.MessageIcon.Critical,
            )
        self._update_state()


def _failure(run: RunInfo) -> Failure:
    return Failure(
        run.id,
        run.workflow_name,
        run.error or "failed",
        run.finished_at or run.queued_at,
        is_unattended(run.trigger),
    )


# -- the shell --------------------------------------------------------------------------------


class DesktopShell(QObject):
    """The window, the tray and the link of one GUI process."""

    def __init__(
        self,
        app: QApplication,
        registry: BlockRegistry,
        paths: DeskpilotPaths,
        theme: Theme,
        *,
        link: SupervisorLink | None = None,
        use_tray: bool | None = None,
    ) -> None:
        super().__init__()
        self.app = app
        self.registry = registry
        self.paths = paths
        self.theme = theme
        self.link = link or SupervisorLink(paths)
        self.window: Any = None
        if use_tray is None:
            use_tray = QSystemTrayIcon.isSystemTrayAvailable()
        #: whether an icon shows; without one (stock GNOME) the tray object still watches
        #: for failures and sends them as desktop notifications
        self.tray_available = use_tray
        self.tray = DeskpilotTray(
            self.link, open_window=self.open_window, show_run=self.show_run, quit_app=self.quit
        )
        app.setQuitOnLastWindowClosed(not use_tray)
        app.aboutToQuit.connect(self._about_to_quit)

    def start(self, files: Sequence[Path] = (), *, show_window: bool = True) -> None:
        self.link.start()
        if self.tray_available:
            self.tray.icon.show()
        if show_window or not self.tray_available:
            window = self.open_window()
            for path in files:
                window.open_workflow(path.resolve())

    def open_window(self) -> Any:
        """The main window, raised; a new one if the last was closed."""
        from app.main_window import MainWindow
        from app.runs.panels import RunPanels

        window = self.window
        if window is not None and shiboken6.isValid(window) and window.isVisible():
            window.showNormal()
            window.raise_()
            window.activateWindow()
            return window
        if window is not None and shiboken6.isValid(window):
            window.deleteLater()
        window = MainWindow(self.registry, self.paths, theme=self.theme, connection=self.link)
        window.quit_handler = self.quit
        RunPanels.install(window, self.link)
        window.show()
        self.window = window
        return window

    def show_run(self, run_id: str) -> None:
        window = self.open_window()
        panels = getattr(window, "run_panels", None)
        if panels is not None:
            panels.show_panel("history")
            QTimer.singleShot(0, lambda: panels.history.show_run(run_id))

    def quit(self) -> None:
        """Quit the window and the tray; ask once whether the supervisor keeps running.

        The supervisor runs scheduled and triggered workflows whether a window is
        open or not, which a person quitting "Deskpilot" may not expect: the first
        Quit asks, and "Do not ask again" keeps the answer in the GUI's settings.
        """
        window = self.window
        open_ = window is not None and shiboken6.isValid(window) and window.isVisible()
        choice = self._supervisor_choice(window if open_ else None)
        if choice == "cancel":
            return
        if open_ and not window.close():
            return  # the user kept unsaved changes open
        if choice == "stop":
            try:
                self.link.client.shutdown()
            except DeskpilotError as exc:
                log.warning("could not stop the supervisor while quitting: %s", exc)
        self.app.quit()

    def _supervisor_choice(self, window: Any) -> str:
        if not self.link.connected:
            return "keep"  # nothing to decide: it is not running
        from app.prompts import Prompts

        settings = window.settings if window is not None else open_settings(self.paths)
        remembered = str(settings.value(QUIT_SETTING, "") or "")
        if remembered in {"keep", "stop"}:
            return remembered
        prompts = window.prompts if window is not None else Prompts(None)
        choice, remember = prompts.quit_choice(
            "Quit Deskpilot",
            "The supervisor runs scheduled and triggered workflows in the background, "
            "with or without this window. Keep it running after Deskpilot quits?",
        )
        if remember:
            settings.setValue(QUIT_SETTING, choice)
            settings.sync()
        return choice

    def _about_to_quit(self) -> None:
        self.tray.icon.hide()
        self.link.stop()
