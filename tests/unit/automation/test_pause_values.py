"""``shown_values``: a pause event's copies of the node's values, bounded whatever they are."""

from __future__ import annotations

import json

from automation.engine.pause_values import ITEM_LIMIT, STRING_LIMIT, TOTAL_LIMIT, shown_values


def test_many_large_values_together_stay_within_the_budget_largest_first() -> None:
    many = {f"v{i:03}": "y" * (STRING_LIMIT + 10) for i in range(100)}
    shown = shown_values({"pins": {"small": 3}, "inputs": {}, "vars": many})
    assert len(json.dumps(shown, ensure_ascii=False)) <= TOTAL_LIMIT + 100  # + the braces
    assert shown["pins"] == {"small": 3}, "small values are kept"
    kept = [v for v in shown["vars"].values() if v.startswith("y")]
    notes = [v for v in shown["vars"].values() if v.startswith("… (not shown:")]
    assert kept and notes and len(kept) + len(notes) == 100


def test_nested_bytes_and_odd_objects_become_short_text() -> None:
    deep: object = "bottom"
    for _ in range(100):
        deep = [deep]
    shown = shown_values(
        {"vars": {"raw": b"\x00" * 10, "deep": deep, "map": {str(i): i for i in range(500)}}}
    )
    assert shown["vars"]["raw"] == "<10 bytes>"
    assert len(shown["vars"]["map"]) == ITEM_LIMIT + 1 and shown["vars"]["map"]["…"]
    json.dumps(shown)  # all of it is JSON
