"""The block palette: every registered block, grouped by category, searchable.

Blocks come from the registry, so third-party blocks appear without GUI
code.  Search matches the id, the title and the description, ranked by
``block_search`` (an exact id or title first, descriptions last); the best
match is highlighted and is what Enter adds.  A double-click adds the block
under the pointer, and blocks can be dragged onto the canvas.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeView, QVBoxLayout, QWidget

from app.editor.block_search import Searchable, rank
from app.editor.view import BLOCK_MIME
from app.theme import Theme
from automation.blocks.registry import BlockRegistry

BLOCK_ID_ROLE = Qt.ItemDataRole.UserRole + 1
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 2

_CATEGORY_TITLES = {
    "control": "Control flow",
    "data": "Data",
    "files": "Files",
    "http": "HTTP",
    "notify": "Notify",
    "process": "Apps and processes",
    "desktop": "Desktop",
}


class _BlockModel(QStandardItemModel):
    def mimeTypes(self) -> list[str]:  # noqa: N802 (Qt's name)
        return [BLOCK_MIME]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:  # type: ignore[override]  # noqa: N802
        data = QMimeData()
        for index in indexes:
            block_id = index.data(BLOCK_ID_ROLE)
            if block_id:
                data.setData(BLOCK_MIME, str(block_id).encode())
                data.setText(str(block_id))
                break
        return data


class _Filter(QSortFilterProxyModel):
    """Hides blocks that do not match and sorts the rest best first, groups by their best block."""

    def __init__(self) -> None:
        super().__init__()
        self.setRecursiveFilteringEnabled(True)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterRole(SEARCH_ROLE)
        self._blocks: list[Searchable] = []
        self._order: dict[str, int] = {}
        self._query = ""

    def set_blocks(self, blocks: list[Searchable]) -> None:
        self._blocks = blocks
        self.set_query(self._query)

    def set_query(self, text: str) -> None:
        self._query = text
        ranked = rank(text, self._blocks) if text.split() else []
        self._order = {block.block_id: place for place, (block, _) in enumerate(ranked)}
        self.invalidate()
        self.sort(0, Qt.SortOrder.AscendingOrder)

    def filterAcceptsRow(  # noqa: N802
        self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex
    ) -> bool:
        index = self.sourceModel().index(source_row, 0, source_parent)
        block_id = index.data(BLOCK_ID_ROLE)
        if not block_id:  # a category: shown (recursively) when one of its blocks is
            return not self._query.split()
        return not self._query.split() or str(block_id).lower() in self._order

    def _place(self, index: QModelIndex | QPersistentModelIndex) -> int:
        block_id = index.data(BLOCK_ID_ROLE)
        if block_id:
            return self._order.get(str(block_id).lower(), len(self._order))
        model = self.sourceModel()
        places = [self._place(model.index(row, 0, index)) for row in range(model.rowCount(index))]
        return min(places, default=len(self._order))

    def lessThan(  # noqa: N802
        self,
        left: QModelIndex | QPersistentModelIndex,
        right: QModelIndex | QPersistentModelIndex,
    ) -> bool:
        if not self._order:  # no query: the registry's order
            return left.row() < right.row()
        return (self._place(left), left.row()) < (self._place(right), right.row())


class _SearchField(QLineEdit):
    """Down arrow moves into the list, so the palette works without the mouse."""

    move_down = Signal()
    activated = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Down:
            self.move_down.emit()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.activated.emit()
            return
        super().keyPressEvent(event)


class _BlockTree(QTreeView):
    """Enter adds the current block (``activated`` would also fire on a platform's single click)."""

    enter_pressed = Signal(QModelIndex)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.enter_pressed.emit(self.currentIndex())
            return
        super().keyPressEvent(event)


class BlockPalette(QWidget):
    #: the user chose a block to add (Enter, double-click)
    block_activated = Signal(str)

    def __init__(
        self, registry: BlockRegistry, theme: Theme, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.registry = registry
        self.search = _SearchField()
        self.search.setPlaceholderText("Search blocks  (Ctrl+K)")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search blocks")
        self.model = _BlockModel()
        self.proxy = _Filter()
        self.proxy.setSourceModel(self.model)
        self.tree = _BlockTree()
        self.tree.setModel(self.proxy)
        self.tree.setHeaderHidden(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setAccessibleName("Blocks")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self._populate(theme)
        self.search.textChanged.connect(self._filter)
        self.search.move_down.connect(self._focus_first)
        self.search.activated.connect(self._activate_first)
        self.tree.enter_pressed.connect(self._activate)
        self.tree.doubleClicked.connect(self._activate)

    def _populate(self, theme: Theme) -> None:
        groups: dict[str, QStandardItem] = {}
        searchable: list[Searchable] = []
        root = self.model.invisibleRootItem()
        for block in self.registry:
            group = groups.get(block.category)
            if group is None:
                group = QStandardItem(_CATEGORY_TITLES.get(block.category, block.category.title()))
                group.setEditable(False)
                group.setDragEnabled(False)
                group.setForeground(theme.category_color(block.category))
                font = group.font()
                font.setBold(True)
                group.setFont(font)
                groups[block.category] = group
                root.appendRow(group)
            item = QStandardItem(block.title or block.id)
            item.setEditable(False)
            item.setData(block.id, BLOCK_ID_ROLE)
            summary = block.summary()
            item.setData(
                f"{block.id} {block.title} {summary} {block.category}".lower(), SEARCH_ROLE
            )
            item.setToolTip(
                f"<b>{block.title or block.id}</b> <code>{block.id}</code><br>{summary}"
            )
            item.setStatusTip(f"{block.id}: {summary}")
            group.appendRow(item)
            searchable.append(Searchable.of(block.id, block.title or "", summary, block.category))
        self.proxy.set_blocks(searchable)
        self.tree.expandAll()

    def visible_block_ids(self) -> list[str]:
        """Block ids the current search shows, in display order."""
        ids: list[str] = []
        for row in range(self.proxy.rowCount()):
            group = self.proxy.index(row, 0)
            for child in range(self.proxy.rowCount(group)):
                ids.append(str(self.proxy.index(child, 0, group).data(BLOCK_ID_ROLE)))
        return ids

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _filter(self, text: str) -> None:
        self.proxy.set_query(text)
        self.tree.expandAll()
        best = self._first_block_index() if text.split() else None
        if best is not None:  # show what Enter will add
            self.tree.setCurrentIndex(best)
            self.tree.scrollTo(best)

    def _first_block_index(self) -> QModelIndex | None:
        for row in range(self.proxy.rowCount()):
            group = self.proxy.index(row, 0)
            if self.proxy.rowCount(group):
                return self.proxy.index(0, 0, group)
        return None

    def _focus_first(self) -> None:
        index = self._first_block_index()
        if index is not None:
            self.tree.setCurrentIndex(index)
        self.tree.setFocus(Qt.FocusReason.TabFocusReason)

    def _activate_first(self) -> None:
        index = self._first_block_index()
        if index is not None:
            self._activate(index)

    def _activate(self, index: QModelIndex) -> None:
        block_id = index.data(BLOCK_ID_ROLE)
        if block_id:
            self.block_activated.emit(str(block_id))
