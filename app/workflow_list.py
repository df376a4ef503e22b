"""The workflows list: every file in the workflows folder with its state, kept live.

The folder is watched (QFileSystemWatcher) and re-read after a short pause,
so files written by a text editor, ``git pull`` or the CLI show up without a
refresh button.  The last-run column is filled from the supervisor
connection when there is one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QFileSystemWatcher,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeView, QWidget

from app.connection import SupervisorConnection
from app.library import WorkflowEntry, scan
from app.resources import icon
from app.theme import Theme
from automation.blocks.registry import BlockRegistry

PATH_ROLE = Qt.ItemDataRole.UserRole + 10
_COLUMNS = ("Workflow", "State", "Triggers", "Last run")
_RESCAN_DELAY_MS = 250
#: pixels a column wants before it is shown: the name column's first
NAME_ROOM = 190
TRIGGERS_ROOM = 80
LAST_RUN_ROOM = 80

Index = QModelIndex | QPersistentModelIndex


class WorkflowListModel(QAbstractTableModel):
    refreshed = Signal()

    def __init__(
        self,
        folder: Path,
        registry: BlockRegistry,
        theme: Theme,
        connection: SupervisorConnection | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.folder = folder
        self.registry = registry
        self.theme = theme
        self.connection = connection
        self.entries: list[WorkflowEntry] = []
        self._watcher = QFileSystemWatcher(self)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(_RESCAN_DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        self._watcher.directoryChanged.connect(lambda _p: self._timer.start())
        self._watcher.fileChanged.connect(lambda _p: self._timer.start())
        if connection is not None:
            connection.subscribe(self._connection_changed)
        self.refresh()

    def refresh(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.beginResetModel()
        self.entries = scan(self.folder, self.registry)
        self.endResetModel()
        watched = set(self._watcher.files()) | set(self._watcher.directories())
        wanted = {str(self.folder)} | {str(entry.path) for entry in self.entries}
        if watched - wanted:
            self._watcher.removePaths(sorted(watched - wanted))
        if wanted - watched:
            self._watcher.addPaths(sorted(wanted - watched))
        self.refreshed.emit()

    def _connection_changed(self) -> None:
        if self.entries:
            self.dataChanged.emit(self.index(0, 3), self.index(len(self.entries) - 1, 3))

    def entry(self, index: Index) -> WorkflowEntry | None:
        if not index.isValid() or index.row() >= len(self.entries):
            return None
        return self.entries[index.row()]

    def row_of(self, path: Path) -> int | None:
        for row, entry in enumerate(self.entries):
            if entry.path == path:
                return row
        return None

    # -- the model ---------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt's API)
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(_COLUMNS)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return _COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        entry = self.entry(index)
        if entry is None:
            return None
        column = index.column()
        if role == PATH_ROLE:
            return str(entry.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(entry)
        if column == 0:
            if role == Qt.ItemDataRole.DisplayRole:
                return entry.name
            if role == Qt.ItemDataRole.DecorationRole:
                return icon("valid" if entry.valid else "invalid")
            if role == Qt.ItemDataRole.AccessibleTextRole:
                return (
                    f"{entry.name}, {'valid' if entry.valid else f'{len(entry.issues)} problems'}"
                )
        if column == 1:
            if role == Qt.ItemDataRole.DisplayRole:
                return "✓" if entry.valid else f"✗ {len(entry.issues)}"
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor(self.theme.ok if entry.valid else self.theme.error)
        if column == 2 and role == Qt.ItemDataRole.DisplayRole:
            return ", ".join(entry.triggers) if entry.triggers else "manual"
        if column == 3 and role == Qt.ItemDataRole.DisplayRole:
            status = self.connection.last_run_status(entry.name) if self.connection else None
            return status or "—"
        return None

    def _tooltip(self, entry: WorkflowEntry) -> str:
        lines = [f"<b>{_esc(entry.name)}</b><br>{_esc(str(entry.path))}"]
        lines.append("triggers: " + _esc(", ".join(entry.triggers) or "manual only"))
        if entry.issues:
            count = len(entry.issues)
            lines.append(f"<b>{count} problem{'s' if count != 1 else ''}:</b>")
            lines += [f"• {_esc(issue)}" for issue in entry.issues[:20]]
            if count > 20:
                lines.append(f"… and {count - 20} more")
        else:
            lines.append("valid")
        return "<br>".join(lines)


class WorkflowListView(QTreeView):
    """The list widget: one row per workflow, Enter or double-click opens it."""

    open_requested = Signal(Path)

    def __init__(self, model: WorkflowListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAccessibleName("Workflows")
        # "desktop-click-image" in a narrow pane reads "deskt…mage", not "deskto…":
        # the ends tell names apart (the tooltip has the whole name)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        # A cron line can be long: it gets a fixed, user-resizable width and is elided (the
        # tooltip has it whole), so the names keep the room in a narrow pane.
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(2, 80)
        header.setMinimumSectionSize(40)
        self._fit_columns()
        self.doubleClicked.connect(self._open)
        self.activated.connect(self._open)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Names first: in a narrow pane the triggers, then the last run, give way.

        Squeezed beside three other columns a name was cut to "a…s"; what a
        hidden column said is in the row's tooltip, and widening the pane brings
        it back.
        """
        width = self.viewport().width()
        self.setColumnHidden(2, width < NAME_ROOM + TRIGGERS_ROOM + LAST_RUN_ROOM)
        self.setColumnHidden(3, width < NAME_ROOM + LAST_RUN_ROOM)

    @property
    def list_model(self) -> WorkflowListModel:
        model = self.model()
        assert isinstance(model, WorkflowListModel)
        return model

    def current_path(self) -> Path | None:
        entry = self.list_model.entry(self.currentIndex())
        return entry.path if entry else None

    def select_path(self, path: Path) -> None:
        row = self.list_model.row_of(path)
        if row is not None:
            self.setCurrentIndex(self.list_model.index(row, 0))

    def _open(self, index: QModelIndex) -> None:
        entry = self.list_model.entry(index)
        if entry is not None:
            self.open_requested.emit(entry.path)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
