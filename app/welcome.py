"""The welcome page: what a fresh install starts from.

Shown where the editor tabs are when no workflow is open (and as a tab from
Help › Welcome): a way to start an empty workflow or one from a template, and
the example gallery, each example with its title, one line about it and an
"Open a copy" button that puts a runnable copy in the workflows folder.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.gallery import Sample, samples
from app.resources import examples_dir
from app.theme import Theme

#: cards per row by the page's width (a card wants about this many pixels)
CARD_WIDTH = 340
MAX_WIDTH = 1200


class ExampleCard(QFrame):
    def __init__(self, sample: Sample, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sample = sample
        self.setObjectName("example_card")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        # the cards of a row take the height of the tallest: their buttons line up
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        title = QLabel(f"<b>{sample.title}</b>")
        title.setTextFormat(Qt.TextFormat.RichText)
        description = QLabel(sample.description or sample.path.name)
        description.setWordWrap(True)
        description.setStyleSheet(f"color: {theme.muted};")
        description.setToolTip(str(sample.path))
        # two lines of text whatever the description: the cards of a row line up
        description.setMinimumHeight(2 * description.fontMetrics().lineSpacing())
        description.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.open_button = QPushButton("Open a copy")
        # a screen reader (and an accessibility selector) tells the cards' buttons apart
        self.open_button.setAccessibleName(f"Open a copy of {sample.title}")
        self.open_button.setToolTip(
            f"Copy {sample.path.name} (with the files it uses) into the workflows folder and open it"
        )
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.open_button)
        layout.addWidget(title)
        layout.addWidget(description)
        layout.addStretch(1)
        layout.addLayout(row)


class WelcomePage(QScrollArea):
    """Emits ``open_example`` with the example's file, ``new_requested``/``template_requested``."""

    open_example = Signal(Path)
    new_requested = Signal()
    template_requested = Signal()

    def __init__(
        self, theme: Theme, examples: Path | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("welcome_page")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.theme = theme
        self.examples = samples(examples or examples_dir())
        outer = QWidget()
        outer_layout = QHBoxLayout(outer)
        outer_layout.setContentsMargins(0, 0, 0, 0)
        body = QWidget()
        # lines a reader can follow on a wide screen
        body.setMaximumWidth(MAX_WIDTH)
        outer_layout.addWidget(body, 10)  # grows up to MAX_WIDTH, the stretch takes the rest
        outer_layout.addStretch(1)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(32, 24, 32, 24)
        layout.setSpacing(12)
        heading = QLabel("<h2>Welcome to Deskpilot</h2>")
        intro = QLabel(
            "A workflow is a graph of blocks: drag them from the palette (Ctrl+K), link their "
            "pins, and run it with F5. Start from an empty workflow, a template, or a copy of "
            "one of the examples below. Your workflows live in the folder on the left."
        )
        intro.setWordWrap(True)
        buttons = QHBoxLayout()
        self.new_button = QPushButton("New workflow…")
        self.new_button.clicked.connect(self.new_requested)
        self.template_button = QPushButton("New from template…")
        self.template_button.clicked.connect(self.template_requested)
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.template_button)
        buttons.addStretch(1)
        gallery_title = QLabel("<h3>Examples</h3>")
        self.grid = QGridLayout()
        self.grid.setSpacing(12)
        self.cards = [ExampleCard(s, theme) for s in self.examples]
        for card in self.cards:
            card.open_button.clicked.connect(
                lambda _checked=False, p=card.sample.path: self.open_example.emit(p)
            )
        if not self.cards:
            missing = QLabel(f"No examples found in {examples or examples_dir()}.")
            missing.setStyleSheet(f"color: {theme.muted};")
            layout.addWidget(missing)
        for widget in (heading, intro):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        layout.addWidget(gallery_title)
        layout.addLayout(self.grid)
        layout.addStretch(1)
        self.setWidget(outer)
        self._columns = 0
        self._arrange(2)

    def _arrange(self, columns: int) -> None:
        if columns == self._columns:
            return
        self._columns = columns
        for card in self.cards:
            self.grid.removeWidget(card)
        for i, card in enumerate(self.cards):
            self.grid.addWidget(card, i // columns, i % columns)
        for column in range(4):
            self.grid.setColumnStretch(column, 1 if column < columns else 0)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        width = min(self.viewport().width(), MAX_WIDTH)
        self._arrange(max(1, min(3, width // CARD_WIDTH)))

    def card(self, title: str) -> ExampleCard:
        return next(c for c in self.cards if c.sample.title == title)
