"""Machines: every supervisor sharing the history, and how each is doing.

The list comes from the supervisor this window talks to (``GET /machines``):
any supervisor answers for the whole fleet, so a desktop sees the machines
it does not run on too, including one that went silent.  A machine's state
follows its heartbeat in the shared database: alive, late (its runs are
about to be taken over), gone (silent for long, or stopped).

**Connect** points the window at the selected machine's supervisor (the API
address it advertises), **Connect to…** at any address, **This machine** back
at the local one (``app.remote_connect``); the line above the list names the
supervisor the window talks to.
"""

from __future__ import annotations

import html
import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.refresh import RefreshWhileShown
from app.runs.records import local_time
from app.supervisor_link import SupervisorLink, run_job
from app.theme import Theme
from supervisor.api.models import MachineInfo

log = logging.getLogger(__name__)

REFRESH_MS = 5_000
ID_ROLE = Qt.ItemDataRole.UserRole + 50
COLUMNS = [
    "Host",
    "State",
    "Heartbeat",
    "Running",
    "Queued",
    "Version",
    "API address",
    "Supervisor",
]
#: The stretching column (the API address).
ADDRESS = 6
#: Characters of a supervisor id shown (as ``deskpilot machines`` shows them).
SHORT_ID = 12


def heartbeat_text(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def _heartbeat_cell(machine: MachineInfo) -> str:
    if machine.stopped_at is not None:
        return "stopped " + heartbeat_text(machine.heartbeat_age_seconds)
    return heartbeat_text(machine.heartbeat_age_seconds)


def stranded(machines: list[MachineInfo]) -> str:
    """'robot-gone: 2 runs wait, no live supervisor there', for each such machine; '' if none.

    Runs are routed to a host, not a supervisor: a host counts as down when no
    supervisor on it is alive (a late one is about to have its runs taken over).
    """
    queued: dict[str, int] = {}
    alive: set[str] = set()
    for machine in machines:
        queued[machine.host] = max(queued.get(machine.host, 0), machine.queued)
        if machine.state == "alive":
            alive.add(machine.host)
    parts = []
    for host, count in sorted(queued.items()):
        if count and host not in alive:
            runs = "1 run waits" if count == 1 else f"{count} runs wait"
            parts.append(f"{host}: {runs}, no live supervisor there")
    return "; ".join(parts)


def summary(machines: list[MachineInfo]) -> str:
    """'3 machines: 2 alive, 1 late' (states in a fixed order, empty ones left out)."""
    if not machines:
        return "no machines"
    counts = {state: sum(1 for m in machines if m.state == state) for state in ("alive", "late")}
    counts["gone"] = len(machines) - counts["alive"] - counts["late"]
    parts = [f"{count} {state}" for state, count in counts.items() if count]
    noun = "machine" if len(machines) == 1 else "machines"
    return f"{len(machines)} {noun}: " + ", ".join(parts)


class MachinesView(QWidget):
    """The fleet as the supervisor sees it, refreshed every few seconds while shown."""

    message = Signal(str)
    #: the list was reloaded from the supervisor
    refreshed = Signal()

    def __init__(self, link: SupervisorLink, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self.theme = theme
        self.machines: list[MachineInfo] = []
        self.error = ""
        self.loaded_once = False
        self.heading = QLabel()
        self.heading.setObjectName("machines_summary")
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.heading.setToolTip(
            "Every supervisor sharing this history.\nalive: heard from within a lease\n"
            "late: its runs are about to move to another machine\n"
            "gone: silent for long, or stopped"
        )
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(lambda _c=False: self.reload())
        self.target = QLabel()
        self.target.setObjectName("machines_target")
        self.target.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.connect_button = QPushButton("Connect")
        self.connect_button.setObjectName("machines_connect")
        self.connect_button.setToolTip("Talk to the selected machine's supervisor")
        self.connect_button.clicked.connect(lambda _c=False: self.connect_selected())
        self.connect_to_button = QPushButton("Connect to…")
        self.connect_to_button.setToolTip("Talk to the supervisor API at an address")
        self.connect_to_button.clicked.connect(lambda _c=False: self.connect_to(""))
        self.local_button = QPushButton("This machine")
        self.local_button.setObjectName("machines_local")
        self.local_button.setToolTip("Talk to this machine's supervisor again")
        self.local_button.clicked.connect(lambda _c=False: self.go_local())
        self.tree = QTreeWidget()
        self.tree.setObjectName("machines_tree")
        self.tree.setAccessibleName("Machines")
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate((190, 70, 130, 70, 70, 90, 220, 120)):
            self.tree.setColumnWidth(column, width)
        header.setSectionResizeMode(ADDRESS, QHeaderView.ResizeMode.Stretch)
        self.stranded = QLabel()
        self.stranded.setObjectName("machines_stranded")
        self.stranded.setWordWrap(True)
        self.stranded.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stranded.setToolTip(
            "Queued runs routed to a machine no supervisor is alive on: they start once "
            "one starts there ('deskpilot machines HOST')"
        )
        self.status = QLabel()
        self.status.setObjectName("machines_status")
        self.status.setWordWrap(True)
        # One line above the list, not two: in the 127-pixel dock of a 1366x768 screen a
        # second line of buttons cost the fifth machine's row.
        bar = QHBoxLayout()
        bar.addWidget(self.heading)
        bar.addSpacing(12)
        bar.addWidget(self.target, 1)
        for button in (
            self.connect_button,
            self.connect_to_button,
            self.local_button,
            self.refresh_button,
        ):
            bar.addWidget(button)
        layout = QVBoxLayout(self)
        # a small dock at 1366x768: every pixel of height goes to the list
        layout.setContentsMargins(6, 2, 6, 2)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.stranded)
        layout.addWidget(self.status)
        self._refresh = RefreshWhileShown(self, REFRESH_MS, self.reload)
        link.signals.connected_changed.connect(self._connected_changed)
        link.signals.target_changed.connect(self._target_changed)
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        self._show()

    # -- which supervisor -------------------------------------------------------------------
    def _target_changed(self, _target: str) -> None:
        self.machines, self.loaded_once = [], False
        self._show()

    def _update_buttons(self) -> None:
        self.target.setText(f"Talking to {self.link.target}")
        chosen = self.selected_machine()
        self.connect_button.setEnabled(
            chosen is not None
            and not chosen.this
            and (chosen.api_url or "").startswith(("http://", "https://"))
        )
        self.local_button.setVisible(self.link.remote is not None)

    def selected_machine(self) -> MachineInfo | None:
        wanted = self.selected_id()
        return next((m for m in self.machines if m.id == wanted), None)

    def connect_selected(self) -> None:
        chosen = self.selected_machine()
        if chosen is not None and chosen.api_url:
            self.connect_to(chosen.api_url)

    def connect_to(self, url: str) -> None:
        from app.remote_connect import ConnectDialog

        ConnectDialog(self.link, url, self).open()

    def go_local(self) -> None:
        from app.remote_connect import connect_local

        connect_local(self.link, self)

    # -- loading -----------------------------------------------------------------------------
    def _connected_changed(self, _connected: bool) -> None:
        if self.isVisible():
            self.reload()

    def reload(self) -> None:
        if not self.link.connected:
            self.error = "The supervisor is not running: the machines cannot be listed."
            self._show()
            return
        run_job(self.link.client.machines, self._loaded, self._failed, owner=self)

    def _loaded(self, machines: list[MachineInfo]) -> None:
        self.machines, self.error, self.loaded_once = machines, "", True
        self._show()
        self.refreshed.emit()

    def _failed(self, error: Exception) -> None:
        self.error = f"Cannot list the machines: {error}"
        self._show()

    # -- drawing ------------------------------------------------------------------------------
    def _state_color(self, state: str) -> QColor:
        colour = {"alive": self.theme.ok, "late": self.theme.warning}.get(state, self.theme.error)
        return QColor(colour)

    def _show(self) -> None:
        selected = self.selected_id()
        self.tree.clear()
        bold = QFont(self.tree.font())
        bold.setBold(True)
        here = "this machine" if self.link.remote is None else "connected"
        for machine in self.machines:
            item = QTreeWidgetItem(
                [
                    machine.host + (f"  ({here})" if machine.this else ""),
                    machine.state,
                    _heartbeat_cell(machine),
                    str(machine.running),
                    str(machine.queued),
                    machine.version or "",
                    machine.api_url or "",
                    machine.id[:SHORT_ID],
                ]
            )
            item.setData(0, ID_ROLE, machine.id)
            item.setForeground(1, self._state_color(machine.state))
            item.setFont(1, bold)
            for column in (3, 4):
                item.setTextAlignment(
                    column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                )
            if machine.this:
                item.setFont(0, bold)
            item.setToolTip(0, self._tooltip(machine))
            item.setToolTip(2, local_time(machine.heartbeat_at))
            if machine.state == "gone":
                for column in (0, 2, 3, 5, 6, 7):
                    item.setForeground(column, QColor(self.theme.muted))
            self.tree.addTopLevelItem(item)
            if machine.id == selected:
                self.tree.setCurrentItem(item)
        if self.machines:
            self.heading.setText(f"<b>{summary(self.machines)}</b>")
        elif self.loaded_once:
            self.heading.setText(
                "<b>No machines yet</b>: a supervisor lists itself here when it starts"
            )
        else:
            self.heading.setText("<b>Machines</b>")
        # the panel shares a small dock: the explanation is a tooltip, only trouble takes a line
        waiting = stranded(self.machines)
        self.stranded.setVisible(bool(waiting))
        self.stranded.setText(
            f"<span style='color:{self.theme.warning}'>Waiting for a machine: "
            f"{html.escape(waiting)}</span>"
        )
        self.status.setVisible(bool(self.error))
        self.status.setText(f"<span style='color:{self.theme.error}'>{self.error}</span>")
        self._update_buttons()

    def _tooltip(self, machine: MachineInfo) -> str:
        lines = [f"supervisor {machine.id}", f"started {local_time(machine.started_at)}"]
        if machine.pid is not None:
            lines.append(f"pid {machine.pid}")
        if machine.stopped_at is not None:
            lines.append(f"stopped {local_time(machine.stopped_at)}")
        for key, value in sorted(machine.resources.items()):
            lines.append(f"{key}: {value}")
        return "\n".join(lines)

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt's name)
        """The least height the panel can take at this width, not the one it prefers.

        The dock's scroll area (``app.runs.panels``) holds a widget whose layout has a
        height for width (the word-wrapped lines under the list) at that height: with a
        stranded-runs line shown, the list's preferred height kept the panel 236 px tall
        in a 127-pixel dock, the line was scrolled out of sight and the list, cut off by
        the dock, did not scroll on its own.
        """
        layout = self.layout()
        if layout is None:
            return super().heightForWidth(width)
        return layout.totalMinimumHeightForWidth(width)

    def height_for_every_row(self) -> int:
        """The panel's height at which each machine's row shows (the list's rows are of one
        height); what is around the list (the line above, stranded runs, an error, the
        header, a horizontal scroll bar) is measured as laid out, not assumed."""
        layout = self.layout()
        if layout is not None:
            layout.activate()
        around = self.height() - self.tree.viewport().height()
        rows = self.tree.topLevelItemCount()
        return around + rows * max(0, self.tree.sizeHintForRow(0))

    def selected_id(self) -> str | None:
        item = self.tree.currentItem()
        if item is None:
            return None
        value = item.data(0, ID_ROLE)
        return str(value) if value is not None else None

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._show()
