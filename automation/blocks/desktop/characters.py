"""Short text with symbols in it, read one character at a time.

Read as a whole, two or three characters let Tesseract's language model
fill in a glyph it cannot read: qalculate's "x ➞" key, cut out alone with
its context, reads "x=" with 0.81 to 0.91 confidence (3 wrong answers on
the saved calculator screens of ``tests/benchmarks/bench_text_targets.py``:
100 % and 150 %, light), while the real "x =" key read "Me" or "X=".  Read
alone, the arrow is no "=" ("-_" at 0.30, '_"' at 0.10).

So ``symbols_read_alone`` splits a place's ink into pieces at the columns
with no ink (``pieces``), and the place shows the phrase only when there are
as many pieces as characters and each piece of a symbol (neither letter nor
digit), cut out with the other pieces blanked to the background, reads that
symbol.  Bars stacked in one column ("=", ":") stay one piece; two glyphs
that touch make the count differ, and the place is not confirmed.

Letters and digits are not checked: they are what the whole reading gets
right (exact, case kept), and alone they read badly.  Checking them too
left 380 of the 448 labels found on the saved screens (68 lost: "cos" reads
"Cc", "19)", "S" a glyph at a time); checking symbols only loses 13
(measured there, with the same zero wrong).  Alone, case and 0/o, 1/l/I/|
are not told apart, and an unsure letter reads in both cases ("Ss"):
``fold``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automation.blocks.desktop.display import Box, Image

#: A column holds ink when some pixel differs from the background by this much
#: (0..255), or by this share of the place's strongest ink if that is more.
FAINTEST = 40.0
SHARE = 0.35
#: A piece is enlarged until the place's box is this tall (px) before it is read: a
#: glyph alone, smaller, reads as two ("x" as "Xx" at 21 px).
TALL = 30


def pieces(screen: Image, origin: Box, box: Box) -> tuple[Image, int, list[tuple[int, int]]]:
    """The box cut out with a margin (grayscale), its background's grey, and the column
    ranges of its ink pieces, left to right."""
    import cv2
    import numpy as np

    from automation.blocks.desktop import ocr

    pad = max(2, box.height // 3)
    x0, y0 = max(0, box.x - origin.x - pad), max(0, box.y - origin.y - pad)
    x1 = box.x - origin.x + box.width + pad
    y1 = box.y - origin.y + box.height + pad
    cut = screen[y0:y1, x0:x1]
    if cut.size == 0:
        return cut, 0, []
    gray = cut if cut.ndim == 2 else cv2.cvtColor(cut, ocr.to_gray_code(cut))
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = int(np.median(border))
    ink = np.abs(gray.astype(np.int16) - background)
    inked_at = ink >= max(FAINTEST, SHARE * float(ink.max()))
    columns: list[bool] = [bool(v) for v in np.any(inked_at, axis=0)]
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    for index, inked in enumerate(columns):
        if inked and start is None:
            start = index
        elif not inked and start is not None:
            ranges.append((start, index))
            start = None
    if start is not None:
        ranges.append((start, len(columns)))
    return gray, background, ranges


def symbols_read_alone(
    screen: Image, origin: Box, box: Box, phrase: str, language: str = "eng"
) -> bool:
    """Whether ``box`` holds one ink piece per character of ``phrase`` (spaces aside)
    and each symbol's piece reads that symbol alone; see the module docstring."""
    import cv2
    import numpy as np

    from automation.blocks.desktop import ocr, short_text

    wanted = "".join(short_text.strict_form(phrase).split())
    if all(character.isalnum() for character in wanted):
        return True
    gray, background, ranges = pieces(screen, origin, box)
    if len(ranges) != len(wanted):
        return False
    margin = max(6, gray.shape[0])
    scale = TALL / max(1, box.height)
    for character, (start, end) in zip(wanted, ranges, strict=True):
        if character.isalnum():
            continue
        alone = np.full_like(gray, background)
        alone[:, start:end] = gray[:, start:end]
        alone = cv2.copyMakeBorder(
            alone, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=background
        )
        alone = cv2.resize(alone, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        if background < 128:
            alone = 255 - alone
        text, _ = ocr.read_line(alone, language)
        if fold(text) != fold(character):
            return False
    return True


def fold(text: str) -> str:
    """A character as it reads without a word around it: case, and 0/o, 1/l/I/|, are
    what the whole reading (exact) settles; alone Tesseract reads "o" as "0", and an
    unsure letter as itself in both cases ("Ss")."""
    from automation.blocks.desktop import short_text

    folded = "".join(short_text.strict_form(text).split()).casefold().translate(_ALIKE)
    return folded[0] if len(folded) > 1 and len(set(folded)) == 1 else folded


_ALIKE = str.maketrans({"0": "o", "1": "l", "|": "l", "i": "l"})
