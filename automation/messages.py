"""Pydantic's validation errors in Deskpilot's own words.

Pydantic writes for Python programmers ("Input should be a valid integer,
unable to parse string as an integer", "Value error, ..."); a workflow author
reads YAML.  ``describe`` turns one pydantic error into a message and a hint
that speak of the file: what is wrong with the value, what was written, and
what to write instead.  Every place that shows a pydantic error to a person
(the loader, validation, a block's inputs at run time, the editor's forms)
goes through here, so the same mistake reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

_KINDS = {
    "string": "text",
    "str": "text",
    "integer": "a whole number",
    "int": "a whole number",
    "number": "a number",
    "float": "a number",
    "boolean": "true or false",
    "bool": "true or false",
    "array": "a list",
    "list": "a list",
    "object": "a mapping",
    "dict": "a mapping",
    "null": "nothing (null)",
}


def kind_name(kind: str) -> str:
    """A JSON Schema type (``integer``) as a person says it (``a whole number``)."""
    return _KINDS.get(kind, kind)


def shown(value: Any) -> str:
    """What was written, briefly: ``'abc'``, ``3``, ``true``, ``a list``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return repr(text)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _expected(ctx: Mapping[str, Any], key: str) -> str:
    return str(ctx.get(key, "")).replace("'", "")


def _plural(count: Any, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def describe(error: Mapping[str, Any]) -> tuple[str, str | None]:
    """(message, hint) for one entry of ``ValidationError.errors()``."""
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    given = error.get("input")
    loc: Sequence[Any] = error.get("loc") or ()
    got = f", not {shown(given)}"
    simple = {
        "string_type": ("must be text", "write it as text; quote it if it looks like a number"),
        "int_type": ("must be a whole number", "write a whole number such as 3"),
        "int_parsing": ("must be a whole number", "write a whole number such as 3"),
        "int_from_float": ("must be a whole number", "drop the fraction"),
        "float_type": ("must be a number", "write a number such as 1.5"),
        "float_parsing": ("must be a number", "write a number such as 1.5"),
        "bool_type": ("must be true or false", "write true or false"),
        "bool_parsing": ("must be true or false", "write true or false"),
        "dict_type": ("must be a mapping", "write 'key: value' lines indented below it"),
        "model_type": ("must be a mapping", "write 'key: value' lines indented below it"),
        "model_attributes_type": ("must be a mapping", "write 'key: value' lines below it"),
        "list_type": ("must be a list", "write [a, b] or one '- item' per line"),
        "tuple_type": ("must be a list", "write [a, b]"),
        "none_required": ("must be empty (null)", "remove the value"),
    }
    if kind in simple:
        message, hint = simple[kind]
        return message + got, hint
    if kind == "missing":
        name = loc[-1] if loc else "this field"
        return f"'{name}' is required", "add this field"
    if kind == "extra_forbidden":
        name = loc[-1] if loc else "this field"
        return f"unknown field '{name}'", "remove it, or check its spelling"
    if kind in ("literal_error", "enum"):
        return (
            f"must be one of {_expected(ctx, 'expected')}{got}",
            "use one of the values listed",
        )
    bounds = {
        "greater_than": ("must be more than {gt}", "gt"),
        "greater_than_equal": ("must be at least {ge}", "ge"),
        "less_than": ("must be less than {lt}", "lt"),
        "less_than_equal": ("must be at most {le}", "le"),
    }
    if kind in bounds:
        template, _key = bounds[kind]
        return template.format(**ctx) + got, None
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        if least == 1:
            return "must not be empty", "write a value, or remove the field to use its default"
        return f"must be at least {_plural(least, 'character')} long{got}", None
    if kind == "string_too_long":
        return f"must be at most {_plural(ctx.get('max_length'), 'character')} long", None
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        return f"must have at least {_plural(least, 'item')}", None
    if kind == "too_long":
        return f"must have at most {_plural(ctx.get('max_length'), 'item')}", None
    if kind == "string_pattern_mismatch":
        return f"{shown(given)} is not allowed here", f"it must match {ctx.get('pattern')}"
    if kind == "union_tag_invalid":
        return (
            f"'{_expected(ctx, 'discriminator') or 'type'}' must be one of "
            f"{_expected(ctx, 'expected_tags')}, not {shown(ctx.get('tag'))}",
            "set 'type' to schedule, file, webhook, after or hotkey",
        )
    if kind == "union_tag_not_found":
        return (
            f"'{_expected(ctx, 'discriminator') or 'type'}' is missing",
            "add 'type: schedule' (or file, webhook, after, hotkey)",
        )
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"]), None
    return _reworded(str(error.get("msg", kind))), None


def _reworded(message: str) -> str:
    """Pydantic's own text, in our voice, for error types not listed above."""
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if message.startswith("Input should be "):
        message = "must be " + message[len("Input should be ") :]
    elif message.startswith("Input "):
        message = "the value " + message[len("Input ") :]
    if message and not message[:2].isupper():  # keep "URL ..." as it is
        message = message[0].lower() + message[1:]
    return message


def describe_all(exc: ValidationError, *, with_location: bool = True) -> str:
    """Every error of ``exc`` on one line, each after the field it is about."""
    parts = []
    for error in exc.errors():
        message, hint = describe(error)
        where = ".".join(str(p) for p in error["loc"])
        text = f"{where}: {message}" if with_location and where else message
        parts.append(f"{text} ({hint})" if hint else text)
    return "; ".join(parts)
