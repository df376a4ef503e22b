"""The label stage of ``matching.find``: the template's label at any size and polarity.

``labels`` finds the label (``small_ink``, when the label is a lone dot: the
key around it gives the scale); this module holds what an answer of that
kind must pass besides, as the stage's glue between ``matching`` and the
label checks:

* an answer a whole label verified (not one verified letter by letter,
  ``glyphs``, nor a dot verified by its key, which passed stricter checks
  of their own) must show the label's ink blurred too (``verification.check``,
  either polarity): a label correlates 0.85 sharp with a bigger one ("3",
  "8");
* the face around it must be as clear of ink as the template's, out to where
  the template's face ends (``keyface``: the "=" of an "x =" key is not the
  "=" key).

A refusal ends the stage's answer (it is recorded in ``SearchResult.refused``),
as in the other stages.  The screen's ink is segmented once per search
(``matching._Search.ink``).

cv2 and numpy are imported by the modules this one calls (see ``matching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automation.blocks.desktop.matching import Match, SearchResult, _Search


def answer(search: _Search, bar: float, result: SearchResult) -> list[Match]:
    """The template's label at any size and polarity (see ``labels``): the best
    place, when every other distinct place scores ``LABEL_GAP`` below it, and its
    ink is the label's (``verification.check``)."""
    from automation.blocks.desktop import keyface, labels, small_ink, verification

    label = search.label()
    ink = search.ink()
    gray_tpl = search.gray_tpl
    th, tw = gray_tpl.shape[:2]
    if label is None:  # a dot gives no scale: the key around it does (``small_ink``)
        found, best = small_ink.answer(ink, gray_tpl, search.label(anchored=False), bar)
    else:
        found, best = labels.answer(ink, label, bar, (th, tw))
    if best is not None and (result.best is None or best.score > result.best.score):
        result.best = best
    if found and label is not None and found[0].method != "label-glyphs":
        # blurred too (module docstring); a label verified letter by letter, or by its
        # key, passed stricter checks of its own: each letter, where the whole label
        # re-hinted scores under the bar; the dot, its key's face and border
        refusal = verification.check(
            search.gray.gray, label, found[0], bar=bar, sign=0, template=gray_tpl
        )
        if refusal is None:
            # the label alone is not the key: the face around it must be as clear
            # as the template's (``keyface``)
            clear = keyface.extent(gray_tpl, label)
            reason = keyface.refusal_reason(search.gray.gray, label, clear, found[0])
            refusal = None if reason is None else verification.Refusal(found[0], reason)
        if refusal is not None:
            result.refused.append(refusal)
            return []
    return found
