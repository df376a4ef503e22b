"""Ranking blocks against what a person types into the palette's search field.

The palette inserts the best match on Enter, so the order is what matters: a
substring test over descriptions in tree order made "pass" insert Delay and
"if" insert Fail (their descriptions happen to contain the word).  A block
whose id or title *is* the query comes first, then one whose id ends in it,
then word and prefix hits in ids and titles, and descriptions last.  Every
word of the query must appear somewhere, as before, so narrowing by typing
more still works.

Pure functions over plain strings, so the ranking is tested without Qt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[a-z0-9]+")

#: Whole-query bonuses.
_ID_EXACT = 1000.0
_TITLE_EXACT = 900.0
_LAST_SEGMENT_EXACT = 800.0
_LAST_SEGMENT_PREFIX = 300.0
#: Per-word scores (the best place a word is found counts).
_NAME_WORD = 40.0
_NAME_PREFIX = 25.0
_NAME_SUBSTRING = 10.0
_SUMMARY_WORD = 4.0
_SUMMARY_PREFIX = 2.0
_SUMMARY_SUBSTRING = 1.0


@dataclass(frozen=True)
class Searchable:
    """What the palette knows of a block, lower-cased once."""

    block_id: str
    title: str
    summary: str
    category: str

    @classmethod
    def of(cls, block_id: str, title: str, summary: str, category: str) -> Searchable:
        return cls(block_id.lower(), title.lower(), summary.lower(), category.lower())

    @property
    def haystack(self) -> str:
        return f"{self.block_id} {self.title} {self.summary} {self.category}"


def _word_score(
    word: str, names: list[str], name_text: str, summary: list[str], summary_text: str
) -> float:
    if word in names:
        return _NAME_WORD
    if any(name.startswith(word) for name in names):
        return _NAME_PREFIX
    if word in name_text:
        return _NAME_SUBSTRING
    if word in summary:
        return _SUMMARY_WORD
    if any(token.startswith(word) for token in summary):
        return _SUMMARY_PREFIX
    if word in summary_text:
        return _SUMMARY_SUBSTRING
    return 0.0


def score(query: str, block: Searchable) -> float | None:
    """How well ``block`` answers ``query``: higher is better, None when it does not match.

    An empty query matches everything with score 0, so the palette keeps its
    category order.
    """
    words = query.lower().split()
    if not words:
        return 0.0
    haystack = block.haystack
    if not all(word in haystack for word in words):
        return None
    names = _WORD.findall(f"{block.block_id} {block.title}")
    name_text = f"{block.block_id} {block.title}"
    summary = _WORD.findall(f"{block.summary} {block.category}")
    summary_text = f"{block.summary} {block.category}"
    total = sum(_word_score(word, names, name_text, summary, summary_text) for word in words)
    whole = " ".join(words)
    last_segment = block.block_id.rsplit(".", 1)[-1]
    joined = "_".join(words)
    if whole == block.block_id:
        total += _ID_EXACT
    if whole == block.title:
        total += _TITLE_EXACT
    if joined == last_segment:
        total += _LAST_SEGMENT_EXACT
    elif last_segment.startswith(joined):
        total += _LAST_SEGMENT_PREFIX
    return total


def rank(query: str, blocks: list[Searchable]) -> list[tuple[Searchable, float]]:
    """The blocks that match, best first; ties go to the shorter title, then the id."""
    scored = [(block, value) for block in blocks if (value := score(query, block)) is not None]
    scored.sort(key=lambda pair: (-pair[1], len(pair[0].title), pair[0].block_id))
    return scored
