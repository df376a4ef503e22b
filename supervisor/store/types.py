"""Column types that behave the same on SQLite and PostgreSQL.

Timestamps are stored as fixed-width ISO 8601 text in UTC
(``2026-01-01T09:30:00.000000+00:00``): it sorts correctly as text, reads back
as an aware UTC datetime on every backend, and is readable in any SQLite
browser.  JSON is stored as text written with ``default=str`` so that an odd
value in a step's outputs (a ``Path``, bytes, a set) never makes a write fail.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

#: Width of a stored timestamp; every value has exactly this many characters.
TIMESTAMP_WIDTH = 32


def format_timestamp(value: datetime) -> str:
    """Aware datetime -> sortable UTC text; naive datetimes are a bug and are refused."""
    if value.tzinfo is UTC:
        return value.isoformat(timespec="microseconds")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"history timestamps must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime stored as sortable ISO text."""

    impl = String(TIMESTAMP_WIDTH)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        return None if value is None else format_timestamp(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> datetime | None:
        return None if value is None else parse_timestamp(value)


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON-encodable copy: odd keys become strings, odd values their str(), NaN stays."""
    if depth > 64:
        return str(value)
    if isinstance(value, dict):
        return {
            key if isinstance(key, str) else str(key): _plain(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item, depth + 1) for item in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


# One encoder for the hot path: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False, allow_nan=False)


def dump_json(value: Any) -> str:
    """Serialise anything a block may have emitted; never raises.

    NaN and infinities are stored as text: they are not JSON, and a reader in
    another language (the GUI's web views, PostgreSQL) would refuse them.
    """
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError):
        # Dict keys json cannot coerce, NaN, or a reference cycle.
        return _ENCODER.encode(_plain(value))


class JSONText(TypeDecorator[Any]):
    """Any JSON-like value, stored as text; unencodable parts are stored as their str()."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else dump_json(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)
