"""Durations as people write them: parsing, formatting, and the messages for bad values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from automation.durations import Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("2s", 2.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("2d", 172800.0),
        ("1m30s", 90.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        (" 2 s ", 2.0),
        ("1h 30m 15s", 5415.0),
        ("30S", 30.0),
        ("0", 0.0),
        ("12", 12.0),
        ("0.25", 0.25),
        (3, 3.0),
        (0.5, 0.5),
    ],
)
def test_parse_accepts_what_people_write(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("5 parsecs", "'5 parsecs' is not a duration"),
        ("s", "is not a duration"),
        ("", "is not a duration"),
        ("1m30", "is not a duration"),
        ("ten seconds", "500ms"),  # the message lists the accepted forms
        (-1, "cannot be negative"),
        ("-5", "cannot be negative"),
        (True, "expected a duration"),
        ([1], "expected a duration such as '30s', got list"),
        (None, "got NoneType"),
    ],
)
def test_bad_values_say_what_is_accepted(value: object, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (0.001, "1ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (90, "90s"),
        (60, "1m"),
        (5400, "90m"),
        (3600, "1h"),
        (86400, "1d"),
        (172800, "2d"),
    ],
)
def test_format_is_short_and_readable(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.integers(min_value=0, max_value=999_999).map(float)
    | st.integers(min_value=0, max_value=10**5).map(lambda ms: ms / 1000)
)
def test_format_then_parse_round_trips_for_whole_milliseconds(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-9)


@pytest.mark.parametrize("seconds", [1000001.0, 12345.67, 0.1234567, 1e-7, 1e20, 0.1 + 0.2])
def test_format_then_parse_round_trips_exactly(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@settings(max_examples=300, deadline=None, database=None)
@given(st.floats(min_value=1e-3, max_value=1e9) | st.just(0.0))
def test_format_then_parse_round_trips_any_realistic_float(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("seconds", [1.0000000000000002e-06, 5e-324])
def test_format_then_parse_round_trips_tiny_floats(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("value", ["nan", "inf", float("nan"), "-nan"])
def test_non_finite_durations_are_rejected(value: object) -> None:
    with pytest.raises(ValueError):
        result = parse_duration(value)
        assert math.isfinite(result)


class _Holder(BaseModel):
    wait: Duration


def test_duration_fields_parse_on_load_and_format_in_json() -> None:
    holder = _Holder.model_validate({"wait": "1m30s"})
    assert holder.wait == 90.0
    assert holder.model_dump(mode="json") == {"wait": "90s"}
    assert holder.model_dump() == {"wait": 90.0}  # python mode keeps seconds


def test_duration_field_error_carries_the_message() -> None:
    with pytest.raises(ValidationError) as caught:
        _Holder.model_validate({"wait": "soon"})
    assert "'soon' is not a duration" in str(caught.value)


def test_duration_json_schema_accepts_numbers_and_unit_strings() -> None:
    schema = _Holder.model_json_schema()["properties"]["wait"]
    kinds = {option["type"] for option in schema["anyOf"]}
    assert kinds == {"number", "string"}
    assert "500ms" in schema["description"]
