"""Durations as people write them in workflow files: ``500ms``, ``2s``, ``1m30s``, ``1.5h``.

A bare number means seconds.  We parse to float seconds because every
interval in the engine is measured with ``time.monotonic``.
"""

from __future__ import annotations

import decimal
import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_WHOLE = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)\s*)+$")


def parse_duration(value: Any) -> float:
    """Return seconds for ``value``, or raise ``ValueError`` saying what is accepted."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '30s', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            if not _WHOLE.match(text):
                raise ValueError(
                    f"'{value}' is not a duration; write a number of seconds or units like "
                    "'500ms', '30s', '5m', '1h30m', '2d'"
                ) from None
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
    else:
        raise ValueError(f"expected a duration such as '30s', got {type(value).__name__}")
    if not math.isfinite(seconds):
        raise ValueError(f"a duration must be a finite number of seconds, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest readable form that parses back to the same value."""
    if seconds == 0:
        return "0s"
    # each candidate is checked with the arithmetic parse_duration uses, so it reads back exactly
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        count = round(seconds / size)
        if count >= 1 and float(count) * size == seconds:
            return f"{count}{unit}"
    if seconds < 1:
        millis = f"{seconds * 1000:.12g}"
        if "e" not in millis and float(millis) * _UNIT_SECONDS["ms"] == seconds:
            return f"{millis}ms"
    text = repr(float(seconds))  # the shortest text that reads back as the same float
    if "e" in text:
        text = format(decimal.Decimal(text), "f")
    return text.removesuffix(".0") + "s"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*)+$"},
            ],
            "description": "seconds, or a duration such as '500ms', '30s', '5m', '1h30m'",
        }
    ),
]
