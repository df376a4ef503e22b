"""A full-screen overlay over a frozen screenshot: drag out a region, or click a point.

The overlay shows the desktop as it was when the capture started (a
``Shot``), not the live screen: what the user selects is exactly the pixels
that will be saved, and nothing moves underneath the selection.

* region mode: drag to select (outside the selection is dimmed), release or
  Enter to confirm; a selection the caller refuses (too flat, too small) stays
  on screen with the reason, and the user drags again;
* point mode: click, or move with the arrow keys (Shift: 10 pixels) and press
  Enter;
* Esc cancels either.

A loupe next to the pointer shows the pixels under it ten times enlarged,
with the virtual-desktop coordinates and colour; a selection shows its size.
All coordinates the overlay reports are virtual-desktop pixels (those of the
screenshot, so physical pixels on a scaled display).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import cv2
import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QColor,
    QFont,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QWidget

from app.editor.capture import Shot
from automation.blocks.desktop.display import Box, Image

Mode = Literal["region", "point"]
Validator = Callable[[Box], str | None]

LOUPE_PIXELS = 11  # odd: the pixel under the pointer sits in the middle
LOUPE_ZOOM = 10
_SHADE = QColor(0, 0, 0, 120)
_LIGHT_SHADE = QColor(0, 0, 0, 50)
_ACCENT = QColor(64, 160, 255)
_ERROR = QColor(230, 60, 60)


def to_qimage(image: Image) -> QImage:
    """A QImage that owns a copy of a BGR (or grey) array."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    data = np.ascontiguousarray(image[:, :, :3])
    height, width = data.shape[:2]
    return QImage(data.tobytes(), width, height, width * 3, QImage.Format.Format_BGR888).copy()


def from_qimage(image: QImage) -> Image:
    """A BGR array copy of ``image`` (used to treat a rendered window as a screen)."""
    converted = image.convertToFormat(QImage.Format.Format_BGR888)
    width, height, stride = converted.width(), converted.height(), converted.bytesPerLine()
    data = np.frombuffer(converted.constBits(), np.uint8, count=stride * height)
    return data.reshape(height, stride)[:, : width * 3].reshape(height, width, 3).copy()


