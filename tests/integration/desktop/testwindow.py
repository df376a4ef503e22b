"""A small Qt window that desktop tests drive with real input and that reports on itself.

Run as a subprocess with ``QT_QPA_PLATFORM=xcb`` on the test display::

    python -m tests.integration.desktop.testwindow --state state.json [--dark] [--title T]

It writes its state as JSON to ``--state`` (atomically) whenever something
changes: each widget's geometry in physical screen pixels (so tests click where
the window says things are, at any ``QT_SCALE_FACTOR``), the line edit's text,
button clicks, the list's current item, the scroll position, the last drag and
the last mouse button pressed on the click pad.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QRect, Qt, QTimer
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QGridLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QStyleFactory,
    QVBoxLayout,
    QWidget,
)


class Reporter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.state: dict[str, Any] = {"pid": os.getpid(), "ready": False, "events": 0}
        self.widgets: dict[str, QWidget] = {}

    def set(self, **values: Any) -> None:
        self.state.update(values)
        self.state["events"] += 1
        self.write()

    def write(self) -> None:
        geometry = {}
        for name, widget in self.widgets.items():
            ratio = widget.devicePixelRatioF()
            top_left = widget.mapToGlobal(QPoint(0, 0))
            geometry[name] = [
                round(top_left.x() * ratio),
                round(top_left.y() * ratio),
                round(widget.width() * ratio),
                round(widget.height() * ratio),
            ]
        self.state["geometry"] = geometry
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state), encoding="utf-8")
        os.replace(tmp, self.path)


class ClickPad(QLabel):
    """Records which button was pressed last and how many double-clicks it saw."""

    def __init__(self, reporter: Reporter) -> None:
        super().__init__("click pad")
        self.reporter = reporter
        self.doubles = 0
        self.presses = 0
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setFrameShape(QLabel.Shape.Box)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        names = {
            Qt.MouseButton.LeftButton: "left",
            Qt.MouseButton.RightButton: "right",
            Qt.MouseButton.MiddleButton: "middle",
        }
        self.presses += 1
        self.reporter.set(pad_button=names.get(event.button(), "other"), pad_presses=self.presses)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.doubles += 1
        self.reporter.set(pad_doubles=self.doubles)


class DragPad(QWidget):
    """Records where a drag started and ended, in physical global pixels."""

    def __init__(self, reporter: Reporter) -> None:
        super().__init__()
        self.reporter = reporter
        self.start: list[int] | None = None
        self.moves = 0
        self.setMinimumSize(300, 120)

    def _global(self, event: QMouseEvent) -> list[int]:
        ratio = self.devicePixelRatioF()
        point = event.globalPosition()
        return [round(point.x() * ratio), round(point.y() * ratio)]

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.start = self._global(event)
        self.moves = 0

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self.moves += 1

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self.reporter.set(
            drag={"start": self.start, "end": self._global(event), "moves": self.moves}
        )

    def paintEvent(self, event: Any) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        painter.drawRect(QRect(0, 0, self.width() - 1, self.height() - 1))
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "drag pad")


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, colour in {
        QPalette.ColorRole.Window: "#2b2b2b",
        QPalette.ColorRole.WindowText: "#f0f0f0",
        QPalette.ColorRole.Base: "#1e1e1e",
        QPalette.ColorRole.AlternateBase: "#333333",
        QPalette.ColorRole.Text: "#f0f0f0",
        QPalette.ColorRole.Button: "#3c3f41",
        QPalette.ColorRole.ButtonText: "#f0f0f0",
        QPalette.ColorRole.Highlight: "#2f65ca",
        QPalette.ColorRole.HighlightedText: "#ffffff",
    }.items():
        palette.setColor(role, QColor(colour))
    return palette


def build(reporter: Reporter, title: str) -> QWidget:
    window = QWidget()
    window.setWindowTitle(title)
    layout = QGridLayout(window)
    name = QLineEdit()
    name.setObjectName("name")
    name.setMinimumWidth(300)
    name.textChanged.connect(lambda text: reporter.set(text=text))
    save = QPushButton("Save report")
    save.setMinimumSize(140, 36)
    clicks = {"n": 0}

    def on_save() -> None:
        clicks["n"] += 1
        reporter.set(save_clicks=clicks["n"])

    save.clicked.connect(on_save)
    items = QListWidget()
    items.addItems([f"item {i:02d}" for i in range(40)])
    items.setFixedHeight(160)
    items.currentTextChanged.connect(lambda text: reporter.set(current_item=text))
    scroll = QScrollArea()
    content = QWidget()
    column = QVBoxLayout(content)
    for i in range(60):
        column.addWidget(QLabel(f"row {i:02d} of the scroll area"))
    scroll.setWidget(content)
    scroll.setFixedHeight(160)
    scroll.verticalScrollBar().valueChanged.connect(lambda v: reporter.set(scroll=v))
    pad = ClickPad(reporter)
    pad.setMinimumSize(160, 60)
    drag = DragPad(reporter)
    layout.addWidget(QLabel("Name:"), 0, 0)
    layout.addWidget(name, 0, 1)
    layout.addWidget(save, 1, 0)
    layout.addWidget(pad, 1, 1)
    layout.addWidget(items, 2, 0)
    layout.addWidget(scroll, 2, 1)
    layout.addWidget(drag, 3, 0, 1, 2)
    reporter.widgets.update(
        {
            "window": window,
            "name": name,
            "save": save,
            "pad": pad,
            "list": items,
            "scroll": scroll,
            "drag": drag,
        }
    )
    reporter.state.update(text="", save_clicks=0, current_item=None, scroll=0, drag=None)
    return window


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--title", default="Deskpilot test window")
    parser.add_argument("--dark", action="store_true")
    parser.add_argument("--x", type=int, default=40)
    parser.add_argument("--y", type=int, default=40)
    args = parser.parse_args(argv)
    app = QApplication([sys.argv[0]])
    app.setStyle(QStyleFactory.create("Fusion"))
    if args.dark:
        app.setPalette(dark_palette())
    reporter = Reporter(args.state)
    window = build(reporter, args.title)
    window.move(args.x, args.y)
    window.show()

    def ready() -> None:
        handle = window.windowHandle()
        if handle is None or not handle.isExposed():
            QTimer.singleShot(20, ready)
            return
        reporter.set(ready=True, window_id=int(window.winId()), scale=window.devicePixelRatioF())

    QTimer.singleShot(0, ready)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
