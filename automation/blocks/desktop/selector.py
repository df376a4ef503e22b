"""Accessibility selectors: a path through the UI tree that names one element.

A selector is written as steps joined by ``/``::

    app=galculator / frame / ... / toggle button[name=7]
    pid=4242 / ... / push button[name~="Save( as)?"]
    app=SpeedCrunch / ... / text[index=1]

* an optional scope first: ``app=NAME`` (case-insensitive), ``app~=REGEX`` or
  ``pid=N``; without one every application is searched;
* each step is a role (``push button``, ``toggle button``, ``text``, ``*`` for
  any; ``button`` matches every kind of button) and optional attributes in
  brackets: ``name=`` (exact), ``name~=`` (a regular expression that must match
  the whole name) and ``index=`` (the N-th, from 0, of the elements the step
  matches under one parent, in tree order);
* the first step matches at any depth under the application; each later step
  matches a direct child of the one before, unless ``...`` stands between them
  (any depth).

Values may be quoted (``name="a, b"``) and must be when they hold ``,``, ``]``
or quotes; a ``/`` inside brackets needs no quotes (``[name=/]``).

This module is pure: it parses, prints and matches against any tree of
``Node`` objects, so the rules are tested without an accessibility bus.  The
AT-SPI side lives in ``accessibility.py``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

#: ``button`` in a selector stands for any of these roles (GTK's calculator keys are
#: toggle buttons, Qt's are push buttons; a person just sees buttons).
BUTTON_ROLES = frozenset({"push button", "toggle button", "push button menu", "button"})
_SPECIAL = set(",][\"'\\") | {"/"}


class SelectorError(ValueError):
    """A selector that cannot be parsed; the message points at the problem."""


class Node(Protocol):
    """What matching needs from an element of a UI tree."""

    @property
    def role(self) -> str: ...

    @property
    def name(self) -> str: ...

    def children(self) -> Sequence[Node]: ...


def normalise_role(role: str) -> str:
    return " ".join(role.replace("_", " ").replace("-", " ").lower().split())


@dataclass(frozen=True)
class Step:
    """One level of a selector path."""

    role: str | None = None
    name: str | None = None
    name_regex: str | None = None
    index: int | None = None
    deep: bool = False
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.role is not None:
            object.__setattr__(self, "role", normalise_role(self.role) or None)
        if self.name_regex is not None:
            try:
                object.__setattr__(self, "_pattern", re.compile(self.name_regex))
            except re.error as exc:
                raise SelectorError(
                    f"name~={self.name_regex!r} is not a valid regular expression: {exc}"
                ) from None
        if self.index is not None and self.index < 0:
            raise SelectorError(f"index must be 0 or more, got {self.index}")

    def matches(self, node: Node) -> bool:
        if self.role is not None and self.role != "*":
            role = normalise_role(node.role)
            if self.role == "button":
                if role not in BUTTON_ROLES:
                    return False
            elif role != self.role:
                return False
        if self.name is not None and node.name != self.name:
            return False
        return not (self._pattern is not None and not self._pattern.fullmatch(node.name))

    def __str__(self) -> str:
        attrs = []
        if self.name is not None:
            attrs.append(f"name={quote(self.name)}")
        if self.name_regex is not None:
            attrs.append(f"name~={quote(self.name_regex)}")
        if self.index is not None:
            attrs.append(f"index={self.index}")
        text = self.role or "*"
        return text + (f"[{', '.join(attrs)}]" if attrs else "")


@dataclass(frozen=True)
class Selector:
    """A parsed selector: which applications, then the steps down the tree."""

    steps: tuple[Step, ...]
    app: str | None = None
    app_regex: str | None = None
    pid: int | None = None

    def __post_init__(self) -> None:
        if not self.steps:
            raise SelectorError("a selector needs at least one step after its app= or pid=")

    def wants_app(self, name: str, pid: int | None) -> bool:
        if self.pid is not None and pid != self.pid:
            return False
        if self.app is not None and name.casefold() != self.app.casefold():
            return False
        return not (
            self.app_regex is not None
            and not re.fullmatch(self.app_regex, name, flags=re.IGNORECASE)
        )

    def scope(self) -> str:
        parts = []
        if self.app is not None:
            parts.append(f"app={quote(self.app)}")
        if self.app_regex is not None:
            parts.append(f"app~={quote(self.app_regex)}")
        if self.pid is not None:
            parts.append(f"pid={self.pid}")
        return " / ".join(parts)

    def __str__(self) -> str:
        parts = [self.scope()] if self.scope() else []
        for number, step in enumerate(self.steps):
            if step.deep and number > 0:
                parts.append("...")
            parts.append(str(step))
        return " / ".join(parts)


def quote(value: str) -> str:
    if value and value == value.strip() and not (set(value) & _SPECIAL):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- parsing ---------------------------------------------------------------------------------


def parse(text: str) -> Selector:
    """Parse a selector path; raises ``SelectorError`` naming the bad part."""
    segments = [s.strip() for s in _split(text, "/", brackets=True)]
    if not segments or segments == [""]:
        raise SelectorError("the selector is empty")
    app = app_regex = None
    pid = None
    steps: list[Step] = []
    deep = False
    for position, segment in enumerate(segments):
        where = f"part {position + 1} ({segment!r}) of {text!r}"
        if not segment:
            raise SelectorError(f"empty part in {text!r}: two '/' with nothing between")
        scope = re.fullmatch(r"(app|pid)\s*(~?=)\s*(.+)", segment)
        if scope and not steps and not deep:
            key, op, value = scope.group(1), scope.group(2), _unquote(scope.group(3).strip())
            if key == "pid":
                if op != "=" or not value.isdigit():
                    raise SelectorError(f"{where}: pid takes a number, as pid=4242")
                pid = int(value)
            elif op == "=":
                app = value
            else:
                app_regex = value
            continue
        if segment == "...":
            if deep:
                raise SelectorError(f"{where}: two '...' in a row")
            deep = True
            continue
        steps.append(_parse_step(segment, deep or not steps, where))
        deep = False
    if deep:
        raise SelectorError(f"{text!r} ends with '...': say what to find below it")
    return Selector(tuple(steps), app=app, app_regex=app_regex, pid=pid)


def _parse_step(segment: str, deep: bool, where: str) -> Step:
    match = re.fullmatch(r"([^\[\]]*?)\s*(?:\[(.*)\])?", segment, flags=re.DOTALL)
    if match is None:
        raise SelectorError(f"{where}: expected 'role' or 'role[name=...]'")
    role = match.group(1).strip() or None
    values: dict[str, str] = {}
    if match.group(2) is not None:
        for item in _split(match.group(2), ",", brackets=False):
            attr = re.fullmatch(r"\s*(name|index)\s*(~?=)\s*(.*?)\s*", item, flags=re.DOTALL)
            if attr is None:
                raise SelectorError(
                    f"{where}: {item.strip()!r} is not name=..., name~=... or index=N"
                )
            key = attr.group(1) + ("_regex" if attr.group(2) == "~=" else "")
            if key == "index_regex":
                raise SelectorError(f"{where}: index takes a number, as index=0")
            if key in values:
                raise SelectorError(f"{where}: {attr.group(1)} is given twice")
            values[key] = _unquote(attr.group(3))
    index = None
    if "index" in values:
        if not values["index"].isdigit():
            raise SelectorError(f"{where}: index takes a number, got {values['index']!r}")
        index = int(values["index"])
    return Step(
        role=None if role == "*" else role,
        name=values.get("name"),
        name_regex=values.get("name_regex"),
        index=index,
        deep=deep,
    )


def _split(text: str, separator: str, *, brackets: bool) -> list[str]:
    """Split on ``separator`` outside quotes (and outside brackets when asked)."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    quote_char: str | None = None
    chars = iter(text)
    for char in chars:
        if quote_char is not None:
            current.append(char)
            if char == "\\":
                current.append(next(chars, ""))
            elif char == quote_char:
                quote_char = None
            continue
        if char in "\"'":
            quote_char = char
        elif brackets and char == "[":
            depth += 1
        elif brackets and char == "]":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quote_char is not None:
        raise SelectorError(f"unclosed quote in {text!r}")
    if depth != 0:
        raise SelectorError(f"unbalanced brackets in {text!r}")
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


