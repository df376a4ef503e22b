"""The canvas widget: zoom (ctrl+wheel), pan (middle drag or space+drag), rubber-band selection,
drops from the block palette, and keyboard navigation between nodes."""

from __future__ import annotations

import math

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsView, QWidget

from app.editor.scene import EditorScene

#: MIME type of a block dragged from the palette (the payload is the block id).
BLOCK_MIME = "application/x-deskpilot-block"
_MIN_ZOOM = 0.1
_MAX_ZOOM = 3.0
_GRID = 24.0


class EditorView(QGraphicsView):
    #: (block id, scene position) when a block is dropped from the palette
    block_dropped = Signal(str, QPointF)
    #: keyboard nudge of the selection: (dx, dy)
    nudge_requested = Signal(float, float)
    zoom_changed = Signal(float)

    def __init__(self, scene: EditorScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Workflow canvas")
        self._panning: QPoint | None = None
        self._space_down = False

    @property
    def editor_scene(self) -> EditorScene:
        scene = self.scene()
        assert isinstance(scene, EditorScene)
        return scene

    def zoom(self) -> float:
        return self.transform().m11()

    # -- zoom and fit ---------------------------------------------------------------------
    def set_zoom(self, factor: float) -> None:
        factor = max(_MIN_ZOOM, min(_MAX_ZOOM, factor))
        current = self.zoom()
        if current > 0 and not math.isclose(current, factor):
            self.scale(factor / current, factor / current)
            self.zoom_changed.emit(factor)

    def zoom_by(self, step: float) -> None:
        self.set_zoom(self.zoom() * step)

    def fit_all(self) -> None:
        """Show every node, no larger than 100% (a small workflow is not blown up)."""
        items = self.editor_scene.itemsBoundingRect()
        if items.isEmpty():
            self.resetTransform()
            self.centerOn(0, 0)
            return
        rect = items.adjusted(-40, -40, 40, 40)
        self.setSceneRect(rect.united(self.sceneRect()))
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 1.0:
            self.set_zoom(1.0)
            self.centerOn(rect.center())
        self.set_zoom(self.zoom())
        self.zoom_changed.emit(self.zoom())

    def show_overview(self, readable: float = 0.75) -> None:
        """Fit the workflow, but never below a zoom where labels are readable.

        What does not fit at that zoom starts at its top-left corner; Fit
        (Ctrl+0) still shows everything at any size.
        """
        self.fit_all()
        if self.zoom() >= readable:
            return
        items = self.editor_scene.itemsBoundingRect().adjusted(-40, -40, 40, 40)
        self.set_zoom(readable)
        visible = self.mapToScene(self.viewport().rect()).boundingRect()
        self.centerOn(items.left() + visible.width() / 2, items.top() + visible.height() / 2)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt's name)
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = event.angleDelta().y() / 120.0
            self.zoom_by(1.15**steps)
            event.accept()
            return
        super().wheelEvent(event)

    # -- panning ----------------------------------------------------------------------------
    def _begin_pan(self, event: QMouseEvent) -> None:
        self._panning = event.position().toPoint()
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space_down
        ):
            self._begin_pan(event)
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._panning is not None:
            delta = event.position().toPoint() - self._panning
            self._panning = event.position().toPoint()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._panning is not None:
            self._panning = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    # -- keyboard -----------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = Qt.Key(event.key())
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if key == Qt.Key.Key_Escape:
            self.editor_scene.cancel_drag()
            self.editor_scene.clearSelection()
            return
        if key in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab):
            self.select_next(backwards=key == Qt.Key.Key_Backtab)
            return
        step = 50.0 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 10.0
        arrows = {
            Qt.Key.Key_Left: (-step, 0.0),
            Qt.Key.Key_Right: (step, 0.0),
            Qt.Key.Key_Up: (0.0, -step),
            Qt.Key.Key_Down: (0.0, step),
        }
        if key in arrows and self.editor_scene.selected_node_ids():
            self.nudge_requested.emit(*arrows[key])
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().unsetCursor()
            return
        super().keyReleaseEvent(event)

    def focusNextPrevChild(self, next: bool) -> bool:  # noqa: N802, A002 (Qt's signature)
        # Tab moves between nodes while the canvas has focus; ctrl+Tab leaves it
        return False

    def select_next(self, *, backwards: bool = False) -> None:
        """Select the next node in reading order (top to bottom, left to right) and show it."""
        items = sorted(
            self.editor_scene.node_items.values(),
            key=lambda i: (round(i.pos().x() / 200), i.pos().y()),
        )
        if not items:
            return
        selected = self.editor_scene.selected_node_ids()
        ids = [item.node_id for item in items]
        if selected and selected[0] in ids:
            index = ids.index(selected[0]) + (-1 if backwards else 1)
        else:
            index = len(ids) - 1 if backwards else 0
        item = items[index % len(items)]
        self.editor_scene.select_nodes([item.node_id])
        self.ensureVisible(item, 40, 40)

    # -- drops from the palette -----------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasFormat(BLOCK_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if event.mimeData().hasFormat(BLOCK_MIME):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        if event.mimeData().hasFormat(BLOCK_MIME):
            block_id = bytes(event.mimeData().data(BLOCK_MIME).data()).decode()
            self.block_dropped.emit(block_id, self.mapToScene(event.position().toPoint()))
            event.acceptProposedAction()
            return
        super().dropEvent(event)

    # -- background grid ----------------------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF | QRect) -> None:  # noqa: N802
        rect = QRectF(rect)
        super().drawBackground(painter, rect)
        if self.zoom() < 0.35:
            return  # a grid this dense is noise
        painter.setPen(QPen(QColor(self.editor_scene.theme.grid), 1.0 / max(self.zoom(), 0.01)))
        left = math.floor(rect.left() / _GRID) * _GRID
        top = math.floor(rect.top() / _GRID) * _GRID
        x = left
        while x < rect.right():
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            x += _GRID
        y = top
        while y < rect.bottom():
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            y += _GRID
