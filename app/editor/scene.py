"""The canvas model: node and link items kept in step with a ``WorkflowDocument``.

The scene listens to the document and never edits it.  What the user does
with the mouse comes out as signals (``connect_requested``, ``nodes_moved``)
that the editor turns into undoable commands; the commands change the
document, and the document's events move the items here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSceneMouseEvent,
    QToolTip,
)

from app.editor.document import (
    DocumentEvent,
    DocumentReset,
    LinkAdded,
    LinkRemoved,
    NodeAdded,
    NodeChanged,
    NodeRemoved,
    WorkflowDocument,
)
from app.editor.layout import layered_layout
from app.editor.link_item import LinkItem, curve
from app.editor.node_item import WIDTH, NodeItem
from app.editor.pins import BlockPins, Direction, PinSpec, block_pins, refusal, unknown_block_pins
from app.theme import Theme
from automation.blocks.registry import BlockRegistry
from automation.model import Link

Position = tuple[float, float]


class EditorScene(QGraphicsScene):
    #: a Link the user drew between two compatible pins
    connect_requested = Signal(object)
    #: {node_id: (old document position or None, new position)} after a mouse drag
    nodes_moved = Signal(object)
    #: a sentence for the status bar (why a link was refused, what to do next)
    message = Signal(str)

    def __init__(
        self,
        document: WorkflowDocument,
        registry: BlockRegistry,
        theme: Theme,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.registry = registry
        self.theme = theme
        self.node_items: dict[str, NodeItem] = {}
        self.link_items: dict[Link, LinkItem] = {}
        self._links_by_node: dict[str, set[Link]] = defaultdict(set)
        #: where nodes the file does not place were put by the automatic layout
        self._auto_positions: dict[str, QPointF] = {}
        self._issues: dict[str, list[str]] = {}
        self._drag: tuple[NodeItem, PinSpec] | None = None
        self._drag_path: QGraphicsPathItem | None = None
        self._press_positions: dict[str, QPointF] = {}
        self.setBackgroundBrush(QColor(theme.canvas))
        self.rebuild()
        document.subscribe(self._on_document)

    def detach(self) -> None:
        """Stop following the document (before the scene is thrown away)."""
        self.document.unsubscribe(self._on_document)

    # -- building ------------------------------------------------------------------
    def pins_for(self, node_id: str) -> BlockPins:
        block = self.registry.get(str(self.document.nodes[node_id]["block"]))
        if block is not None:
            return block_pins(block)
        links = self.document.links_of(node_id)
        return unknown_block_pins(
            (lnk.target_pin for lnk in links if lnk.target == node_id),
            (lnk.source_pin for lnk in links if lnk.source == node_id),
        )

    def _make_node_item(self, node_id: str) -> NodeItem:
        node = self.document.nodes[node_id]
        block = self.registry.get(str(node["block"]))
        title = str(node.get("title") or (block.title if block else "") or node["block"])
        item = NodeItem(
            node_id,
            block_id=str(node["block"]),
            title=title,
            category=block.category if block else "other",
            pins=self.pins_for(node_id),
            theme=self.theme,
            known=block is not None,
            description=block.summary() if block else "",
        )
        inputs = node.get("with")
        item.set_values(dict(inputs) if isinstance(inputs, dict) else {})
        item.setOpacity(0.55 if node.get("disabled") else 1.0)
        item.set_issues(self._issues.get(node_id, []))
        item.set_breakpoint(bool(node.get("break")))
        return item

    @property
    def breakpoints(self) -> set[str]:
        """Nodes the step debugger pauses before: ``break: true`` in the file, saved with it."""
        return {node_id for node_id, node in self.document.nodes.items() if node.get("break")}

    def rebuild(self) -> None:
        """Recreate every item from the document (on open and after a reset)."""
        keep = {nid: item.pos() for nid, item in self.node_items.items()}
        selected = set(self.selected_node_ids())
        for item in list(self.node_items.values()) + list(self.link_items.values()):
            self.removeItem(item)
        self.node_items.clear()
        self.link_items.clear()
        self._links_by_node.clear()
        unplaced: list[str] = []
        for node_id, node in self.document.nodes.items():
            item = self._make_node_item(node_id)
            self.node_items[node_id] = item
            position = _position(node.get("position"))
            if position is not None:
                item.setPos(*position)
            elif node_id in keep:
                item.setPos(keep[node_id])
            else:
                unplaced.append(node_id)
            self.addItem(item)
            item.setSelected(node_id in selected)
        if unplaced:
            self._place(unplaced)
        for link in self.document.links:
            self._add_link_item(link)
        self._refresh_connected(self.node_items)

    def _place(self, node_ids: Sequence[str]) -> None:
        """Lay out nodes the file gives no position, to the right of those it places."""
        placed = [item for nid, item in self.node_items.items() if nid not in set(node_ids)]
        origin_x = max((i.pos().x() + WIDTH for i in placed), default=-90.0) + 90.0
        wanted = set(node_ids)
        edges = [(lnk.source, lnk.target) for lnk in self.document.links
                 if lnk.source in wanted and lnk.target in wanted]  # fmt: skip
        sizes = {nid: (WIDTH, self.node_items[nid].height) for nid in node_ids}
        for node_id, (x, y) in layered_layout(node_ids, edges, sizes, (origin_x, 0.0)).items():
            point = QPointF(x, y)
            self._auto_positions[node_id] = point
            self.node_items[node_id].setPos(point)
            self._node_moved(self.node_items[node_id])

    def auto_layout_positions(self) -> dict[str, Position]:
        """Where the automatic layout would put every node (for the layout command)."""
        ids = list(self.document.nodes)
        edges = [(lnk.source, lnk.target) for lnk in self.document.links]
        sizes = {nid: (WIDTH, self.node_items[nid].height) for nid in ids}
        return layered_layout(ids, edges, sizes)

    def _add_link_item(self, link: Link) -> None:
        source = self.node_items.get(link.source)
        target = self.node_items.get(link.target)
        if source is None or target is None:
            return  # a dangling link: validation reports it
        spec = source.pins.get("out", link.source_pin)
        colour = self.theme.pin_color(spec.types if spec else None)
        if link.source_pin == "error":
            colour = QColor(self.theme.error)
        item = LinkItem(link, colour, QColor(self.theme.highlight))
        item.set_ends(
            source.pin_position("out", link.source_pin), target.pin_position("in", link.target_pin)
        )
        self.addItem(item)
        self.link_items[link] = item
        self._links_by_node[link.source].add(link)
        self._links_by_node[link.target].add(link)

    def _remove_link_item(self, link: Link) -> None:
        item = self.link_items.pop(link, None)
        if item is not None:
            self.removeItem(item)
        self._links_by_node[link.source].discard(link)
        self._links_by_node[link.target].discard(link)

    def _refresh_connected(self, node_ids: Iterable[str]) -> None:
        for node_id in node_ids:
            item = self.node_items.get(node_id)
            if item is None:
                continue
            pins: set[tuple[Direction, str]] = set()
            for link in self._links_by_node.get(node_id, ()):
                if link.source == node_id:
                    pins.add(("out", link.source_pin))
                if link.target == node_id:
                    pins.add(("in", link.target_pin))
            item.set_connected(pins)

    def _node_moved(self, item: NodeItem) -> None:
        for link in self._links_by_node.get(item.node_id, ()):
            link_item = self.link_items.get(link)
            source, target = self.node_items.get(link.source), self.node_items.get(link.target)
            if link_item is not None and source is not None and target is not None:
                link_item.set_ends(
                    source.pin_position("out", link.source_pin),
                    target.pin_position("in", link.target_pin),
                )

    # -- following the document ----------------------------------------------------------
    def _on_document(self, event: DocumentEvent) -> None:
        if isinstance(event, NodeAdded):
            item = self._make_node_item(event.node_id)
            self.node_items[event.node_id] = item
            position = _position(self.document.nodes[event.node_id].get("position"))
            if position is not None:
                item.setPos(*position)
            self.addItem(item)
            if position is None:
                self._place([event.node_id])
        elif isinstance(event, NodeRemoved):
            item = self.node_items.pop(event.node_id)
            self.removeItem(item)
            self._auto_positions.pop(event.node_id, None)
        elif isinstance(event, LinkAdded):
            self._add_link_item(event.link)
            self._refresh_connected((event.link.source, event.link.target))
        elif isinstance(event, LinkRemoved):
            self._remove_link_item(event.link)
            self._refresh_connected((event.link.source, event.link.target))
        elif isinstance(event, NodeChanged):
            self._node_changed(event.node_id, event.key)
        elif isinstance(event, DocumentReset):
            self.rebuild()

    def _node_changed(self, node_id: str, key: str) -> None:
        item = self.node_items[node_id]
        node = self.document.nodes[node_id]
        if key == "position":
            position = _position(node.get("position"))
            if position is not None:
                item.setPos(*position)
            elif node_id in self._auto_positions:
                item.setPos(self._auto_positions[node_id])
            self._node_moved(item)
        elif key == "with":
            inputs = node.get("with")
            item.set_values(dict(inputs) if isinstance(inputs, dict) else {})
        elif key == "disabled":
            item.setOpacity(0.55 if node.get("disabled") else 1.0)
        elif key == "break":
            item.set_breakpoint(bool(node.get("break")))
        elif key == "title":
            block = self.registry.get(str(node["block"]))
            item.set_title(
                str(node.get("title") or (block.title if block else "") or node["block"])
            )
        elif key == "block":
            self.rebuild()

    # -- what the editor asks -------------------------------------------------------------
    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_links(self) -> list[Link]:
        return [i.link for i in self.selectedItems() if isinstance(i, LinkItem)]

    def select_nodes(self, node_ids: Iterable[str]) -> None:
        wanted = set(node_ids)
        self.clearSelection()
        for node_id in wanted:
            item = self.node_items.get(node_id)
            if item is not None:
                item.setSelected(True)

    def display_position(self, node_id: str) -> Position:
        pos = self.node_items[node_id].pos()
        return (pos.x(), pos.y())

    def set_issues(self, issues: Mapping[str, Sequence[str]]) -> None:
        """Mark nodes with validation problems (an empty mapping clears every marker)."""
        self._issues = {k: list(v) for k, v in issues.items()}
        for node_id, item in self.node_items.items():
            item.set_issues(self._issues.get(node_id, []))

    def set_node_status(self, node_id: str, status: str | None) -> None:
        """Light a node by run status (the live run view's hook)."""
        item = self.node_items.get(node_id)
        if item is not None:
            item.set_status(status)

    def clear_statuses(self) -> None:
        for item in self.node_items.values():
            item.set_status(None)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.setBackgroundBrush(QColor(theme.canvas))
        self.rebuild()

    # -- drawing links with the mouse ---------------------------------------------------
    def _pin_under(self, scene_pos: QPointF) -> tuple[NodeItem, PinSpec] | None:
        for item in self.items(scene_pos):
            if isinstance(item, NodeItem):
                pin = item.pin_at(item.mapFromScene(scene_pos))
                return (item, pin) if pin is not None else None
        return None

    def link_between(
        self, first: tuple[NodeItem, PinSpec], second: tuple[NodeItem, PinSpec]
    ) -> tuple[Link | None, str | None]:
        """The link two pins would make, or why they cannot be linked."""
        a_pin, b_pin = first[1], second[1]
        if a_pin.direction == b_pin.direction:
            side = "input" if a_pin.direction == "in" else "output"
            return (
                None,
                f"both pins are {side}s; link an output (right side) to an input (left side)",
            )
        (src_item, src), (dst_item, dst) = (
            (first, second) if a_pin.direction == "out" else (second, first)
        )
        if src_item is dst_item:
            return None, "a node cannot feed itself; use a control.while or control.for_each loop"
        reason = refusal(src, dst)
        if reason is not None:
            return (
                None,
                f"cannot link {src_item.node_id}.{src.name} to {dst_item.node_id}.{dst.name}: {reason}",
            )
        link = Link(
            source=src_item.node_id,
            source_pin=src.name,
            target=dst_item.node_id,
            target_pin=dst.name,
        )
        if link in self.link_items:
            return None, f"{link} is already linked"
        return link, None

    def _start_drag(self, item: NodeItem, pin: PinSpec, scene_pos: QPointF) -> None:
        self._drag = (item, pin)
        path = QGraphicsPathItem()
        pen = QPen(self.theme.pin_color(pin.types), 2.0, Qt.PenStyle.DashLine)
        path.setPen(pen)
        path.setZValue(5)
        self.addItem(path)
        self._drag_path = path
        for other in self.node_items.values():
            acceptable: set[tuple[Direction, str]] = set()
            candidates = other.pins.outputs if pin.direction == "in" else other.pins.inputs
            for candidate in candidates:
                link, _reason = self.link_between((item, pin), (other, candidate))
                if link is not None:
                    acceptable.add((candidate.direction, candidate.name))
            other.set_acceptable(acceptable)
        self._update_drag(scene_pos)
        self.message.emit("Drop on a highlighted pin to link; Esc cancels")

    def _update_drag(self, scene_pos: QPointF) -> None:
        if self._drag is None or self._drag_path is None:
            return
        item, pin = self._drag
        anchor = item.pin_position(pin.direction, pin.name)
        if pin.direction == "out":
            self._drag_path.setPath(curve(anchor, scene_pos))
        else:
            self._drag_path.setPath(curve(scene_pos, anchor))

    def cancel_drag(self) -> None:
        if self._drag_path is not None:
            self.removeItem(self._drag_path)
        self._drag = None
        self._drag_path = None
        for item in self.node_items.values():
            item.set_acceptable(None)

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            hit = self._pin_under(event.scenePos())
            if hit is not None:
                self._start_drag(*hit, event.scenePos())
                event.accept()
                return
        super().mousePressEvent(event)
        self._press_positions = {
            nid: self.node_items[nid].pos() for nid in self.selected_node_ids()
        }

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if self._drag is not None:
            self._update_drag(event.scenePos())
            hit = self._pin_under(event.scenePos())
            if hit is not None:
                _link, reason = self.link_between(self._drag, hit)
                if reason:
                    self.message.emit(reason)
            event.accept()
            return
        super().mouseMoveEvent(event)
        if event.buttons() & Qt.MouseButton.LeftButton and self._press_positions:
            for node_id in self._press_positions:
                item = self.node_items.get(node_id)
                if item is not None:
                    self._node_moved(item)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if self._drag is not None:
            start = self._drag
            hit = self._pin_under(event.scenePos())
            self.cancel_drag()
            if hit is None:
                self.message.emit("Link cancelled: drop it on a pin of another node")
            else:
                link, reason = self.link_between(start, hit)
                if link is not None:
                    self.connect_requested.emit(link)
                elif reason:
                    self.message.emit(reason)
                    QToolTip.showText(event.screenPos(), reason)
            event.accept()
            return
        super().mouseReleaseEvent(event)
        self._emit_moves()

    def _emit_moves(self) -> None:
        moves: dict[str, tuple[Position | None, Position]] = {}
        for node_id, before in self._press_positions.items():
            item = self.node_items.get(node_id)
            if item is None or item.pos() == before:
                continue
            old = _position(self.document.nodes[node_id].get("position"))
            moves[node_id] = (old, (item.pos().x(), item.pos().y()))
        self._press_positions = {}
        if moves:
            self.nodes_moved.emit(moves)


def _position(value: Any) -> Position | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        try:
            return (float(value[0]), float(value[1]))
        except (TypeError, ValueError):
            return None
    return None
