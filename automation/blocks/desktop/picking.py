"""Choosing one match among look-alikes, or saying that it cannot be done.

``matching.find`` returns every distinct place that scored at least the bar
or within the margin of the best.  ``choose`` turns that into one answer:

* with ``index``: the n-th look-alike (a place scoring within the margin of
  the best) in reading order (rows top to bottom, then left to right; places
  whose centres are within half a template's height are one row).  With
  ``count`` too, only when exactly that many look-alikes are found: on
  qalculate's keypad of 24 identical menu arrows, an index taken at 100 % light
  named another arrow in 7 of 32 replayed cases (other positions, themes and
  scales), because an arrow more or less was found before it;
* with ``nearest``: the look-alike whose centre is nearest to a point (two
  about equally near are an ambiguity too);
* otherwise: the best, **provided no other place scores within the margin of
  it**.  When one does, the target is ambiguous and ``Ambiguous`` is raised
  with every close place and its score, so the step fails instead of acting
  on a guess.  A keypad of near-identical buttons is the classic case: the
  "1" and the "7" keys, a blank key face, a digit crop that fits a display.

Pure functions of the candidates, so tests drive them with plain ``Match``
values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from automation.blocks.desktop.matching import Match

#: Two places whose distances to ``nearest`` differ by less than this are a tie.
NEAREST_TIE_PX = 3


class Ambiguous(Exception):
    """More than one place fits about equally well; ``close`` lists them, best first."""

    def __init__(self, close: Sequence[Match], reason: str) -> None:
        super().__init__(reason)
        self.close = list(close)
        self.reason = reason


class CountChanged(Exception):
    """``index`` was given with ``count`` and another number of places matched."""

    def __init__(self, index: int, count: int, found: Sequence[Match]) -> None:
        super().__init__(
            f"index {index} of {count} was asked for, but {len(found)} places match: "
            "the n-th of them may be another place"
        )
        self.index = index
        self.count = count
        self.found = list(found)


class IndexOutOfRange(Exception):
    """``index`` asked for more places than were found; ``found`` lists them in reading order."""

    def __init__(self, index: int, found: Sequence[Match]) -> None:
        super().__init__(f"index {index} was asked for, but {len(found)} places match")
        self.index = index
        self.found = list(found)


def reading_order(matches: Sequence[Match]) -> list[Match]:
    """Rows top to bottom, left to right within a row."""
    rows: list[list[Match]] = []
    for match in sorted(matches, key=lambda m: m.center[1]):
        if rows and abs(match.center[1] - rows[-1][0].center[1]) <= match.height // 2:
            rows[-1].append(match)
        else:
            rows.append([match])
    return [m for row in rows for m in sorted(row, key=lambda m: m.center[0])]


def lookalikes(candidates: Sequence[Match], margin: float) -> list[Match]:
    """The best candidate and every other one scoring within ``margin`` of it."""
    if not candidates:
        return []
    best = max(candidates, key=lambda m: m.score)
    return sorted((m for m in candidates if m.score >= best.score - margin), key=lambda m: -m.score)


def choose(
    candidates: Sequence[Match],
    *,
    margin: float,
    index: int | None = None,
    count: int | None = None,
    nearest: tuple[int, int] | None = None,
) -> Match:
    """The one place the target means; raises ``Ambiguous``, ``IndexOutOfRange``
    or ``CountChanged``.

    ``index`` and ``nearest`` choose among the look-alikes only (the places
    scoring within ``margin`` of the best): a merely similar place scoring
    well below them must not shift the count or win by being near.
    """
    if not candidates:
        raise ValueError("choose needs at least one candidate")
    close = lookalikes(candidates, margin)
    if index is not None:
        ordered = reading_order(close)
        if count is not None and len(ordered) != count:
            raise CountChanged(index, count, ordered)
        if index >= len(ordered):
            raise IndexOutOfRange(index, ordered)
        return ordered[index]
    if nearest is not None:
        px, py = nearest
        by_distance = sorted(close, key=lambda m: math.hypot(m.center[0] - px, m.center[1] - py))
        first = by_distance[0]
        if len(by_distance) > 1:
            second = by_distance[1]
            d1 = math.hypot(first.center[0] - px, first.center[1] - py)
            d2 = math.hypot(second.center[0] - px, second.center[1] - py)
            if d2 - d1 < NEAREST_TIE_PX:
                raise Ambiguous(
                    [first, second],
                    f"two places are equally near ({d1:.0f} and {d2:.0f} px) to {list(nearest)}",
                )
        return first
    if len(close) > 1:
        raise Ambiguous(close, f"{len(close)} places score within {margin:g} of the best")
    return close[0]
