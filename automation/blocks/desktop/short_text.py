"""Short text targets (one to three characters): answered only on strong evidence.

Fuzzy matching (``ocr.find``) suits titles and words: one letter misread in
"Calculator" still names one place.  On one to three characters it named
the wrong place.  Measured on the saved calculator screens
(``tests/benchmarks/bench_text_targets.py``: 3 apps, 10 screens each, 996
labels), fuzzy finding answered 29 labels at another place with no error,
and 85 labels searched where they were not (painted out, or another app's)
somewhere:

* "-" at the word "<-": stripping surrounding punctuation (meant for
  "Total:") turned another label into this one;
* "STO" at the word "to" (similarity 0.80: one letter dropped out of three);
* "e" at speedcrunch's "E" key: case folding made another label equal;
* "=" at the bar under the "+" of "±", "-" at the bar over "x̄";
* "0" at galculator's display and "+" in qalculate's example text, while
  the keys meant went unread: read once is not shown once.

So a short phrase needs, at the place answered:

1. **an exact reading**: the word read there equals the phrase with only
   Unicode composition and spaces left out: no fuzziness, no case folding,
   no punctuation stripped (``exact``);
2. **the same reading in isolation**: the word's box, cut out of the screen
   with a margin of its own background and at least ``CONTEXT`` text heights
   around it (so a bar shows with the glyph it belongs to), enlarged and read
   again as one line (``reread``), reads the phrase exactly with at least
   ``MIN_CONFIDENCE``;
3. **no other place that may show it**: every glyph-sized mark the first
   pass left unread (``unread_marks``) is read the same way.  One that reads
   the phrase is a second place (an ambiguity, or the answer when the first
   pass found none: Tesseract's sparse pass leaves most isolated one-character
   labels unread); one whose reading holds the phrase among more ("0)"),
   one read with less than ``SURE`` confidence and shaped like the answer
   (``unread_marks.alike``), and one read as something else but whose ink is
   the answer's twin (``unread_marks.TWIN``: qalculate's "+" key read "--"
   at 0.80 beside its example text's "+") may show it: that is
   ``UnsureText``, an error naming those marks, never a pick.

4. **every symbol read alone**, for two or three characters: in the one
   place read, each symbol's ink must read it alone (``characters``).
   Read whole, qalculate's "x ➞" key read "x=" at 0.81 to 0.91 and answered
   the target "x =" (3 wrong on the saved screens); its arrow alone reads
   "-_" or '_"'.  A place read whole still counts as a place: two are
   ambiguous even when one fails alone, since failing alone is no proof
   that the phrase is not there.

Fewer than ``MIN_CONFIDENCE`` let through "=" at speedcrunch's "÷" (0.66).
Reading the unread marks costs about 1.5 ms each (a calculator window has 20
to 60): 30 to 120 ms per short target; longer text never pays it.  The
readings are kept by pixels (``ocr.read_line``), so a later target on the
same or an unchanged window reads only what changed.
"""

from __future__ import annotations

import statistics
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

from automation.blocks.desktop.display import Box

if TYPE_CHECKING:
    from automation.blocks.desktop.display import Image
    from automation.blocks.desktop.ocr import TextMatch, Word

#: Phrases of at most this many characters (spaces not counted) are short.
SHORT = 3
#: Tesseract's confidence (0..1) an isolated re-read needs.
MIN_CONFIDENCE = 0.75
#: An unread mark read on its own as something else with less confidence than this
#: (0..1) is unknown: the phrase may be there.
SURE = 0.6
#: An isolated cut is at least this many times the screen's text height, tall and wide.
CONTEXT = 1.5
#: How much an isolated word is enlarged before it is read again.
REREAD_UPSCALE = 3.0


def is_short(phrase: str) -> bool:
    return 0 < len("".join(strict_form(phrase).split())) <= SHORT


