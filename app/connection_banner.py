"""The strip above the run views that says why the supervisor cannot be reached."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from app.supervisor_link import SupervisorLink


class ConnectionBanner(QFrame):
    """A strip above the views that says why the supervisor cannot be reached.

    It hides itself while the link is connected and offers to start the
    supervisor when it is simply not running.
    """

    def __init__(self, link: SupervisorLink, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self.setObjectName("connection_banner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(
            "#connection_banner { background: #fff4e5; border: 1px solid #f0b35a; }"
            "#connection_banner QLabel { color: #5d3a00; }"
        )
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.start_button = QPushButton("Start supervisor")
        self.start_button.setToolTip("Start deskpilotd, the background process that runs workflows")
        self.start_button.clicked.connect(lambda _c=False: self._start())
        self.local_button = QPushButton("This machine")
        self.local_button.setToolTip("Talk to this machine's supervisor again")
        self.local_button.clicked.connect(lambda _c=False: self._go_local())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.start_button)
        layout.addWidget(self.local_button)
        link.signals.banner_changed.connect(self._update)
        link.signals.connected_changed.connect(self._connected_changed)
        self._update(link.banner)

    def _connected_changed(self, _connected: bool) -> None:
        self._update(self.link.banner)

    def _start(self) -> None:
        self.start_button.setEnabled(False)
        self.link.start_supervisor()

    def _go_local(self) -> None:
        from app.remote_connect import connect_local

        connect_local(self.link, self)

    def _update(self, text: str) -> None:
        self.label.setText(text)
        self.label.setToolTip(self.link.last_problem)
        self.setVisible(bool(text))
        down = not self.link.connected and not self.link.starting and self.link.remote is None
        self.start_button.setVisible(down)
        self.start_button.setEnabled(down)
        self.local_button.setVisible(self.link.remote is not None)
