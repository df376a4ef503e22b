"""A whole key's label is judged at the size it fits best at a place, face and all.

The label stage sets aside a place whose screen does not show the whole
key's face around the label (``small_ink.faced``): a "/" inside a tooltip's
"2 / 3" is no place of qalculate's "∕" key.  It judged each size a place
was verified at on its own, so at one place a size that fits the label
worse could stand in for the size that fits best, when only the lesser one
left the key's face clear.  Synthetic keys whose labels no calculator shows
(``bench_absent_targets --foreign``) were answered that way: a "?" key on
speedcrunch's "7" key fits best at 0.88 to 0.96 (0.893 to 0.909 blurred),
where the key's box reaches past the "7" key's border, and was answered at
0.84 (0.873), the size where it does not; before the face was checked per
size, the best fit was the answer and the face check refused it.  A lesser
fit of the same place is not a second opinion on it: it is the same place,
seen worse.

So the face is judged once per place (``at_best_fit``), at its best-scoring
size: a place whose best fit shows no key's face is no place of the label at
any size, and one whose best fit shows it keeps all its sizes, as before.

cv2 and numpy are imported inside the functions (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automation.blocks.desktop.labels import Label
    from automation.blocks.desktop.matching import Match
    from automation.blocks.desktop.screen_ink import ScreenInk

    #: A verified label place: x, y of its corner, score, scale, sharp score, dark ink.
    Place = tuple[int, int, float, float, float, bool]


def at_best_fit(
    ink: ScreenInk, label: Label, places: list[Place], size: tuple[int, int]
) -> list[Place]:
    """``places`` less every place (all its sizes) whose best-scoring size does not show
    the key's face (``small_ink.faced``); all of them when the label carries no face.
    ``size`` is the template's (height, width): places are the same place as
    ``Match.same_place`` counts them."""
    from automation.blocks.desktop import small_ink

    if label.face is None:
        return places
    judged: list[tuple[Match, bool]] = []
    kept: list[Place] = []
    for place in sorted(places, key=lambda found: -found[2]):
        x, y, _, scale, _, _ = place
        box = _box(label, x, y, scale, size)
        verdict = next((faced for other, faced in judged if box.same_place(other)), None)
        if verdict is None:
            verdict = small_ink.faced(ink, label, x, y, scale)
            judged.append((box, verdict))
        if verdict:
            kept.append(place)
    return kept


def _box(label: Label, x: int, y: int, scale: float, size: tuple[int, int]) -> Match:
    """The template's box around a label place (as ``labels._placed`` makes it)."""
    from automation.blocks.desktop.matching import Match

    th, tw = size
    return Match(
        round(x - label.x * scale),
        round(y - label.y * scale),
        max(1, round(tw * scale)),
        max(1, round(th * scale)),
        0.0,
        round(scale, 2),
        "label",
    )
