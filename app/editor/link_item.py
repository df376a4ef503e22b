"""A link on the canvas: a bezier curve from an output pin to an input pin."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QStyleOptionGraphicsItem, QWidget

from automation.model import Link


def curve(start: QPointF, end: QPointF) -> QPainterPath:
    """An S-curve that leaves rightwards and arrives from the left, even when going back."""
    path = QPainterPath(start)
    reach = max(60.0, abs(end.x() - start.x()) * 0.5, abs(end.y() - start.y()) * 0.25)
    path.cubicTo(QPointF(start.x() + reach, start.y()), QPointF(end.x() - reach, end.y()), end)
    return path


class LinkItem(QGraphicsPathItem):
    def __init__(self, link: Link, colour: QColor, highlight: QColor) -> None:
        super().__init__()
        self.link = link
        self.colour = colour
        self.highlight = highlight
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        self.setPen(QPen(colour, 2.0))
        self.setToolTip(str(link).replace("->", "→"))
        self._shape = QPainterPath()

    def set_ends(self, start: QPointF, end: QPointF) -> None:
        self.setPath(curve(start, end))
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        self._shape = stroker.createStroke(self.path())

    def shape(self) -> QPainterPath:
        return self._shape

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(
            self.highlight if self.isSelected() else self.colour, 3.0 if self.isSelected() else 2.0
        )
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())
