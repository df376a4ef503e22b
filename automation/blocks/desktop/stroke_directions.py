"""A label drawn smaller keeps the directions of its strokes, part by part.

A synthetic key's "K" (``bench_absent_targets --foreign``: OpenCV's Hershey
font, drawn at 100 %) was answered on speedcrunch's "x" key at 125 % dark,
whole and glyph-only, by the label stage at 0.64 (0.907 and 0.896 blurred),
with every other check of ``verification`` passed.  Resized to ten pixels,
the K's stem lies within a pixel of the x's left arms: no ink of the label is
missing within a pixel's play, none is added, and blurred the two correlate
as well as a re-hinted true label.  What differs is the direction of the
strokes: the K's stem runs down a column where the x's arms run across it.

So where the label's ink is, the edges of the screen's ink must run the way
the label's do, part by part.  The label resized to the answer's scale and
the screen where the answer puts it (each as its share of full ink, so either
polarity and a faint theme compare: ``verification._ink_share``) are cut in
``CELLS`` by ``CELLS`` parts; in each, the strength of the ink's edges
(Sobel) is summed by direction, ``BINS`` directions over half a turn (an
edge's two sides are one direction: a stroke and its polarity swapped look
alike), each edge shared between the two nearest directions.  The two
histograms, every part's in a row, must have a cosine of at least
``MIN_AGREEMENT``.

Measured on every answer of the targeting replay (``bench_targeting --every
4``: 643 hits) and of templates cut at one scale and searched at another
(``bench_cross_scale --every 6``: 725 hits), as ``verification.check`` saw
them when it let them pass: the "K" on the "x" scores 0.658 and 0.660; the
261 true answers under the captured size score 0.752 or more (speedcrunch's
"x" cut glyph-only at 125 % dark and found at 0.67 on 100 %: 0.752;
qalculate's italic "z" cut at 150 % and found at 0.6: 0.753).  Only labels
drawn smaller than captured (by more than ``verification.SAME_SIZE``) are
checked: that is where the look-alike was answered, and where a label's
shape is least sure (a re-hinted small label keeps its strokes' directions,
not their pixels).  It also refuses a synthetic "?" key on speedcrunch's
"7" at 0.84 and 0.88 (0.63 and 0.60), which ``dots`` and ``face_fit``
refuse as well.

Not separated by this: a "U" glyph on qalculate's "u" at 125 and 150 %
(scales stage, 0.67 and 0.8), whose strokes run as the u's do (0.92); the u
differs by its stem's foot, two pixels.  ``mirrored`` refuses it: the "U" is
its own mirror image and the "u" is not.

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    Image: TypeAlias = npt.NDArray[Any]

#: The label and the screen are cut in this many parts across, and as many down ...
CELLS = 3
#: ... and in each part the edges are summed in this many directions over half a turn.
BINS = 8
#: The cosine of the label's directions and the screen's must be at least this.
MIN_AGREEMENT = 0.71


def directions(ink: Image) -> Any:
    """The strength of ``ink``'s edges by direction, part by part, as a unit vector."""
    import cv2
    import numpy as np

    gx = cv2.Sobel(ink, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(ink, cv2.CV_32F, 0, 1)
    strength = np.hypot(gx, gy)
    position = (np.degrees(np.arctan2(gy, gx)) % 180.0) / (180.0 / BINS)
    low = np.floor(position)
    share = position - low
    lower = low.astype(np.int64) % BINS
    upper = (lower + 1) % BINS
    height, width = ink.shape[:2]
    parts = []
    for row in range(CELLS):
        for column in range(CELLS):
            part = (
                slice(row * height // CELLS, (row + 1) * height // CELLS),
                slice(column * width // CELLS, (column + 1) * width // CELLS),
            )
            counts = np.bincount(
                lower[part].ravel(), (strength[part] * (1.0 - share[part])).ravel(), BINS
            ) + np.bincount(upper[part].ravel(), (strength[part] * share[part]).ravel(), BINS)
            parts.append(counts)
    vector = np.concatenate(parts)
    return vector / max(float(np.linalg.norm(vector)), 1e-6)


def agreement(label: Image, label_dark: bool, screen: Image, dark: bool) -> float:
    """The cosine of the directions of ``label``'s ink and ``screen``'s (the same size)."""
    import numpy as np

    from automation.blocks.desktop.verification import _ink_share

    ours = directions(_ink_share(label, label_dark).astype(np.float32))
    theirs = directions(_ink_share(screen, dark).astype(np.float32))
    return float(ours @ theirs)


def refusal(label: Image, label_dark: bool, screen: Image, dark: bool) -> str | None:
    """None when the edges of ``screen``'s ink (where the answer puts the label, the
    label's size) run the way ``label``'s (resized to the answer's scale) do, else
    how far they do not.  ``label_dark`` and ``dark``: the label's ink and the
    screen's are darker than their faces."""
    score = agreement(label, label_dark, screen, dark)
    if score >= MIN_AGREEMENT:
        return None
    return (
        f"its strokes run other ways there (directions agree {score:.2f}, "
        f"under {MIN_AGREEMENT}): another label"
    )
