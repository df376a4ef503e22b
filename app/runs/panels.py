"""Put the supervisor's views into a main window: docks, a Runs menu, the banner.

``RunPanels.install(window, link)`` adds, without the window knowing about
them: the live run, the history, schedules & triggers, secrets and machines as
dockable panels (tabbed along the bottom, restored where the user left
them), a Runs menu with a shortcut for each, Cancel run next to Run, and the
banner that says when the supervisor cannot be reached.  It also connects
the pieces: a run started from an editor is followed on that editor's
canvas, and a run opened from the history is shown on its workflow's canvas.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QMenu,
    QScrollArea,
    QTabBar,
    QToolBar,
    QWidget,
)

from app.connection_banner import ConnectionBanner
from app.editor.widget import EditorWidget
from app.machines_view import MachinesView
from app.main_window import MainWindow
from app.runs.history_view import HistoryView
from app.runs.inputs_dialog import ask_inputs
from app.runs.live_view import LiveRunView
from app.secrets_view import SecretsView
from app.supervisor_link import SupervisorLink
from app.triggers_view import TriggersView

log = logging.getLogger(__name__)


def dock_height(window_height: int) -> int:
    """The run panels' first height: a fifth of the window, 150 to 300 pixels.

    The canvas gets most of the window (over half its height at 1366x768); a
    dragged height is kept in the window's state.
    """
    return max(150, min(300, window_height // 5))


#: how tall the run panel grows when the debugger pauses (at most a third of the window)
DEBUG_HEIGHT = 300


class RunPanels(QObject):
    """The runs, triggers and secrets views of one main window.

    A child of the window, so the connections to the long-lived link end
    when the window is deleted (the tray can outlive several windows).
    """

    def __init__(self, window: MainWindow, link: SupervisorLink) -> None:
        super().__init__(window)
        self.window = window
        self.link = link
        theme = window.theme
        self.live = LiveRunView(link, theme)
        self.history = HistoryView(link, theme)
        self.triggers = TriggersView(link, theme, editor_for=window.editor_for)
        self.secrets = SecretsView(theme)
        self.machines = MachinesView(link, theme)
        self.docks: dict[str, QDockWidget] = {}
        #: how many machines the Machines panel was last grown for (-1: not since shown)
        self._machines_fitted = -1
        self.views: dict[str, QWidget] = {}
        for key, title, widget in (
            ("live", "Run", self.live),
            ("history", "History", self.history),
            ("triggers", "Triggers", self.triggers),
            ("secrets", "Secrets", self.secrets),
            ("machines", "Machines", self.machines),
        ):
            self.docks[key] = self._dock(key, title, widget)
        first = self.docks["live"]
        for key in ("history", "triggers", "secrets", "machines"):
            window.tabifyDockWidget(first, self.docks[key])
        first.raise_()
        window.resizeDocks([first], [dock_height(window.height())], Qt.Orientation.Vertical)
        self.banner = ConnectionBanner(link)
        self.banner_bar = QToolBar("Supervisor status")
        self.banner_bar.setObjectName("supervisor_banner")
        self.banner_bar.setMovable(False)
        self.banner_bar.setFloatable(False)
        self.banner_bar.addWidget(self.banner)
        self.banner_bar.toggleViewAction().setVisible(False)
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.banner_bar)
        self._menus()
        self._restore_docks()
        self._connect()
        self._banner_changed(link.banner)
        self._target_changed(link.target)

    @classmethod
    def install(cls, window: MainWindow, link: SupervisorLink) -> RunPanels:
        panels = cls(window, link)
        window.setProperty("deskpilot_run_panels", True)
        window.run_panels = panels  # type: ignore[attr-defined]  # kept alive with the window
        return panels

    def _dock(self, key: str, title: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(f"dock_{key}")
        # The docks are tabbed together, so the tallest minimum of them all (History's
        # charts and table) would hold the bottom area at half a 768-pixel screen. In a
        # scroll area a panel can be made small; what does not fit scrolls.
        scroller = QScrollArea()
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QFrame.Shape.NoFrame)
        scroller.setWidget(widget)
        dock.setWidget(scroller)
        # Tabbed together, the tabs name the panels: a title bar above them would take
        # another line of a small screen from the canvas.  (Runs menu shows a closed one.)
        dock.setTitleBarWidget(QWidget())
        self.views[key] = widget
        dock.setAllowedAreas(
            Qt.DockWidgetArea.BottomDockWidgetArea | Qt.DockWidgetArea.RightDockWidgetArea
        )
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        return dock

    def _restore_docks(self) -> None:
        # the window restored its state before these docks existed: apply it again now
        state = self.window.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.window.restoreState(state)

    # -- menus -----------------------------------------------------------------------------
    def _action(self, text: str, shortcut: str, slot: Any) -> QAction:
        action = QAction(text, self.window)
        action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{text.replace('&', '')} ({shortcut})")
        action.triggered.connect(lambda _c=False: slot())
        return action

    def _menus(self) -> None:
        window = self.window
        menu = QMenu("&Runs", window)
        self.show_live = self._action("&Live run", "Ctrl+Shift+L", lambda: self.show_panel("live"))
        self.show_history = self._action("&History", "Ctrl+H", lambda: self.show_panel("history"))
        self.show_triggers = self._action(
            "&Schedules and triggers", "Ctrl+Shift+T", lambda: self.show_panel("triggers")
        )
        self.show_secrets = self._action(
            "S&ecrets", "Ctrl+Shift+K", lambda: self.show_panel("secrets")
        )
        self.show_machines = self._action(
            "&Machines", "Ctrl+Shift+M", lambda: self.show_panel("machines")
        )
        self.cancel_action = self._action("&Cancel run", "Shift+F5", self.live.cancel)
        self.cancel_action.setEnabled(False)
        self.start_action = QAction("Start the &supervisor", window)
        self.start_action.triggered.connect(lambda _c=False: self.link.start_supervisor())
        for action in (self.show_live, self.show_history, self.show_triggers, self.show_secrets,
                       self.show_machines):  # fmt: skip
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.cancel_action)
        menu.addAction(self.start_action)
        menu.addSeparator()
        self.connect_action = QAction("Connect to a &supervisor…", window)
        self.connect_action.triggered.connect(lambda _c=False: self.machines.connect_to(""))
        self.local_action = QAction("This &machine's supervisor", window)
        self.local_action.triggered.connect(lambda _c=False: self.machines.go_local())
        menu.addAction(self.connect_action)
        menu.addAction(self.local_action)
        help_menu = getattr(window, "help_menu", None)  # Help stays the last menu
        if help_menu is not None:
            window.menuBar().insertMenu(help_menu.menuAction(), menu)
        else:
            window.menuBar().addMenu(menu)
        self.menu = menu
        # Cancel also belongs beside Run in the Workflow menu
        for holder in window.run_action.associatedObjects():
            if isinstance(holder, QMenu):
                actions = holder.actions()
                index = actions.index(window.run_action)
                after = actions[index + 1] if index + 1 < len(actions) else None
                if after is not None:
                    holder.insertAction(after, self.cancel_action)
                else:
                    holder.addAction(self.cancel_action)

    def show_panel(self, key: str) -> None:
        dock = self.docks[key]
        dock.show()
        dock.raise_()
        widget = self.views[key]
        if widget is self.history:
            self.history.start()
        widget.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # -- wiring ----------------------------------------------------------------------------
    def _connect(self) -> None:
        link, window = self.link, self.window
        link.signals.run_submitted.connect(self._run_submitted)
        link.signals.received.connect(self._paused_elsewhere)
        link.signals.banner_changed.connect(self._banner_changed)
        link.signals.target_changed.connect(self._target_changed)
        link.signals.connected_changed.connect(self._connected_changed)
        self.live.status_changed.connect(lambda _r, _s: self._update_cancel())
        self.live.message.connect(self._status)
        self.live.debug.pause_shown.connect(self._give_the_debugger_room)
        self.history.message.connect(self._status)
        self.history.open_in_editor.connect(self.open_run)
        self.triggers.message.connect(self._status)
        self.secrets.message.connect(self._status)
        self.machines.message.connect(self._status)
        self.secrets.changed.connect(link.forget_secret_names)
        self.docks["history"].visibilityChanged.connect(
            lambda visible: self.history.start() if visible else None
        )
        self.docks["machines"].visibilityChanged.connect(self._machines_shown)
        # once the list's new lines are laid out
        self.machines.refreshed.connect(
            lambda: QTimer.singleShot(0, self, self._give_the_machines_room)
        )
        window.tabs.currentChanged.connect(lambda _i: self._hook_editors())
        self._hook_editors()
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._scheme_changed)
        self._connected_changed(link.connected)

    def _give_the_debugger_room(self) -> None:
        """A pause grows a short run panel to a third of the window, so the values read.

        The panels start small to leave the canvas most of a small screen; paused, the
        values are what the user looks at.  A panel the user made taller stays as it is.
        """
        dock = self.docks["live"]
        wanted = min(DEBUG_HEIGHT, self.window.height() // 3)
        if dock.isVisible() and not dock.isFloating() and dock.height() < wanted:
            self.window.resizeDocks([dock], [wanted], Qt.Orientation.Vertical)

    def _machines_shown(self, visible: bool) -> None:
        if visible:
            self._machines_fitted = -1  # fit the next list loaded

    def _give_the_machines_room(self) -> None:
        """Grow a short Machines panel until each machine's row shows, to a third of the window.

        At 1366x768 the panels' first height showed four rows of a five-machine fleet.
        Done once each time the panel is shown and when the fleet changes size, never on
        every refresh, so a height the user dragged stays; a panel is never shrunk, and
        a longer list scrolls.
        """
        count = len(self.machines.machines)
        if count == self._machines_fitted:
            return
        self._machines_fitted = count
        dock = self.docks["machines"]
        bottom = self.window.dockWidgetArea(dock) == Qt.DockWidgetArea.BottomDockWidgetArea
        if not dock.isVisible() or dock.isFloating() or not bottom:
            return
        scroller = dock.widget()
        assert isinstance(scroller, QScrollArea)
        around = dock.height() - scroller.viewport().height()
        wanted = around + self.machines.height_for_every_row()
        if wanted > dock.height():
            # the size given to resizeDocks is the tabbed group's, its tab bar included
            tabs = self._tab_bar_height(dock)
            group = min(wanted + tabs, self.window.height() // 3)
            self.window.resizeDocks([dock], [group], Qt.Orientation.Vertical)

    def _tab_bar_height(self, dock: QDockWidget) -> int:
        if not self.window.tabifiedDockWidgets(dock):
            return 0
        title = dock.windowTitle()
        for bar in self.window.findChildren(
            QTabBar, options=Qt.FindChildOption.FindDirectChildrenOnly
        ):
            if bar.isVisible() and title in (bar.tabText(i) for i in range(bar.count())):
                return bar.height()
        return 0

    def _status(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 8000)

    def _hook_editors(self) -> None:
        """Every editor asks for inputs before it runs."""
        for editor in self.window.editors():
            if editor.ask_inputs is None:
                editor.ask_inputs = self._ask_inputs

    def _ask_inputs(self, document: Any) -> dict[str, Any] | None:
        return ask_inputs(document, self.window.theme, self.window)

    def _run_submitted(self, run_id: str, path: Path) -> None:
        editor = self.window.editor_for(path)
        self.live.follow(run_id, workflow_path=path, editor=editor)
        self.show_panel("live")
        if editor is not None:
            editor.setFocus()
        self._update_cancel()

    def _paused_elsewhere(self, item: dict[str, Any]) -> None:
        """A run this window is not following paused: show it here, where it is answered.

        ``deskpilot submit --break`` (without ``--wait``) and the API leave the pause to
        the window's debug panel.  When the run panel is free (no run, or its run ended)
        it follows the paused run at once; when it follows a run still going, the status
        bar says which run waits (History opens it).
        """
        run_id = item.get("run_id")
        if item.get("kind") != "node_paused" or not isinstance(run_id, str):
            return
        if run_id == self.live.run_id:
            return
        record = self.live.record
        if record is not None and not record.finished:
            self._status(
                f"Run {run_id[:12]} paused before '{item.get('node_id')}': open it from "
                "History to continue it"
            )
            return
        workflow = next(
            (str(e["workflow"]) for e in self.link.recent_events(run_id) if e.get("workflow")),
            None,
        )
        if workflow is not None:
            self.open_run(run_id, workflow)
        else:
            self.live.follow(run_id, load=True)
            self.show_panel("live")
            self._update_cancel()

    def open_run(self, run_id: str, workflow: str) -> EditorWidget | None:
        """Show a run of the history on its workflow's canvas (loading what already happened)."""
        info = self.link.workflows.get(workflow)
        editor = None
        if info is not None and info.path and Path(info.path).is_file():
            editor = self.window.open_workflow(Path(info.path))
        else:
            self._status(f"'{workflow}' is not in the workflows folder: showing the run alone")
        self.live.follow(
            run_id, workflow_path=editor.path if editor else None, editor=editor, load=True
        )
        self.show_panel("live")
        self._update_cancel()
        return editor

    def _update_cancel(self) -> None:
        self.cancel_action.setEnabled(self.live.can_cancel and self.link.connected)

    def _connected_changed(self, connected: bool) -> None:
        self.start_action.setEnabled(not connected and self.link.remote is None)
        self._update_cancel()

    def _banner_changed(self, text: str) -> None:
        self.banner_bar.setVisible(bool(text))

    def _target_changed(self, _target: str) -> None:
        """The title names the machine whose supervisor the window talks to, if not this one."""
        remote = self.link.remote
        self.window.setWindowTitle("Deskpilot" if remote is None else f"Deskpilot — {remote.host}")
        self.local_action.setEnabled(remote is not None)
        # another machine's supervisor is not ours to start
        self.start_action.setEnabled(not self.link.connected and remote is None)

    def _scheme_changed(self, _scheme: object) -> None:
        self.set_theme()

    def set_theme(self) -> None:
        theme = self.window.theme
        self.live.set_theme(theme)
        self.history.set_theme(theme)
        self.triggers.set_theme(theme)
        self.machines.set_theme(theme)