class CaptureOverlay(QWidget):
    """Reports ``region_chosen(Box)``, ``point_chosen(x, y)`` or ``cancelled()``, once."""

    region_chosen = Signal(object)
    point_chosen = Signal(int, int)
    cancelled = Signal()

    def __init__(
        self,
        shot: Shot,
        mode: Mode,
        *,
        hint: str = "",
        validate: Validator | None = None,
    ) -> None:
        flags = (
            Qt.WindowType.Window
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
        )
        super().__init__(None, flags)
        self.setObjectName("capture_overlay")
        self.setWindowTitle("Deskpilot capture")
        self.setAccessibleName("Screen capture")
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.shot = shot
        self.mode: Mode = mode
        self.validate = validate
        self.hint = hint or (
            "Drag around what to find. Release or Enter to keep it, Esc to cancel."
            if mode == "region"
            else "Click the point. Arrow keys move by a pixel, Enter keeps it, Esc cancels."
        )
        self.error = ""
        self._image = to_qimage(shot.image)
        self._height, self._width = shot.image.shape[:2]
        #: image pixels: where the drag started, the pixel under the pointer, the selection
        self._anchor: tuple[int, int] | None = None
        self._pointer: tuple[int, int] | None = None
        self._selection: Box | None = None
        self._done = False
        screen = QGuiApplication.primaryScreen()
        ratio = screen.devicePixelRatio() if screen is not None else 1.0
        origin = shot.origin
        self.setGeometry(
            QRect(
                round(origin.x / ratio),
                round(origin.y / ratio),
                max(1, round(origin.width / ratio)),
                max(1, round(origin.height / ratio)),
            )
        )

    # -- public state (virtual-desktop pixels) ---------------------------------------------
    @property
    def selection(self) -> Box | None:
        if self._selection is None:
            return None
        s = self._selection
        return Box(s.x + self.shot.origin.x, s.y + self.shot.origin.y, s.width, s.height)

    @property
    def pointer(self) -> tuple[int, int] | None:
        if self._pointer is None:
            return None
        return self._pointer[0] + self.shot.origin.x, self._pointer[1] + self.shot.origin.y

    def set_selection(self, box: Box) -> None:
        self._selection = self.shot.local(box)
        self.update()

    def set_pointer(self, x: int, y: int) -> None:
        self._pointer = self._clamp(x - self.shot.origin.x, y - self.shot.origin.y)
        self.update()

    def start(self) -> None:
        """Show over everything and take the keyboard."""
        self.show()
        self.raise_()
        self.activateWindow()
        self.setFocus(Qt.FocusReason.ActiveWindowFocusReason)

    # -- geometry ----------------------------------------------------------------------------
    def _clamp(self, x: int, y: int) -> tuple[int, int]:
        return min(max(x, 0), self._width - 1), min(max(y, 0), self._height - 1)

    def _to_image(self, pos: QPointF | QPoint) -> tuple[int, int]:
        sx = self._width / max(1, self.width())
        sy = self._height / max(1, self.height())
        return self._clamp(int(pos.x() * sx), int(pos.y() * sy))

    def _to_widget(self, x: float, y: float) -> QPointF:
        return QPointF(x * self.width() / self._width, y * self.height() / self._height)

    def _widget_rect(self, box: Box) -> QRectF:
        top_left = self._to_widget(box.x, box.y)
        bottom_right = self._to_widget(box.x + box.width, box.y + box.height)
        return QRectF(top_left, bottom_right)

    def _drag_box(self) -> Box | None:
        if self._anchor is None or self._pointer is None:
            return None
        (ax, ay), (px, py) = self._anchor, self._pointer
        x0, x1 = sorted((ax, px))
        y0, y1 = sorted((ay, py))
        return Box(x0, y0, x1 - x0 + 1, y1 - y0 + 1)  # both end pixels included

    # -- input -------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        if event.button() != Qt.MouseButton.LeftButton:
            if event.button() == Qt.MouseButton.RightButton:
                self._cancel()
            return
        self._pointer = self._to_image(event.position())
        if self.mode == "region":
            self._anchor = self._pointer
            self._selection = None
            self.error = ""
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._pointer = self._to_image(event.position())
        if self.mode == "region" and self._anchor is not None:
            self._selection = self._drag_box()
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self._pointer = self._to_image(event.position())
        if self.mode == "point":
            self._confirm()
            return
        if self._anchor is None:
            return
        box = self._drag_box()
        self._anchor = None
        if box is not None and (box.width > 1 or box.height > 1):
            self._selection = box
            self._confirm()
        self.update()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = Qt.Key(event.key())
        if key == Qt.Key.Key_Escape:
            self._cancel()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._confirm()
        elif key in _ARROWS:
            step = 10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1
            dx, dy = _ARROWS[key]
            x, y = self._pointer or (self._width // 2, self._height // 2)
            self._pointer = self._clamp(x + dx * step, y + dy * step)
            self.update()
        else:
            super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self._done:
            self._done = True
            self.cancelled.emit()
        super().closeEvent(event)

    def _cancel(self) -> None:
        if self._done:
            return
        self._done = True
        self.hide()
        self.cancelled.emit()

    def _confirm(self) -> None:
        if self._done:
            return
        if self.mode == "point":
            point = self.pointer
            if point is None:
                return
            self._done = True
            self.hide()
            self.point_chosen.emit(*point)
            return
        box = self.selection
        if box is None:
            self.error = "Drag a rectangle first."
            self.update()
            return
        error = self.validate(box) if self.validate is not None else None
        if error:
            self.error = error  # stay open: the user selects again
            self.update()
            return
        self._done = True
        self.hide()
        self.region_chosen.emit(box)

    # -- painting ----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        try:
            painter.drawImage(QRectF(self.rect()), self._image)
            if self.mode == "region":
                self._paint_selection(painter)
            elif self._pointer is not None:
                self._paint_crosshair(painter)
            self._paint_banner(painter)
            if self._pointer is not None:
                self._paint_loupe(painter)
        finally:
            painter.end()

    def _paint_selection(self, painter: QPainter) -> None:
        whole = QRectF(self.rect())
        if self._selection is None:
            painter.fillRect(whole, _LIGHT_SHADE)
            return
        area = self._widget_rect(self._selection)
        outside = QPainterPath()
        outside.setFillRule(Qt.FillRule.OddEvenFill)
        outside.addRect(whole)
        outside.addRect(area)
        painter.fillPath(outside, _SHADE)
        colour = _ERROR if self.error else _ACCENT
        painter.setPen(QPen(colour, 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(area.adjusted(-1, -1, 0, 0))
        box = self.selection
        assert box is not None
        label = f"{box.width} × {box.height}  at {box.x}, {box.y}"
        self._tag(painter, label, QPointF(area.left(), area.top() - 4), colour)

    def _paint_crosshair(self, painter: QPainter) -> None:
        assert self._pointer is not None
        centre = self._to_widget(self._pointer[0] + 0.5, self._pointer[1] + 0.5)
        painter.setPen(QPen(QColor(255, 255, 255, 150), 1, Qt.PenStyle.DashLine))
        painter.drawLine(QPointF(0, centre.y()), QPointF(self.width(), centre.y()))
        painter.drawLine(QPointF(centre.x(), 0), QPointF(centre.x(), self.height()))

    def _paint_banner(self, painter: QPainter) -> None:
        lines = [self.hint] + ([self.error] if self.error else [])
        font = QFont(self.font())
        font.setPointSizeF(max(10.0, font.pointSizeF() * 1.1))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        width = max(metrics.horizontalAdvance(line) for line in lines) + 24
        height = metrics.height() * len(lines) + 14
        box = QRectF((self.width() - width) / 2, 12, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(20, 20, 20, 220))
        painter.drawRoundedRect(box, 6, 6)
        y = box.top() + 7 + metrics.ascent()
        for index, line in enumerate(lines):
            painter.setPen(QColor(255, 255, 255) if index == 0 else QColor(255, 140, 140))
            painter.drawText(QPointF(box.left() + 12, y), line)
            y += metrics.height()

    def _paint_loupe(self, painter: QPainter) -> None:
        assert self._pointer is not None
        px, py = self._pointer
        half = LOUPE_PIXELS // 2
        padded = cv2.copyMakeBorder(
            self.shot.image[:, :, :3], half, half, half, half, cv2.BORDER_CONSTANT, value=0
        )
        patch = padded[py : py + LOUPE_PIXELS, px : px + LOUPE_PIXELS]
        side = LOUPE_PIXELS * LOUPE_ZOOM
        pointer = self._to_widget(px, py)
        x = pointer.x() + 24
        y = pointer.y() + 24
        if x + side + 4 > self.width():
            x = pointer.x() - side - 24
        if y + side + 40 > self.height():
            y = pointer.y() - side - 48
        frame = QRectF(x, y, side, side)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(frame, to_qimage(patch))
        painter.setPen(QPen(QColor(255, 255, 255), 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(frame)
        painter.setPen(QPen(_ERROR, 1))
        painter.drawRect(
            QRectF(x + half * LOUPE_ZOOM, y + half * LOUPE_ZOOM, LOUPE_ZOOM, LOUPE_ZOOM)
        )
        below = QPointF(x, y + side + 4 + painter.fontMetrics().ascent())
        self._tag(painter, self.readout(), below, None)

    def _tag(self, painter: QPainter, text: str, at: QPointF, colour: QColor | None) -> None:
        metrics = painter.fontMetrics()
        width = metrics.horizontalAdvance(text) + 10
        top = at.y() - metrics.ascent() - 3
        if top < 0:
            top = 0
        back = QRectF(min(at.x(), self.width() - width), top, width, metrics.height() + 4)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(20, 20, 20, 210))
        painter.drawRect(back)
        painter.setPen(colour or QColor(255, 255, 255))
        painter.drawText(QPointF(back.left() + 5, back.top() + 2 + metrics.ascent()), text)

    def readout(self) -> str:
        """What the coordinate readout says now (the loupe's text), for tests and tooltips."""
        if self._pointer is None:
            return ""
        ax, ay = self.pointer or (0, 0)
        r, g, b = self.shot.rgb(ax, ay)
        text = f"{ax}, {ay}   #{r:02x}{g:02x}{b:02x}"
        drag = self._drag_box() if self._anchor is not None else None
        if drag is not None:
            text += f"   {drag.width} × {drag.height}"
        return text


_ARROWS = {
    Qt.Key.Key_Left: (-1, 0),
    Qt.Key.Key_Right: (1, 0),
    Qt.Key.Key_Up: (0, -1),
    Qt.Key.Key_Down: (0, 1),
}
