"""A label's dot stays a dot at every size: a screen that joins it to a stroke is another label.

Synthetic keys whose labels no calculator shows (``bench_absent_targets
--foreign``, OpenCV's Hershey font) were answered by the label stage on
glyphs within a pixel of them everywhere: the "?" key, whole and glyph-only,
on speedcrunch's "7" at 0.76, 0.88 and 1.12 times its size (0.871 to 0.910
blurred, ``label-soft``; 5 of the 36 wrong answers).  Within a pixel's play
the "7"'s bar and stem are the "?"'s hook and stem: no check that forgives
re-hinting (``label_shape``, ``ink_fidelity``, ``verification``) finds ink
missing or added.  What differs is the dot: the "?" parts it from its stem,
the "7" draws the stem on through it.

Comparing all of a label's pieces at another size is too strict: a toolkit
re-drawing a label at another font size may join two strokes a font keeps
apart, and qalculate's "±" at 125 % draws its "+" down into its bar (the
label stage finds it at 1.12 and 1.2, in both themes; ``ink_pieces`` looks
only near the captured size and, for the whole-template stages, above it).
A dot is another matter: fonts set it apart from the stroke it goes with by
about its own size, and hinting keeps it apart (the dots of "÷", "i", "!").
So a piece of the label that is a dot, solid and about as high as it is
wide (``SOLID``, ``ROUND``), must not lie in one piece of the screen's ink
with another piece of the label, at any size other than the captured one
(where ``verification.bridged_gaps`` compares every gap).  Pieces and the
levels that part and join them are ``ink_pieces``'s: a gap is under
``ink_pieces.GAP_INK`` of full ink, a join at least ``ink_pieces.JOIN_INK``.

Measured on the targeting replay (``bench_targeting --every 4``, templates
cut at 100 %: 210 true answers of the label and edge stages away from the
captured size) and on templates cut at each saved scale and theme and
searched on the other scales (every 6th key: 332 such answers): none joins
a dot of its label to another piece (the "±" joins two strokes); the "?"
on the "7" joins its dot (4 by 4 pixels) to its hook at each of the 5 sizes.
Only the label and edge stages' answers: the whole-template stages compare
pieces near the captured size and above it (``ink_pieces``), and below it
a glyph crop cut at 150 % ("Keypad", an icon whose round piece a smaller
size joins to its frame) is found at 0.67 by the scale stage.

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    Image: TypeAlias = npt.NDArray[Any]

#: A dot fills at least this share of its box ...
SOLID = 0.6
#: ... and is at most this many times as long as it is wide.
ROUND = 1.5


def joined(label: Image, label_dark: bool, screen: Image, dark: bool, scale: float) -> str | None:
    """None unless the screen's ink (``screen``: the grey window where the answer puts the
    label, ``scale`` times its size) joins a dot of ``label`` (grey, at the captured size)
    to another of its pieces, else how.  ``label_dark`` and ``dark``: the label's ink and
    the screen's are darker than their faces."""
    import cv2
    import numpy as np

    from automation.blocks.desktop import ink_pieces
    from automation.blocks.desktop.verification import _ink_share

    ours, theirs = _ink_share(label, label_dark), _ink_share(screen, dark)
    pieces = ink_pieces._pieces(ours >= ink_pieces.GAP_INK, 1.0)  # specks left out
    numbers = [number for number in range(1, int(pieces.max()) + 1) if (pieces == number).any()]
    if len(numbers) < 2:
        return None
    dots = {number for number in numbers if _dot(pieces == number)}
    if not dots:
        return None
    height, width = screen.shape[:2]
    apart = ink_pieces._resized(pieces, scale, height, width)
    screen_pieces = ink_pieces._pieces(theirs >= ink_pieces.JOIN_INK, scale)
    for number in range(1, int(screen_pieces.max()) + 1):
        near = cv2.dilate((screen_pieces == number).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        inside = set()
        for piece in numbers:
            pixels = apart == piece
            total = int(pixels.sum())
            if total and int((pixels & near).sum()) >= ink_pieces.INSIDE * total:
                inside.add(piece)
        if len(inside) > 1 and inside & dots:
            return (
                f"a dot of its label is one piece of ink with {len(inside) - 1} more of its "
                f"pieces there, at {scale:g} times its size: a look-alike that draws a "
                "stroke through the gap"
            )
    return None


def _dot(piece: Any) -> bool:
    """Whether a piece (a boolean mask) is a dot: solid and about as high as wide."""
    import numpy as np

    rows, columns = np.flatnonzero(piece.any(axis=1)), np.flatnonzero(piece.any(axis=0))
    tall, wide = int(rows[-1] - rows[0] + 1), int(columns[-1] - columns[0] + 1)
    return int(piece.sum()) >= SOLID * tall * wide and max(tall, wide) <= ROUND * min(tall, wide)
