"""How one node looks on the canvas: a card with a header and a row per pin.

Nodes do not override ``itemChange`` to follow their own moves: the scene
re-routes links after it moves nodes (a drag, an undo, a layout), which
saves a Python call for every position change while a large workflow opens.

Pins are painted by the node and hit-tested by geometry rather than being
child items: a workflow of 1,000 nodes would otherwise create over 10,000
extra graphics items and make opening it several times slower.  Labels are
elided once, when the node's content changes, not on every paint.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsSceneHoverEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

from app.editor.pins import BlockPins, Direction, PinSpec
from app.theme import BREAKPOINT_COLOR, Theme
from automation.model import ERROR_PIN

WIDTH = 230.0
HEADER = 48.0
ROW = 20.0
FOOT = 8.0
PIN_RADIUS = 5.0
_HIT_RADIUS = 10.0
_LABEL_PAD = 12.0

_TITLE_FONT = QFont()
_TITLE_FONT.setPointSizeF(9.5)
_TITLE_FONT.setBold(True)
_SUB_FONT = QFont()
_SUB_FONT.setPointSizeF(7.5)
_PIN_FONT = QFont()
_PIN_FONT.setPointSizeF(8.0)


class NodeItem(QGraphicsItem):
    """A node card.  The scene owns the document; this item only displays and hit-tests."""

    def __init__(
        self,
        node_id: str,
        *,
        block_id: str,
        title: str,
        category: str,
        pins: BlockPins,
        theme: Theme,
        known: bool = True,
        description: str = "",
    ) -> None:
        super().__init__()
        self.node_id = node_id
        self.block_id = block_id
        self.pins = pins
        self.theme = theme
        self.known = known
        self.description = description
        self.category = category
        self._title = title
        self.issues: list[str] = []
        self.status: str | None = None
        #: The step debugger pauses before this node (a red mark on its left edge).
        self.breakpoint = False
        self.connected: set[tuple[Direction, str]] = set()
        self.values: dict[str, Any] = {}
        #: while a link is dragged: pins that would accept it (None: no drag in progress)
        self.acceptable: set[tuple[Direction, str]] | None = None
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemIsFocusable
        )
        self.setAcceptHoverEvents(True)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(1)
        self._rows = max(len(pins.inputs), len(pins.outputs))
        self._rect = QRectF(0, 0, WIDTH, HEADER + self._rows * ROW + FOOT)
        self._labels: list[tuple[QPointF, str, Qt.AlignmentFlag, PinSpec]] = []
        self._texts()

    # -- content -------------------------------------------------------------------
    @property
    def height(self) -> float:
        return self._rect.height()

    def set_title(self, title: str) -> None:
        if title != self._title:
            self._title = title
            self._texts()
            self.update()

    def set_issues(self, issues: Sequence[str]) -> None:
        if list(issues) != self.issues:
            self.issues = list(issues)
            self.update()

    def set_status(self, status: str | None) -> None:
        """Show a run status badge (queued, running, succeeded, failed...); None hides it."""
        if status != self.status:
            self.status = status
            self.update()

    def set_breakpoint(self, on: bool) -> None:
        if on != self.breakpoint:
            self.breakpoint = on
            self.update()

    def set_connected(self, pins: Iterable[tuple[Direction, str]]) -> None:
        pins = set(pins)
        if pins != self.connected:
            self.connected = pins
            self.update()

    def set_values(self, values: dict[str, Any]) -> None:
        self.values = dict(values)

    def set_acceptable(self, pins: set[tuple[Direction, str]] | None) -> None:
        if pins != self.acceptable:
            self.acceptable = pins
            self.update()

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.update()

    def _texts(self) -> None:
        title_metrics = QFontMetrics(_TITLE_FONT)
        sub_metrics = QFontMetrics(_SUB_FONT)
        pin_metrics = QFontMetrics(_PIN_FONT)
        room = WIDTH - 2 * _LABEL_PAD - 40
        self._title_text = title_metrics.elidedText(
            self._title, Qt.TextElideMode.ElideRight, int(room)
        )
        sub = f"{self.node_id} · {self.block_id}"
        self._sub_text = sub_metrics.elidedText(sub, Qt.TextElideMode.ElideMiddle, int(room + 20))
        half = WIDTH / 2 - _LABEL_PAD - 2
        self._labels = []
        for index, pin in enumerate(self.pins.inputs):
            label = pin.name + (" *" if pin.required else "")
            text = pin_metrics.elidedText(label, Qt.TextElideMode.ElideRight, int(half))
            self._labels.append(
                (self._pin_center("in", index), text, Qt.AlignmentFlag.AlignLeft, pin)
            )
        for index, pin in enumerate(self.pins.outputs):
            text = pin_metrics.elidedText(pin.name, Qt.TextElideMode.ElideRight, int(half))
            self._labels.append(
                (self._pin_center("out", index), text, Qt.AlignmentFlag.AlignRight, pin)
            )

    # -- geometry ------------------------------------------------------------------
    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt's name)
        return self._rect.adjusted(-PIN_RADIUS - 2, -8, PIN_RADIUS + 2, 2)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(self._rect.adjusted(-PIN_RADIUS, 0, PIN_RADIUS, 0), 6, 6)
        return path

    def _pin_center(self, direction: Direction, index: int) -> QPointF:
        y = HEADER + index * ROW + ROW / 2
        return QPointF(0 if direction == "in" else WIDTH, y)

    def pin_position(self, direction: Direction, name: str) -> QPointF:
        """Centre of a pin in scene coordinates (the node's last row when it is unknown)."""
        pins = self.pins.inputs if direction == "in" else self.pins.outputs
        for index, pin in enumerate(pins):
            if pin.name == name:
                return self.mapToScene(self._pin_center(direction, index))
        return self.mapToScene(self._pin_center(direction, max(len(pins) - 1, 0)))

    def pin_at(self, local: QPointF) -> PinSpec | None:
        """The pin under a point in item coordinates: near the dot or on its label."""
        row = int((local.y() - HEADER) // ROW)
        if row < 0 or local.y() < HEADER:
            return None
        if local.x() <= WIDTH * 0.45 and row < len(self.pins.inputs):
            centre = self._pin_center("in", row)
            if local.x() >= -_HIT_RADIUS and abs(local.y() - centre.y()) <= _HIT_RADIUS:
                return self.pins.inputs[row]
        if local.x() >= WIDTH * 0.55 and row < len(self.pins.outputs):
            centre = self._pin_center("out", row)
            if local.x() <= WIDTH + _HIT_RADIUS and abs(local.y() - centre.y()) <= _HIT_RADIUS:
                return self.pins.outputs[row]
        return None

    # -- painting ------------------------------------------------------------------
    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        theme = self.theme
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        accent = theme.category_color(self.category) if self.known else QColor(theme.error)
        if self.status == "paused":
            border = QPen(theme.status_color("paused"), 3.0)
        elif self.isSelected():
            border = QPen(QColor(theme.highlight), 2.2)
        elif self.issues:
            border = QPen(QColor(theme.error), 1.8)
        else:
            border = QPen(QColor(theme.node_border), 1.0)
        painter.setPen(border)
        painter.setBrush(QColor(theme.node_body))
        painter.drawRoundedRect(self._rect, 6, 6)
        # header: a tinted band with the category colour as a strip on top
        header = QRectF(1, 1, WIDTH - 2, HEADER - 4)
        tint = QColor(accent)
        tint.setAlpha(48 if theme.dark else 30)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(tint)
        painter.drawRoundedRect(header, 5, 5)
        painter.setBrush(accent)
        painter.drawRoundedRect(QRectF(1, 1, WIDTH - 2, 4), 2, 2)
        painter.setPen(QColor(theme.text))
        painter.setFont(_TITLE_FONT)
        painter.drawText(
            QRectF(_LABEL_PAD, 8, WIDTH, 18), Qt.AlignmentFlag.AlignLeft, self._title_text
        )
        painter.setPen(QColor(theme.muted))
        painter.setFont(_SUB_FONT)
        painter.drawText(
            QRectF(_LABEL_PAD, 27, WIDTH, 14), Qt.AlignmentFlag.AlignLeft, self._sub_text
        )
        self._paint_badges(painter)
        self._paint_pins(painter)

    def _paint_badges(self, painter: QPainter) -> None:
        theme = self.theme
        if self.breakpoint:
            # on the left edge, where a debugger's gutter mark is, clear of the pins
            painter.setPen(QPen(QColor("#ffffff"), 2.0))
            painter.setBrush(QColor(BREAKPOINT_COLOR))
            painter.drawEllipse(QPointF(1, 16), 6.0, 6.0)  # inside the bounding rect
        x = WIDTH - 20
        if self.status:
            painter.setPen(QPen(QColor(theme.node_body), 1.5))
            painter.setBrush(theme.status_color(self.status))
            painter.drawEllipse(QPointF(x, 16), 6.5, 6.5)
            x -= 20
        if self.issues:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(theme.error))
            painter.drawEllipse(QPointF(x, 16), 8, 8)
            painter.setPen(QColor("#ffffff"))
            font = QFont(_SUB_FONT)
            font.setBold(True)
            painter.setFont(font)
            text = "!" if len(self.issues) == 1 else str(min(len(self.issues), 99))
            painter.drawText(QRectF(x - 8, 8, 16, 16), Qt.AlignmentFlag.AlignCenter, text)

    def _paint_pins(self, painter: QPainter) -> None:
        theme = self.theme
        painter.setFont(_PIN_FONT)
        dragging = self.acceptable is not None
        for centre, text, align, pin in self._labels:
            key = (pin.direction, pin.name)
            colour = (
                QColor(theme.error)
                if pin.name == ERROR_PIN and pin.implicit
                else theme.pin_color(pin.types)
            )
            ok = not dragging or key in (self.acceptable or set())
            if not ok:
                colour.setAlpha(60)
            painter.setPen(QPen(colour, 1.6))
            painter.setBrush(QBrush(colour) if key in self.connected else QColor(theme.node_body))
            radius = PIN_RADIUS + (1.5 if dragging and ok else 0)
            painter.drawEllipse(centre, radius, radius)
            text_colour = QColor(theme.muted if pin.implicit else theme.text)
            if not ok:
                text_colour.setAlpha(80)
            painter.setPen(text_colour)
            if align == Qt.AlignmentFlag.AlignLeft:
                box = QRectF(centre.x() + _LABEL_PAD, centre.y() - ROW / 2, WIDTH / 2, ROW)
            else:
                box = QRectF(
                    centre.x() - _LABEL_PAD - WIDTH / 2, centre.y() - ROW / 2, WIDTH / 2, ROW
                )
            painter.drawText(box, align | Qt.AlignmentFlag.AlignVCenter, text)

    # -- tooltips ------------------------------------------------------------------
    def hoverMoveEvent(self, event: QGraphicsSceneHoverEvent) -> None:  # noqa: N802
        pin = self.pin_at(event.pos())
        self.setToolTip(self.pin_tooltip(pin) if pin else self.node_tooltip())
        super().hoverMoveEvent(event)

    def pin_tooltip(self, pin: PinSpec) -> str:
        kind = "input" if pin.direction == "in" else "output"
        lines = [
            f"<b>{pin.name}</b> — {kind}, {pin.type_label}" + (", required" if pin.required else "")
        ]
        if pin.description:
            lines.append(_escape(pin.description))
        if pin.direction == "in" and pin.name in self.values:
            lines.append(f"value: <code>{_escape(repr(self.values[pin.name]))[:200]}</code>")
        return "<br>".join(lines)

    def node_tooltip(self) -> str:
        lines = [f"<b>{_escape(self._title)}</b> ({_escape(self.block_id)})"]
        if not self.known:
            lines.append(f"<span style='color:{self.theme.error}'>block not installed</span>")
        if self.description:
            lines.append(_escape(self.description))
        if self.issues:
            lines.append(f"<b style='color:{self.theme.error}'>Problems:</b>")
            lines += [f"• {_escape(issue)}" for issue in self.issues]
        return "<br>".join(lines)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
