"""What a pause event says of the paused node's values: masked, then cut to a bounded size.

A ``NodePaused`` event carries the values a node is about to run with (the
values on its pins, its rendered inputs, the run's variables), so that the
window, ``deskpilot submit --wait`` and another machine's supervisor can show
them.  The event is sent over the worker's pipe and the live event stream,
and stored in the run's history like every other event: a pause is part of
what the run did, and the history is where a machine that does not run the
run reads it from.  Stored, a node's values could be anything the run held:
a screenshot as base64, a 100 MB file read into a variable, a secret.

So the values in the event are display copies, made here once for every
front end:

- masked first, by the run's redactor (``ExecutionRun.safe``), as every event's
  values are; the cut below comes after, so it never leaves part of a secret
  unmasked;
- each string cut to ``STRING_LIMIT`` characters and each list and mapping to
  ``ITEM_LIMIT`` items, saying how much was left out (as the history's copies
  of step outputs are);
- and all of the event's values together to about ``TOTAL_LIMIT`` characters
  of JSON: past it, the largest values are replaced by a note of their size.

The node itself runs with the whole values (the engine keeps them); an edit
made during the pause replaces a value as typed.  Only the names of edited
values are recorded when the pause ends (``NodeResumed.edited``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

STRING_LIMIT = 2048
ITEM_LIMIT = 100
TOTAL_LIMIT = 64 * 1024
_DEPTH_LIMIT = 32


def _cut(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        if len(value) > STRING_LIMIT:
            return value[:STRING_LIMIT] + f"… ({len(value)} characters)"
        return value
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= _DEPTH_LIMIT:
        return _cut(str(value), depth)
    if isinstance(value, Mapping):
        items = list(value.items())
        kept = {str(key): _cut(item, depth + 1) for key, item in items[:ITEM_LIMIT]}
        if len(items) > ITEM_LIMIT:
            kept["…"] = f"{len(items) - ITEM_LIMIT} more entries"
        return kept
    if isinstance(value, list | tuple | set | frozenset):
        listed = list(value)
        head = [_cut(item, depth + 1) for item in listed[:ITEM_LIMIT]]
        if len(listed) > ITEM_LIMIT:
            head.append(f"… {len(listed) - ITEM_LIMIT} more items")
        return head
    return _cut(str(value), depth)


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str))


def shown_values(sections: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Bounded display copies of already masked values, by section (pins, inputs, vars).

    One budget for all the sections together: the event's whole size is what
    is bounded.
    """
    shown = {
        section: {str(name): _cut(value) for name, value in values.items()}
        for section, values in sections.items()
    }
    sizes = {  # each entry as it is written: "name": value,
        (section, name): _size(name) + 2 + _size(value)
        for section, values in shown.items()
        for name, value in values.items()
    }
    total = sum(sizes.values())
    for (section, name), size in sorted(sizes.items(), key=lambda item: -item[1]):
        if total <= TOTAL_LIMIT:
            break
        note = f"… (not shown: {size} characters; a pause shows {TOTAL_LIMIT // 1024} KB of values)"
        shown[section][name] = note
        total -= size - (_size(name) + 2 + _size(note))
    return shown
