"""A whole-template answer at a larger scale must show its label's ink in as many pieces.

At about the captured size ``verification.bridged_gaps`` compares a label's
gaps pixel by pixel.  Away from it, it cannot: a label resized by the
answer's scale smears a one-pixel gap, and the toolkit re-hints the label
drawn at that size.  So a look-alike that differs only by its gaps passes
every other check there: speedcrunch's "÷" is its "+" with the vertical
stroke cut a pixel above and below the bar, and with one of the two keys
painted out, the other key answered the glyph-only template at 120 % and
150 % (0.89 to 0.90, scales stage; 0.904 inverted at 150 % dark): 5 of the
624 absent-key cases of ``bench_absent_targets --every 1 --apps speedcrunch``.

What a resized label keeps is its pieces (8-connected ink), so the label's
pieces, mapped to the answer's scale, must correspond one to one with the
screen's ink there:

* two pieces of the label must not lie in one piece of the screen's ink (the
  screen joins what the label parts: "÷" on "+", 3 pieces in one), and
* one piece of the label must not cover two of the screen's (the screen
  parts what the label joins: "+" on "÷", one piece over 3).

Anti-aliasing draws faint ink into a narrow gap, more or less at each size
(``labels.Label.split``: "cos" is one blob at the captured size), so a gap
is a gap only where the ink drops below ``GAP_INK`` of full ink, and a join
is a join only where it stays at ``JOIN_INK`` or more: the label's pieces
that must stay apart are cut at ``GAP_INK``, the screen's piece that would
join them at ``JOIN_INK``; the label's piece that must stay whole at
``JOIN_INK``, the screen's pieces that would part it at ``GAP_INK``.  Ink in
between is forgiven either way.  Specks of fewer than ``MIN_PIECE`` pixels
(at the captured size) are no pieces, and a piece lies in another when at
least ``INSIDE`` of its pixels do, within a pixel.

Only the whole-template stages' answers (``matching.PIECES_STAGES``: direct,
scales, inverted), and only at scales above the captured size (beyond
``verification.SAME_SIZE``; shrunk, a one-pixel gap may close).  A toolkit
that re-draws a label at another font size may well join its pieces:
qalculate's "±" at 125 % draws its "+" down into its bar (two rows apart at
100 %).  The label stage finds such labels (0.920 blurred at 112 %, sharp
0.837, no better than "÷" on "+" at 0.846), and checked there the "±" key
was refused (both its crops at 125 % in ``bench_targeting --every 4``).  A whole-template
answer refused here only ends its stage: the label stage still looks, with
its own, stricter test of one clear place.

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    from automation.blocks.desktop.labels import Label
    from automation.blocks.desktop.matching import Match
    from automation.blocks.desktop.verification import Refusal

    Image: TypeAlias = npt.NDArray[Any]

#: Below this share of full ink, ink parts two pieces.
GAP_INK = 1 / 3
#: At this share of full ink or more, ink joins two pieces.
JOIN_INK = 2 / 3
#: Pieces of fewer pixels than this are specks, not strokes.
MIN_PIECE = 3
#: The share of a piece's pixels that must lie on another piece for it to lie in it.
INSIDE = 0.5


def check(gray: Image, label: Label | None, match: Match, sign: int) -> Refusal | None:
    """None when ``match`` (a whole-template answer on ``gray``, the grey screen) shows
    the ink of ``label`` (``labels.extract`` of the template) in as many pieces as the
    label has, else why not.  ``sign`` -1: the answer is light/dark-swapped."""
    import cv2

    from automation.blocks.desktop.correlation import _best_near
    from automation.blocks.desktop.verification import PAD, SAME_SIZE, Refusal

    scale = match.scale
    if label is None or round(scale - 1.0, 6) <= SAME_SIZE:
        return None
    lh, lw = label.image.shape[:2]
    size = (round(lw * scale), round(lh * scale))
    tpl = cv2.resize(label.image, size, interpolation=cv2.INTER_CUBIC)
    lx, ly = match.x + round(label.x * scale), match.y + round(label.y * scale)
    height, width = gray.shape[:2]
    x0, y0 = max(0, lx - PAD), max(0, ly - PAD)
    window = gray[y0 : min(height, ly + size[1] + PAD), x0 : min(width, lx + size[0] + PAD)]
    near = _best_near(window, tpl, [(lx - x0, ly - y0)], PAD, sign)
    if not near:
        return None  # the label does not fit there: nothing to compare pieces with
    x, y, _ = near[0]
    here = window[y : y + size[1], x : x + size[0]]
    dark = label.dark if sign > 0 else not label.dark
    reason = mismatch(label.image, label.dark, here, dark, scale)
    return None if reason is None else Refusal(match, reason)


def mismatch(label: Image, label_dark: bool, screen: Image, dark: bool, scale: float) -> str | None:
    """None when the ink pieces of ``label`` (grey, at the captured size) and of
    ``screen`` (the grey window where the answer puts the label, ``scale`` times
    its size) correspond one to one, else how they do not.

    ``label_dark`` and ``dark``: the label's ink and the screen's are darker
    than their faces.
    """
    from automation.blocks.desktop.verification import _ink_share

    ours, theirs = _ink_share(label, label_dark), _ink_share(screen, dark)
    height, width = screen.shape[:2]
    # the screen joins what the label parts
    apart = _resized(_pieces(ours >= GAP_INK, 1.0), scale, height, width)
    joined = _pieces(theirs >= JOIN_INK, scale)
    count = _most_inside(apart, joined)
    if count > 1:
        return (
            f"{count} pieces of its label's ink are one piece there: "
            "a look-alike that joins what its label parts"
        )
    # the screen parts what the label joins
    whole = _resized(_pieces(ours >= JOIN_INK, 1.0), scale, height, width)
    parted = _pieces(theirs >= GAP_INK, scale)
    count = _most_inside(parted, whole)
    if count > 1:
        return (
            f"one piece of its label's ink is {count} pieces there: "
            "a look-alike that parts what its label joins"
        )
    return None


def _pieces(ink: Any, scale: float) -> Any:
    """The 8-connected pieces of ``ink`` (0: none), specks of fewer than
    ``MIN_PIECE`` pixels (``scale`` squared times as many) left out."""
    import cv2
    import numpy as np

    count, pieces, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    small = [
        number
        for number in range(1, count)
        if stats[number, cv2.CC_STAT_AREA] < MIN_PIECE * scale * scale
    ]
    if small:
        pieces[np.isin(pieces, small)] = 0
    return pieces


def _resized(pieces: Any, scale: float, height: int, width: int) -> Any:
    """The piece map ``pieces`` at ``scale``, ``height`` by ``width`` (each pixel takes
    the piece of the label pixel its centre falls in)."""
    import numpy as np

    rows = np.clip(((np.arange(height) + 0.5) / scale).astype(int), 0, pieces.shape[0] - 1)
    cols = np.clip(((np.arange(width) + 0.5) / scale).astype(int), 0, pieces.shape[1] - 1)
    return pieces[rows][:, cols]


def _most_inside(small: Any, large: Any) -> int:
    """The most pieces of ``small`` that lie in one piece of ``large`` (at least
    ``INSIDE`` of a piece's pixels on it, within a pixel)."""
    import cv2
    import numpy as np

    most = 0
    for number in range(1, int(large.max()) + 1):
        near = cv2.dilate((large == number).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        inside = 0
        for piece in range(1, int(small.max()) + 1):
            pixels = small == piece
            total = int(pixels.sum())
            if total and int((pixels & near).sum()) >= INSIDE * total:
                inside += 1
        most = max(most, inside)
    return most
