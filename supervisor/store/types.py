"""Column types that behave the same on SQLite and PostgreSQL.

Timestamps are stored as integer microseconds since the Unix epoch, UTC: they
sort and compare as numbers, read back as aware UTC datetimes on every
backend, and cost a fraction of ISO text to write (formatting ISO text was
the largest single cost of recording a step).  In an SQLite shell,
``datetime(col / 1e6, 'unixepoch')`` shows one.  JSON is stored as text
written with ``default=str`` so that an odd value in a step's outputs (a
``Path``, bytes, a set) never makes a write fail.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(value: datetime) -> int:
    """Aware datetime -> microseconds since the epoch; naive datetimes are a bug and are refused."""
    try:
        return (value - EPOCH) // _MICROSECOND
    except TypeError:
        raise ValueError(
            f"history timestamps must be timezone-aware, got naive {value!r}"
        ) from None


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime stored as integer microseconds since the epoch."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> int | None:
        return None if value is None else to_micros(value)

    def process_result_value(self, value: int | None, dialect: Dialect) -> datetime | None:
        return None if value is None else from_micros(value)


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON-encodable copy: odd keys and values become strings, and so do NaN and infinities."""
    if depth > 64:
        return str(value)
    if isinstance(value, dict):
        return {
            key if isinstance(key, str) else str(key): _plain(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, set | frozenset):
        return _plain(_fallback(value), depth + 1)
    if isinstance(value, list | tuple):
        return [_plain(item, depth + 1) for item in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def _fallback(value: Any) -> Any:
    """How json stores what it does not know: sets as lists, anything else as its str()."""
    if isinstance(value, set | frozenset):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    return str(value)


# One encoder for the hot path: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(default=_fallback, ensure_ascii=False, allow_nan=False)


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
