"""The "Test target" result: the screenshot with the match drawn, which anchor, score and time.

The search runs on a ``QThreadPool`` worker (``TargetTestJob``): a full
search over the default scales with the edge fallback takes up to about a
hundred milliseconds on a 1920x1080 screen, and an OCR anchor runs
tesseract for a second or more, which would freeze the editor if it ran on
the GUI thread.  The worker only grabs and matches (no Qt objects); its
result comes back through a queued signal.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QPointF, QRectF, QRunnable, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.editor import target_test
from app.editor.capture_overlay import to_qimage
from app.editor.target_test import TargetTest, TargetTestResult
from app.theme import Theme
from automation.blocks.desktop.display import Box

log = logging.getLogger(__name__)

PICTURE_SIZE = (960, 540)
DETAIL_SIZE = (320, 220)
_MATCH = QColor(30, 190, 70)
_CANDIDATE = QColor(230, 50, 50)
_REGION = QColor(40, 120, 255)


class _Signals(QObject):
    finished = Signal(object)


class TargetTestJob(QRunnable):
    """Runs ``target_test.run`` off the GUI thread; ``signals.finished(result)`` when done."""

    def __init__(self, test: TargetTest) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the controller keeps it until the result arrives
        self.test = test
        self.signals = _Signals()

    def run(self) -> None:
        try:
            result = target_test.run(self.test)
        except Exception as exc:  # never lose the result: the dialog shows the failure
            log.exception("target test crashed")
            result = TargetTestResult(test=self.test, error=f"{type(exc).__name__}: {exc}")
        self.signals.finished.emit(result)


def _draw_box(
    painter: QPainter, box: Box, origin: Box, scale: float, colour: QColor, label: str, dashed: bool
) -> None:
    rect = QRectF(
        (box.x - origin.x) * scale,
        (box.y - origin.y) * scale,
        max(2.0, box.width * scale),
        max(2.0, box.height * scale),
    )
    pen = QPen(colour, 2, Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRect(rect.adjusted(-2, -2, 2, 2))
    if label:
        metrics = painter.fontMetrics()
        width = metrics.horizontalAdvance(label) + 8
        top = rect.top() - metrics.height() - 6
        if top < 0:
            top = rect.bottom() + 4
        back = QRectF(rect.left() - 2, top, width, metrics.height() + 2)
        painter.fillRect(back, colour)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(QPointF(back.left() + 4, back.top() + 1 + metrics.ascent()), label)


def annotated(result: TargetTestResult, limit: tuple[int, int], focus: Box | None = None) -> QImage:
    """The searched screen (or the part around ``focus``) scaled to ``limit``, boxes drawn."""
    assert result.screen is not None and result.origin is not None
    origin = result.origin
    image = result.screen
    if focus is not None:
        pad = max(40, focus.width // 2, focus.height // 2)
        x0 = max(0, focus.x - origin.x - pad)
        y0 = max(0, focus.y - origin.y - pad)
        x1 = min(image.shape[1], focus.x - origin.x + focus.width + pad)
        y1 = min(image.shape[0], focus.y - origin.y + focus.height + pad)
        image = image[y0:y1, x0:x1]
        origin = Box(origin.x + x0, origin.y + y0, x1 - x0, y1 - y0)
    height, width = image.shape[:2]
    fit = min(limit[0] / max(1, width), limit[1] / max(1, height))
    scale = min(1.0 if focus is None else 4.0, fit)  # the detail view enlarges, up to 4x
    picture = to_qimage(image).scaled(
        max(1, round(width * scale)),
        max(1, round(height * scale)),
        Qt.AspectRatioMode.IgnoreAspectRatio,
        # blocky pixels when enlarged a lot (to see them), smooth otherwise
        Qt.TransformationMode.SmoothTransformation
        if scale < 2
        else Qt.TransformationMode.FastTransformation,
    )
    painter = QPainter(picture)
    try:
        if result.test.region is not None and focus is None:
            _draw_box(painter, result.test.region, origin, scale, _REGION, "search region", True)
        found = result.located
        if found is not None:
            for match in found.matches[1:]:
                _draw_box(painter, Box.of(match["box"]), origin, scale, _MATCH, "", True)
            label = (
                f"{found.anchor}  {found.score:.3f}" if found.method != "position" else found.anchor
            )
            _draw_box(painter, found.box, origin, scale, _MATCH, label, False)
        elif result.candidate is not None:
            label = f"best candidate {result.candidate_score or 0:.3f}"
            _draw_box(painter, result.candidate, origin, scale, _CANDIDATE, label, True)
    finally:
        painter.end()
    return picture


class TargetTestDialog(QDialog):
    """Shows one ``TargetTestResult``; "Test again" asks for a fresh one."""

    retest_requested = Signal()

    def __init__(
        self, result: TargetTestResult, theme: Theme, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("target_test_dialog")
        self.theme = theme
        self.setWindowTitle(f"Test target — {result.test.node_id}")
        layout = QVBoxLayout(self)
        self.summary = QLabel()
        self.summary.setObjectName("target_test_summary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)
        pictures = QHBoxLayout()
        self.picture = QLabel()
        self.picture.setObjectName("target_test_picture")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail = QLabel()
        self.detail.setObjectName("target_test_detail")
        self.detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
        self.detail.setFrameShape(QFrame.Shape.StyledPanel)
        pictures.addWidget(self.picture, 1)
        pictures.addWidget(self.detail, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(pictures, 1)
        self.anchors = QLabel()
        self.anchors.setWordWrap(True)
        self.anchors.setStyleSheet(f"color: {theme.muted};")
        layout.addWidget(self.anchors)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.again = QPushButton("Test again")
        self.again.setToolTip("Grab the screen again and search it")
        buttons.addButton(self.again, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.again.clicked.connect(self.retest_requested)
        layout.addWidget(buttons)
        self.shown: TargetTestResult = result
        self.show_result(result)

    def show_result(self, result: TargetTestResult) -> None:
        self.shown = result
        colour = self.theme.error if not result.found else self.theme.ok
        if result.found and result.located is not None and result.located.method == "position":
            colour = self.theme.warning
        self.summary.setText(result.summary())
        self.summary.setStyleSheet(f"color: {colour}; font-weight: bold;")
        lines = [f"{i + 1}. {label}" for i, label in enumerate(result.test.anchors())]
        lines.append(
            f"confidence {result.test.options.confidence:g}, scales "
            + ", ".join(f"{s:g}" for s in result.test.options.scales)
            + (", grey" if result.test.options.grayscale else "")
            + (", outline fallback" if result.test.options.edges else "")
        )
        lines += result.logs
        self.anchors.setText("Anchors, tried in order:\n" + "\n".join(lines))
        if result.screen is None or result.origin is None:
            self.picture.clear()
            self.detail.clear()
            self.picture.setVisible(False)
            self.detail.setVisible(False)
            return
        self.picture.setVisible(True)
        self.picture.setPixmap(QPixmap.fromImage(annotated(result, PICTURE_SIZE)))
        focus = result.located.box if result.located is not None else result.candidate
        self.detail.setVisible(focus is not None)
        if focus is not None:
            self.detail.setPixmap(QPixmap.fromImage(annotated(result, DETAIL_SIZE, focus)))
            self.detail.setToolTip("Enlarged: the area around the match")