# -- matching ---------------------------------------------------------------------------------


@dataclass
class NoMatch:
    """Why a selector found nothing: the step that failed and what was there instead."""

    step: int
    searched: int
    closest: list[Node]


def descendants(node: Node) -> Iterator[Node]:
    for child in node.children():
        yield child
        yield from descendants(child)


def match(selector: Selector, apps: Sequence[Node]) -> list[Node] | NoMatch:
    """Every node the selector names under ``apps`` (already filtered by scope), in tree order."""
    frontier: list[Node] = list(apps)
    for number, step in enumerate(selector.steps):
        found: list[Node] = []
        seen: set[int] = set()
        considered: list[Node] = []
        for parent in frontier:
            pool = list(descendants(parent)) if step.deep else list(parent.children())
            considered.extend(pool)
            hits = [node for node in pool if step.matches(node)]
            if step.index is not None:
                hits = hits[step.index : step.index + 1]
            for node in hits:
                if id(node) not in seen:
                    seen.add(id(node))
                    found.append(node)
        if not found:
            return NoMatch(number, len(considered), closest(step, considered))
        frontier = found
    return frontier


def closest(step: Step, pool: Sequence[Node], limit: int = 5) -> list[Node]:
    """The nodes most like what ``step`` asked for: similar name first, then the role."""
    wanted = step.name if step.name is not None else (step.name_regex or "")

    def score(node: Node) -> float:
        value = 0.0
        if wanted:
            value += difflib.SequenceMatcher(None, wanted.casefold(), node.name.casefold()).ratio()
        role_step = Step(role=step.role)
        if step.role is not None and role_step.matches(node):
            value += 0.5
        elif step.role is not None:
            value += 0.25 * difflib.SequenceMatcher(None, step.role, node.role).ratio()
        return value

    ranked = sorted(pool, key=score, reverse=True)
    return [node for node in ranked[:limit] if score(node) > 0]
