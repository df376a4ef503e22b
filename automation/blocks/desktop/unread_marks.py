"""Marks on screen that OCR's first pass did not read: where short text may hide.

A short text target ("0", "+") is one place only if no other place shows the
same text.  Tesseract's sparse-text pass over a window leaves most isolated
one-character labels unread (on the saved calculator screens it read 123 of
644 one-character keys), so "read once" does not mean "shown once": a "0"
target answered on galculator's display while the "0" key, unread, was
the place meant, and a "+" target in the example text of qalculate's
entry while its "+" key went unread.

``marks`` finds the glyph-sized groups of ink that no word read covers: ink
is where the grayscale's 3x3 morphological gradient is strong; long straight
runs (button frames, separators, at least twice the text height) are
removed first, since they are no glyphs; what is left is grouped across gaps
of a third of the text height (the letters of one label) and kept when its
height is at most ``TALLEST`` times the screen's text height.  Each is then
read on its own (``short_text.reread``) by the caller.

``alike`` tells whether a mark may show the same text as an answer: each box's
ink (distance from its border's grey, so a dark theme compares with a light
one), scaled to a 24 px square, correlated.  For a mark read as something
else (``TWIN``) the ink is first framed by itself: a mark's box (edges) and
Tesseract's word box frame the same glyph differently.  Framed, galculator's
digit keys at 100 % score 0.33 to 0.62 against each other; qalculate's "+"
key and the "+" of its example text 0.89 (0.58 unframed).  Framing the
low-confidence marks too let fewer of them block: 78 more labels answered on
the saved screens, but "x" at qalculate's "×" key and "*" at speedcrunch's
"∗" key, so those stay unframed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from automation.blocks.desktop.display import Box

if TYPE_CHECKING:
    from automation.blocks.desktop.display import Image

#: Gradient (0..255) that counts as the edge of a stroke.
INK = 60
#: A group of ink taller than this many text heights is no label (a picture, a frame).
TALLEST = 3.0
#: Nor one wider than this many text heights (a ruler, a row of dots).
WIDEST = 10.0
#: Fewer edge pixels than this is dust (antialiasing, a cursor's speck).
DUST = 6


def marks(screen: Image, origin: Box, read: Sequence[Box], text_height: int) -> list[Box]:
    """Glyph-sized groups of ink on ``screen`` (placed by ``origin``) that no box of
    ``read`` touches, in screen coordinates, top to bottom."""
    import cv2
    import numpy as np

    if text_height <= 0:
        return []
    gray = screen if screen.ndim == 2 else cv2.cvtColor(screen, _gray_code(screen))
    gradient = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    ink: Image = (gradient >= INK).astype(np.uint8)
    run = max(8, 2 * text_height)
    straight = cv2.bitwise_or(
        cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, run), np.uint8)),
        cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((run, 1), np.uint8)),
    )
    ink = cv2.bitwise_and(ink, cv2.bitwise_not(cv2.dilate(straight, np.ones((3, 3), np.uint8))))
    gap = max(1, text_height // 3)
    joined = cv2.dilate(ink, np.ones((1, gap), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    found: list[Box] = []
    for number in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[number])
        if area < DUST or h > TALLEST * text_height or w > WIDEST * text_height:
            continue
        box = Box(origin.x + x, origin.y + y, w, h)
        if not any(_touch(box, other) for other in read):
            found.append(box)
    return sorted(found, key=lambda b: (b.y, b.x))


def _touch(a: Box, b: Box) -> bool:
    return (
        a.x <= b.x + b.width
        and b.x <= a.x + a.width
        and a.y <= b.y + b.height
        and b.y <= a.y + a.height
    )


def _gray_code(image: Image) -> int:
    import cv2

    return int(cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)


#: An unread mark whose ink, scaled to the answer's box, correlates with the answer's
#: ink at least this much may be the same text.
ALIKE = 0.4
#: A mark read as something else, even with confidence, that correlates with the
#: answer's ink this much is the same glyph misread: qalculate's "+" key read "--"
#: (0.80) beside a "+" read in its example text.
TWIN = 0.8
#: Nor can it be when its width-to-height ratio is this many times the answer's or less.
SHAPE = 2.0
_SIDE = 24


def alike(screen: Image, origin: Box, mark: Box, answer: Box, least: float = ALIKE) -> bool:
    """Whether ``mark`` could show what ``answer`` shows, at any size: its shape is
    near the answer's and its ink, scaled onto the answer's, correlates with it."""
    import cv2
    import numpy as np

    ratio = (mark.width / mark.height) / (answer.width / answer.height)
    if not 1 / SHAPE <= ratio <= SHAPE:
        return False
    framed = least >= TWIN
    a, b = _ink(screen, origin, mark, framed), _ink(screen, origin, answer, framed)
    if a is None or b is None:
        return True
    score = float(cv2.matchTemplate(a, b, cv2.TM_CCOEFF_NORMED).max())
    return bool(np.isnan(score)) or score >= least


def _ink(screen: Image, origin: Box, box: Box, framed: bool) -> Image | None:
    """The box's ink (distance from its background's grey), scaled to a fixed square."""
    import cv2
    import numpy as np

    cut = screen[
        box.y - origin.y : box.y - origin.y + box.height,
        box.x - origin.x : box.x - origin.x + box.width,
    ]
    if cut.size == 0:
        return None
    gray = cut if cut.ndim == 2 else cv2.cvtColor(cut, _gray_code(cut))
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ink = np.abs(gray.astype(np.float32) - float(np.median(border)))
    # framed by the ink itself: a mark's box (edges) and a word's box (Tesseract's) differ
    ys, xs = np.nonzero(ink >= 0.3 * float(ink.max()))
    if framed and len(xs):
        ink = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    scaled: Image = cv2.resize(ink, (_SIDE, _SIDE), interpolation=cv2.INTER_AREA)
    return scaled
