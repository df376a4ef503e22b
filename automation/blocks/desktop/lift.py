"""How low the scales after a good place need be scanned: the floor of ``matching``'s
whole-template stages once a place reached the bar.

A stage scans its scales in turn and stops early only on a place of
``EARLY_STOP``; at 200 % the captured size scores 0.85-0.94 there, and the
seven scales after it, each scanned down to the stage's floor for places that
could no longer change its answer, were most of such a search.

The lift holds for the stage's answer only.  When its checks refuse the
answer, the stages after it read what it left (its places under the bar for
``near_bar``, its scans for the edge stage), which must be what full scans
leave, so ``matching._Search.settled`` does the stage again without the lift,
its windows scored as they would have been (``correlation._Feature.back_to``).
The answer, its candidates, its best place and its refusals are those of the
full scans (``test_lift_captured``).
"""

from __future__ import annotations

#: The stages that scan the scales after a place reaching the bar only as low as their
#: answer can reach (``lifted``).  Not the edge stage: places of other scales far under
#: its best still decide it (two places answer nothing).
LIFTED_STAGES = ("direct", "scales", "inverted")
#: The most a place's colour score may exceed its grey score, for ``lifted``: 0.006 at
#: most over the 2,315 places colour-scored in the replay of every fourth key of
#: ``bench_targeting`` at 100-200 % light.
COLOUR_PLAY = 0.01


def lifted(floor: float, bar: float, top: float, margin: float) -> float:
    """The floor the scales after a place scoring ``top`` need be scanned to, in a stage
    of bar ``bar`` and floor ``floor`` (``LIFTED_STAGES``).

    Once a place reaches the bar, the stage's answer holds only the places
    scoring at least the bar or within ``margin`` of the best
    (``SearchResult.candidates``), and its checks look no lower
    (``verification.shadowed``): a place under both is scanned for nothing.  At
    200 % the captured size scores 0.85-0.94 there, under ``EARLY_STOP``, and
    the seven scales after it were most of such a search.  A grey scan decides
    where colours are scored, so the floor stays ``COLOUR_PLAY`` under what the
    answer can hold.
    """
    if top < bar:
        return floor
    return max(floor, min(bar, top - margin) - COLOUR_PLAY)
