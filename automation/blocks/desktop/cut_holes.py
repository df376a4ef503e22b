"""A hole of the screen's ink is a hole even where the label's box cuts it.

``label_shape.enclosed_face`` refuses an answer whose screen ink encloses face
that the label, resized, leaves open: a "G" is open where a "0" is closed.
It looks at the screen inside the label's box only, and a glyph a pixel or
two taller than the label there has its holes cut open by the box's edge.
A synthetic "R" key (``bench_absent_targets --foreign``: OpenCV's Hershey
font) was answered on speedcrunch's "8" key at 100 % dark (scales stage, 0.67
times its size, 0.855): the "8" reaches a row below the "R" there, so its lower
hole ran out of the box and was no hole; every other check passed, the "8"
and the "R" at that size being blurs of one another within a pixel.

So the holes are found on the screen around the box (the window
``verification`` cut), and a hole counts when it lies within
``max(1, scale)`` pixels of the label's box (a hole of the glyph, not the
face inside a key's border).  Its pixels inside the box that the label
leaves open, more than ``verification.BRIDGED_PIXELS`` times the scale
squared as ``enclosed_face`` allows, refuse the answer: the "8" encloses 8
pixels that the "R" leaves open.

Only for a label of one piece (a glyph).  The box of a label of several
pieces may cut through text on screen where the template's crop cut it, and
the letters' counters there are no holes of the label: speedcrunch's "0" key,
whose crops take in the text above it, cut from the saved 100 and 125 %
screens and found on the others, shows 5 to 63 such pixels.  Measured on
the answers ``verification`` checks with a label of one piece: the
targeting replay (``bench_targeting --every 4``, 306 of its 636 hits) and
templates cut from the saved 100 to 200 % screens and searched on the same
theme's other scales (every third button, 709 of 1,216 hits) show none.

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt

    Image: TypeAlias = npt.NDArray[Any]


def refusal(
    label: Image,
    label_dark: bool,
    window: Image,
    corner: tuple[int, int],
    dark: bool,
    scale: float,
) -> str | None:
    """None unless the screen's ink in ``window`` (grey, around the answer) encloses,
    inside the label's box (``label``, resized to ``scale``, at ``corner`` in the
    window), more face than the label leaves open (see the module docstring).
    ``label_dark``, ``dark``: the label's ink and the screen's are darker than their
    faces."""
    import cv2
    import numpy as np

    from automation.blocks.desktop import verification as v

    ours = v._ink_share(label, label_dark)
    inked = ours >= v.GAP_INK
    if cv2.connectedComponents(inked.astype(np.uint8), connectivity=8)[0] != 2:
        return None  # not one piece: a word's box cuts the text beside it (module docstring)
    x, y = corner
    height, width = label.shape[:2]
    here = window[y : y + height, x : x + width]
    ink = _share_like(window, here, dark) >= v.GAP_INK
    face = np.pad(~ink, 1, constant_values=True).astype(np.uint8)
    count, parts, stats, _ = cv2.connectedComponentsWithStats(face, connectivity=4)
    reach = max(1, round(scale))
    holes = np.zeros(ink.shape, bool)
    for number in range(1, count):
        if number == parts[0, 0]:
            continue  # the face that reaches the window's edge
        left, top, w, h, _ = (int(value) for value in stats[number])
        left, top = left - 1, top - 1  # the pad
        if left < x - reach or top < y - reach:
            continue  # the face around the glyph, or a key's beyond it
        if left + w > x + width + reach or top + h > y + height + reach:
            continue
        holes |= parts[1:-1, 1:-1] == number
    closed = holes[y : y + height, x : x + width] & ~v._enclosed(inked) & ~inked
    found = int(closed.sum())
    if found > v.BRIDGED_PIXELS * max(1.0, scale) ** 2:
        return (
            f"the ink there encloses {found} pixels of face that its label, at {scale:g} "
            "times its size, leaves open (holes cut by the label's box counted whole): "
            "another label"
        )
    return None


def _share_like(image: Image, reference: Image, dark: bool) -> Any:
    """Each pixel's ink in ``image`` as a share of ``reference``'s full ink, against
    ``reference``'s face (its frame's median), as ``verification._ink_share`` reads
    ``reference`` itself."""
    import numpy as np

    from automation.blocks.desktop.screen_ink import full_ink

    frame = np.concatenate([reference[0], reference[-1], reference[:, 0], reference[:, -1]])
    face = float(np.median(frame))
    sign = 1 if dark else -1
    darkness = (face - reference.astype(np.float32)) * sign
    full = full_ink(darkness)
    return np.clip((face - image.astype(np.float32)) * sign / full, 0.0, 1.0)
