"""The orders of a search: its scales, most likely first, and a stage's places, best
first, one per place (``matching``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automation.blocks.desktop.matching import Match


def distinct(found: list[Match]) -> list[Match]:
    """Best first, one per place: lower-scoring copies of a place (other scales) are dropped."""
    kept: list[Match] = []
    for match in sorted(found, key=lambda m: -m.score):
        if not any(match.same_place(k) for k in kept):
            kept.append(match)
    return kept


def ordered(scales: Iterable[float]) -> list[float]:
    seen: list[float] = []
    for scale in scales:
        value = round(float(scale), 4)
        if value <= 0:
            raise ValueError(f"scales must be positive, got {scale}")
        if value not in seen:
            seen.append(value)
    return seen or [1.0]
