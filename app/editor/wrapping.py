"""A check box whose text wraps onto more lines instead of widening the property panel.

A boolean input shows its description beside the box ("^ and $ match at
every line, not only the start and end of the text").  A ``QCheckBox`` never
wraps its text, so its minimum width was that of the whole sentence, wider
than the property panel at the default window sizes: the form was cut off at
the panel's right edge, fields and buttons with it.  Here the text is a
word-wrapped label laid over the box's text area, so the box needs only the
width of a few words and grows a line instead.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStyle,
    QStyleOptionButton,
    QWidget,
)

#: narrowest the text is squeezed to before the panel scrolls instead
_MIN_TEXT_WIDTH = 80


class WrappingCheckBox(QCheckBox):
    """A ``QCheckBox`` (checked, toggled, clicked as usual) with word-wrapped text."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(text, self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        # a click on the text toggles the box, as on a QCheckBox's own text
        self.label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAccessibleName(text)
        option = QStyleOptionButton()
        self.initStyleOption(option)
        style = self.style()
        self._indicator = style.pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth, option, self)
        spacing = style.pixelMetric(QStyle.PixelMetric.PM_CheckBoxLabelSpacing, option, self)
        self._text_left = self._indicator + spacing
        layout = QHBoxLayout(self)
        layout.setContentsMargins(self._text_left, 0, 0, 0)
        layout.addWidget(self.label)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def full_text(self) -> str:
        return self.label.text()

    def hitButton(self, pos: QPoint) -> bool:  # noqa: N802 (Qt's name)
        return self.rect().contains(pos)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        text = self.label.sizeHint()
        return QSize(self._text_left + text.width(), max(self._indicator, text.height()))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(self._text_left + _MIN_TEXT_WIDTH, self.heightForWidth(self.width()))

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt's name)
        text_width = max(_MIN_TEXT_WIDTH, width - self._text_left)
        return max(self._indicator, self.label.heightForWidth(text_width))
