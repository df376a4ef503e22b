"""A whole-template answer must show the face its template shows clear around its label.

The label stage's answers are checked on the key around their label
(``keyface``): the same glyph elsewhere, on another key or in a line of
text, has other ink where the template shows clear face.  The whole-template
stages (direct, scales, inverted, edges) were not: their correlation covers
the face, and that was taken to be enough.  It is not when the template is
mostly plain face around a small label.  qalculate's "=" glyph crop (34 by
56 pixels at 125 %, the "=" 13 by 6 in its middle), searched on the 150 %
screen, answered the "=" of the "x =" key at scale 1.0 (direct stage, 0.897
in colour light, 0.939 dark): that "=" is drawn at the size the "=" key's
is at 125 %, and the two borders of the lower "x =" key that cross the
template's face, and the "x" at its edge, cost the correlation little,
since a plain face carries no weight in it.  Inside the label's clear ring
(``labels.isolated``) the screen is clear; beyond it, where the template
shows 26 rows of face above the label and 24 below, the screen has 52 (26
dark) pixels of ink.

So the answer of the direct and scales stages at the captured size (within
``verification.SAME_SIZE`` of scale 1) gets ``keyface``'s check too, with
the face read as the template's was: the median of the answer's box on
screen (``keyface`` reads it from the strips it checks, which at a whole
key's answer are the key's face; at a glyph crop's they may be mostly a
divider that the template shows a shade under ``screen_ink.INK_CONTRAST``
from its face, as qalculate's unnamed chevrons key's does, and its own
pixels were refused with 5 pixels of "ink").  At the captured size nothing
is resampled and nothing moves: the face the template shows clear is where
it was, pixel for pixel.  Away from it, it is not: a divider a shade under
the contrast at 100 % is over it at 200 % (the chevrons key's glyph at 2.0,
20 and 26 pixels, light and dark), and a key cut at 125 % dark and found at
0.8 on the 100 % screen has its border nearer than the face scaled (8 to 13
pixels, 3 keys): those true answers are not checked here.

Only the best place is checked, and only in the template's own theme.
Across themes (the inverted stage; the edge stage's palettes) a border may
be drawn nearer: one of qalculate's pixel-identical "Menu" arrow buttons,
cut at 100 % light and searched at 100 % dark, has 18 pixels of ink in its
glyph crop's face there.  A look-alike refused here would also shadow the
best place (``verification.shadowed``), turning an ambiguity among
identical buttons, which an ``index`` resolves, into not found.

Measured on the targeting replay (``bench_targeting --every 4``: 636 hits,
219 of them by these stages at the captured size) and on templates cut from
each saved scale and theme and searched on the other scales (every 6th key:
724 hits, 66 of them by these stages at the captured size): no true answer
checked here has more than ``keyface.FACE_STRAY`` pixels of ink in that face.

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

#: The stages whose answers are checked here: those that correlate the whole template in
#: its own theme (a swapped or re-coloured theme may draw a border nearer).
STAGES = ("direct", "scales")


def check(gray: Image, gray_tpl: Image, label: Label | None, match: Match) -> Refusal | None:
    """None when the screen around ``match``'s label (a whole-template answer on ``gray``)
    is as clear as the grey template ``gray_tpl`` is around its ``label``, else why not;
    None when there is no label to check around."""
    import numpy as np

    from automation.blocks.desktop import keyface
    from automation.blocks.desktop.verification import SAME_SIZE, Refusal

    if label is None or round(abs(match.scale - 1.0), 6) > SAME_SIZE:
        return None
    height, width = gray.shape[:2]
    box = gray[
        max(0, match.y) : min(height, match.y + match.height),
        max(0, match.x) : min(width, match.x + match.width),
    ]
    if box.size == 0:
        return None
    face = float(np.median(box))
    reason = keyface.refusal_reason(gray, label, keyface.extent(gray_tpl, label), match, face)
    return None if reason is None else Refusal(match, reason)
