"""Refresh a view on a timer only while it is on screen.

The machines and triggers views each poll the supervisor every few seconds;
a hidden tab has nobody to show the answer to, so its timer stops when the
view is hidden and starts again (with an immediate reload) when it is shown.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget


class RefreshWhileShown(QObject):
    """Calls ``reload`` when ``view`` is shown and every ``interval_ms`` while it stays shown.

    An event filter rather than ``showEvent``/``hideEvent`` overrides, so a view
    needs one line instead of two methods and a timer of its own.
    """

    def __init__(self, view: QWidget, interval_ms: int, reload: Callable[[], None]) -> None:
        super().__init__(view)
        self._reload = reload
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(reload)
        view.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Show:
            self.timer.start()
            self._reload()
        elif event.type() == QEvent.Type.Hide:
            self.timer.stop()
        return False
