"""A straight bar on screen answers only a label that is one too.

Synthetic keys whose labels no calculator shows (``bench_absent_targets
--foreign``: OpenCV's Hershey font) were answered on glyphs they are not,
with every other check of ``verification`` passed: the "~" glyph on the "−"
keys of speedcrunch and galculator, 11 of the 36 wrong answers of the
foreign-label run, by the direct stage at 1.0 (0.859 to 0.878) and by the
scales stage at 0.67 to 1.5 (0.851 to 0.881).  At these sizes the Hershey
"~" is a dash two or three pixels high whose ink rises at one end and falls
at the other; the "−" is a straight bar.  Within a pixel's play the one lacks
no ink of the other and adds none (``ink_fidelity``), and most of the
template is face that every key shares.  Pixel by pixel at 1.0 the "~" lacks
25 to 39 % of its ink on the "−", but so does a true key whose template was
cut at another display scale (up to 37 %), so missing ink cannot tell them.

What the "−" cannot do is rise and fall.  Where the screen's ink at the
answer is a straight bar, along rows or along columns (``straight``: every
line across it, but for its two ends, carries the same ink within
``STRAIGHT`` of full ink), the label resized to the answer's scale must be
one as well: the centre of its ink across each line (``centres``), but for
its two ends, may move by at most ``WAVE`` pixels along the bar.  A bar
resized stays a bar (resizing is separable: every line keeps one profile),
so its centres move by hundredths of a pixel, where resizing rings at its
ends (0.013 at 1.5); the "~" moves its centres by 0.42 pixels at 0.67, 0.55
at 0.8, 0.76 at 1.0 and 0.91 to 1.12 at 1.25 to 1.5.

Measured on true answers: in the targeting replay (``bench_targeting
--every 4``) the screen's ink is a straight bar at 13 answers, all of
qalculate's "−", whose labels move their centres by at most 0.01 pixels;
with templates cut from the saved 100 to 200 % screens and searched on the
other scales of the same theme (every fourth key), at 41 answers
(qalculate's "−", the three calculators' "=", at 0.67 to 1.92), whose
labels move by at most 0.14 pixels.  ``WAVE`` lies between.  Two kinds of ink are not a bar
though every line across them looks alike: an "=" seen across its bars (the
lines between them are bare; the "=" cut at 150 % and found at 0.67 moves
its centres by 0.58 pixels across the bars), and the legs of speedcrunch's
"π" at 100 % (0.1 of full ink from straight; its label, cut at 125 and
150 %, moves by up to 0.22).  A true label that is not a straight bar (an
asterisk, a "C") is not refused here however its centres move, unless the
screen's ink is straight.

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    Image: TypeAlias = npt.NDArray[Any]

#: A line across the ink carries at least this much ink (in pixels of full ink) to count.
LINE_INK = 1.0
#: A bar is this many such lines long or more, its two ends included.
MIN_LENGTH = 5
#: Lines of a straight bar differ from their median line by at most this share of full ink
#: at any pixel (the "−" and "=" keys: 0.0; the legs of speedcrunch's "π" at 100 %: 0.1).
STRAIGHT = 0.05
#: Along a straight bar, a label's ink may move its centre by at most this many pixels
#: across it (a bar's label: 0.01; the "~": 0.42 and more).
WAVE = 0.25


def refusal(label: Image, label_dark: bool, here: Image, dark: bool) -> str | None:
    """None unless the screen's ink on ``here`` (where an answer puts the label, a
    window of its size) is a straight bar along which ``label`` (resized to the
    answer's scale) rises and falls, else how much.  ``label_dark`` and ``dark``: the
    label's ink and the screen's are darker than their faces."""
    from automation.blocks.desktop.verification import _ink_share

    ours, theirs = _ink_share(label, label_dark), _ink_share(here, dark)
    for along, lines in (("rows", 0), ("columns", 1)):
        # lines == 0: the bar runs along rows, each column is a line across it
        mine, screen = (ours, theirs) if lines == 0 else (ours.T, theirs.T)
        if not straight(screen):
            continue
        moves = centres(mine)
        if moves is not None and float(moves.max() - moves.min()) > WAVE:
            return (
                f"the screen's ink there is a straight bar along its {along}, and its "
                f"label's ink rises and falls along it by {float(moves.max() - moves.min()):.2f} "
                f"pixels (at most {WAVE:g}): another label"
            )
    return None


def _inked(share: Any) -> Any:
    """The indices of the columns of ``share`` that carry ``LINE_INK`` or more."""
    import numpy as np

    return np.flatnonzero(share.sum(axis=0) >= LINE_INK)


def straight(share: Any) -> bool:
    """True when the ink of ``share`` (each pixel's share of full ink) is one bar along
    its rows: at least ``MIN_LENGTH`` columns carry ink, and every column between the
    first and the last of them carries the same ink within ``STRAIGHT`` (so a column
    between two bars, as across an "=", breaks it)."""
    import numpy as np

    inked = _inked(share)
    if len(inked) < MIN_LENGTH:
        return False
    inner = share[:, inked[0] + 1 : inked[-1]]
    # each row's median, as np.median takes it (the mean of the two middle values of an
    # even count), without its NaN check on floats, which imports numpy.ma: about 10 ms
    # of CPU the first search of a process paid
    ordered = np.sort(inner, axis=1)
    middle = inner.shape[1] // 2
    median = ordered[:, middle : middle + 1]
    if inner.shape[1] % 2 == 0:
        median = (ordered[:, middle - 1 : middle] + median) / 2
    return float(np.abs(inner - median).max()) <= STRAIGHT


def centres(share: Any) -> Any:
    """The centre of the ink (a row, as a float) in each column of ``share`` that
    carries ink, but for the first and the last of them (a bar's ends are rounded or
    anti-aliased), or None when fewer than ``MIN_LENGTH`` carry it."""
    import numpy as np

    inked = _inked(share)
    if len(inked) < MIN_LENGTH:
        return None
    inner = share[:, inked[1:-1]]
    rows = np.arange(inner.shape[0], dtype=np.float64)[:, None]
    return (inner * rows).sum(axis=0) / inner.sum(axis=0)