def strict_form(text: str) -> str:
    """Composition and spacing normalised; case and punctuation kept."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def exact(phrase: str, read: str) -> bool:
    """Equal but for spacing, which OCR gets wrong between short words ("x =", "x=")."""
    return "".join(strict_form(phrase).split()) == "".join(strict_form(read).split())


def typical_height(heights: Sequence[int]) -> int:
    """The median height of the words read on a screen: the size its text is set in."""
    return int(statistics.median(heights)) if heights else 0


def reread(
    screen: Image, origin: Box, box: Box, text_height: int = 0, language: str = "eng"
) -> tuple[str, float]:
    """The text and confidence (0..1) of ``box`` read on its own as one line.

    The cut keeps a margin of a third of the word's height (at least 2 px) so
    the glyphs do not touch its edge, and it is at least ``CONTEXT`` times the
    screen's ``text_height`` tall and wide: a bar read as "=" or "-" is often
    part of a bigger glyph (the bar of "±", of "x̄"), which then shows whole.
    Dark backgrounds are inverted: Tesseract reads dark text on light best.
    """
    import cv2
    import numpy as np

    from automation.blocks.desktop import ocr

    pad = max(2, box.height // 3)
    half_w = max(box.width // 2 + pad, round(CONTEXT * text_height / 2))
    half_h = max(box.height // 2 + pad, round(CONTEXT * text_height / 2))
    cx, cy = box.x - origin.x + box.width // 2, box.y - origin.y + box.height // 2
    height, width = screen.shape[:2]
    x0, y0 = max(0, cx - half_w), max(0, cy - half_h)
    x1, y1 = min(width, cx + half_w + 1), min(height, cy + half_h + 1)
    if x1 <= x0 or y1 <= y0:
        return "", 0.0
    cut = screen[y0:y1, x0:x1]
    gray = cut if cut.ndim == 2 else cv2.cvtColor(cut, ocr.to_gray_code(cut))
    gray = cv2.resize(
        gray, None, fx=REREAD_UPSCALE, fy=REREAD_UPSCALE, interpolation=cv2.INTER_CUBIC
    )
    background = int(np.median(gray))
    if background < 128:
        gray = 255 - gray
        background = 255 - background
    gray = cv2.copyMakeBorder(gray, 12, 12, 12, 12, cv2.BORDER_CONSTANT, value=background)
    return ocr.read_line(gray, language)


def locate(
    screen: Image, origin: Box, words: Sequence[Word], phrase: str, language: str = "eng"
) -> TextMatch | None:
    """The one place a short phrase is on ``screen``; see the module docstring."""
    from automation.blocks.desktop import characters, ocr, unread_marks

    text_height = typical_height([w.box.height for w in words if len(w.text) > 1])
    confirmed: list[TextMatch] = []
    for read, box in _spans(words, phrase):
        text, confidence = reread(screen, origin, box, text_height, language)
        if exact(phrase, text) and confidence >= MIN_CONFIDENCE:
            confirmed.append(ocr.TextMatch(read, box, 1.0, confidence))
    unknown: list[Box] = []
    holding: list[Box] = []  # read as the phrase and more: a neighbour's edge in the cut
    others: list[Box] = []  # read as something else
    for mark in unread_marks.marks(screen, origin, [w.box for w in words], text_height):
        text, confidence = reread(screen, origin, mark, text_height, language)
        if exact(phrase, text) and confidence >= MIN_CONFIDENCE:
            confirmed.append(ocr.TextMatch(text, mark, 1.0, confidence))
        elif _holds(text, phrase):
            holding.append(mark)
        elif confidence < SURE:
            unknown.append(mark)
        else:
            others.append(mark)
    if len(confirmed) > 1:
        listing = "; ".join(m.describe() for m in confirmed[:6])
        raise ocr.AmbiguousText(
            f"ambiguous text {phrase!r}: {len(confirmed)} places read it: {listing}. "
            "Narrow it with a region, or use an image or accessibility anchor",
            confirmed,
        )
    if not confirmed:
        return None
    answer = confirmed[0].box
    several = len("".join(strict_form(phrase).split())) > 1
    if several and not characters.symbols_read_alone(screen, origin, answer, phrase, language):
        return None  # read whole only: the language model may have filled in a symbol
    doubtful = (
        holding
        + [m for m in unknown if unread_marks.alike(screen, origin, m, answer)]
        + [m for m in others if unread_marks.alike(screen, origin, m, answer, unread_marks.TWIN)]
    )
    if doubtful:
        places = ", ".join(str(box.as_list()) for box in doubtful[:6])
        raise ocr.UnsureText(
            f"text {phrase!r} is read at {answer.as_list()}, but {len(doubtful)} other "
            f"marks on screen could not be read ({places}) and short text may be one of them. "
            "Give a region around the place, an anchor, or use an image or accessibility "
            "target",
            confirmed,
        )
    return confirmed[0]


def _spans(words: Sequence[Word], phrase: str) -> list[tuple[str, Box]]:
    """Runs of consecutive words on a line that read the phrase exactly, and their box."""
    from automation.blocks.desktop import ocr

    found: list[tuple[str, Box]] = []
    for line in ocr.lines(words):
        for start in range(len(line)):
            for end in range(start + 1, min(len(line), start + SHORT) + 1):
                read = " ".join(w.text for w in line[start:end])
                if exact(phrase, read):
                    found.append((read, ocr.union([w.box for w in line[start:end]])))
    return found


def _holds(read: str, phrase: str) -> bool:
    """Whether a reading contains the phrase: a cut that took in a neighbour's edge
    ("0)" for a "0" key) is no evidence that the phrase is not there."""
    return "".join(strict_form(phrase).split()) in "".join(strict_form(read).split())
