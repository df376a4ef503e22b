"""A whole-template match just under the bar, answered on a stricter check of its label.

The bar (0.85 by default) is set for the whole template: its face and
border, which every key of a keypad shares, carry most of its pixels, and a
look-alike reaches 0.85 on them alone.  A key whose label the toolkit drew
again at another size can end just under it: qalculate's "Keypad" toggle,
cut glyph-only at 100 %, peaks at 0.844 on the 150 % screen, light and dark
(its thin 100 % font is drawn bold at 150 %), where no other place reaches
0.56; the label stage cannot take over, as the "Ke" its label is drawn
joined at 100 % stands apart at 150 %.  2 of the 8 hittable misses of
``bench_targeting --every 4``.

So when every stage found nothing, the best place of the whole-template
stages (direct, scales, inverted: ``matching.PIECES_STAGES``) is answered
when all of this holds:

* it scores at least ``NEAR_BAR`` under the bar and no other distinct place
  of those stages scored within the margin under the bar (the stages keep
  every place down to there): the whole template singles it out;
* it is at the captured size or larger (``verification.SAME_SIZE``): drawn
  smaller, a label loses the strokes that tell it from others, and at
  0.843, 67 %, a synthetic "~" key's glyph (``bench_absent_targets
  --foreign``) answered galculator's "-" key at 150 %, dark, its label
  passing every check at 0.9 (shrunk, a flat tilde is a dash);
* its label passes every check of ``verification`` at the stricter bar
  ``LABEL_BAR`` blurred (the label's ink, not the key's face, is what
  tells keys apart), in the stage's polarity, and ``ink_pieces``;
* no stage refused that place (``SearchResult.refused``), nor was the whole
  template seen there in grey and refused on its colours: a check that said
  no is not overruled by a lower score.

The light/dark-swapped answers under 0.9 (``swapped``) must also reach the
bar unblurred; here the stricter blurred bar stands in for it, as the
answer is under the bar, not between the two bars of the inverted stage.
The "Keypad" label scores 0.924 blurred, 0.837 sharp, in both themes.

cv2 and numpy are not needed here (the checks import them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automation.blocks.desktop.matching import Match, SearchResult, _Search

#: A whole-template match at most this far under the bar may be answered on its label.
NEAR_BAR = 0.01
#: Its label must pass ``verification.check`` at this bar (blurred), not the stage's.
LABEL_BAR = 0.9


def answer(
    search: _Search, seen: list[tuple[str, Match]], bar: float, result: SearchResult
) -> Match | None:
    """The one near miss of the whole-template stages that passes the stricter checks
    (see the module docstring), or None.  ``seen``: every distinct candidate of
    those stages, with its stage, that scored within the margin under the bar."""
    from automation.blocks.desktop import ink_pieces, verification
    from automation.blocks.desktop.matching import PIECES_STAGES

    if not seen:
        return None
    places: list[tuple[str, Match]] = []
    for stage, match in sorted(seen, key=lambda entry: -entry[1].score):
        if not any(match.same_place(other) for _, other in places):
            places.append((stage, match))
    if len(places) != 1:
        return None  # two places within the margin: the score singles out neither
    stage, best = places[0]
    if best.score < bar - NEAR_BAR or best.score >= bar:
        return None
    if best.scale < 1.0 - verification.SAME_SIZE:
        return None
    if any(best.same_place(refusal.match) for refusal in result.refused):
        return None
    if stage == "inverted" and any(best.same_place(grey) for grey, _ in search.off_colour):
        return None  # the whole template is there in grey, refused on its colours
    label = search.label(anchored=False)
    if label is None:
        return None  # nothing smaller than the template to check on
    sign = PIECES_STAGES[stage]
    gray = search.gray.gray
    refusal = verification.check(
        gray, label, best, bar=LABEL_BAR, sign=sign, template=search.gray_tpl
    )
    if refusal is None:
        refusal = ink_pieces.check(gray, label, best, sign)
    return best if refusal is None else None
