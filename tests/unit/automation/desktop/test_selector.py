"""Accessibility selectors: parsing, printing and matching on a tree made in the test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from automation.blocks.desktop.selector import (
    NoMatch,
    Selector,
    SelectorError,
    Step,
    match,
    parse,
    quote,
)


@dataclass(eq=False)
class FakeNode:
    role: str
    name: str = ""
    kids: list[FakeNode] = field(default_factory=list)

    def children(self) -> Sequence[FakeNode]:
        return self.kids


def keypad() -> FakeNode:
    keys = [FakeNode("toggle button", n) for n in ("7", "8", "9", "/", "1", "2")]
    display = FakeNode("text", "")
    hidden_menu = FakeNode("menu", "Edit", [FakeNode("menu item", "Copy")])
    frame = FakeNode(
        "frame",
        "galculator",
        [FakeNode("panel", "", [display]), FakeNode("panel", "", keys), hidden_menu],
    )
    return FakeNode("application", "galculator", [frame])


def test_parse_scope_steps_and_attributes() -> None:
    parsed = parse("app=galculator / frame / ... / toggle button[name=7]")
    assert parsed.app == "galculator" and parsed.pid is None
    assert [s.role for s in parsed.steps] == ["frame", "toggle button"]
    assert parsed.steps[0].deep and parsed.steps[1].deep
    assert parsed.steps[1].name == "7"
    pid = parse('pid=42 / push_button[name~="Save( as)?", index=1]')
    assert pid.pid == 42
    assert pid.steps[0].role == "push button"
    assert pid.steps[0].name_regex == "Save( as)?" and pid.steps[0].index == 1


def test_slashes_commas_and_quotes_inside_names() -> None:
    parsed = parse('app=galculator / ... / button[name=/] / label[name="a, b]"]')
    assert parsed.steps[0].name == "/"
    assert parsed.steps[1].name == "a, b]" and not parsed.steps[1].deep


@pytest.mark.parametrize(
    "text",
    [
        "app=galculator / frame / ... / toggle button[name=7]",
        'pid=7 / push button[name~="Save.*", index=2]',
        'app=x / * / label[name="a/b, c"]',
        'app=x / text[name=""]',
    ],
)
def test_printing_parses_back_to_the_same_selector(text: str) -> None:
    parsed = parse(text)
    assert parse(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("app=x / ...", "ends with '...'"),
        ("app=x / button[name=7", "unbalanced"),
        ("app=x / button[colour=red]", "'colour=red' is not name="),
        ("app=x / button[index=a]", "index takes a number"),
        ("app=x / button[name~=(]", "not a valid regular expression"),
        ("pid=abc / button", "pid takes a number"),
        ('app=x / button[name="7]', "unclosed quote"),
        ("app=x / / button", "nothing between"),
        ("app=x", "at least one step"),
    ],
)
def test_bad_selectors_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(SelectorError, match=None) as caught:
        parse(text)
    assert says in str(caught.value)


def test_button_matches_every_button_role_and_roles_are_normalised() -> None:
    assert Step(role="button").matches(FakeNode("toggle button", "7"))
    assert Step(role="button").matches(FakeNode("push button", "7"))
    assert not Step(role="button").matches(FakeNode("label", "7"))
    assert Step(role="Push_Button").matches(FakeNode("push button"))
    assert Step(name_regex="[0-9]").matches(FakeNode("label", "7"))
    assert not Step(name_regex="[0-9]").matches(FakeNode("label", "77"))  # whole name


def test_first_step_matches_at_any_depth_later_steps_only_children() -> None:
    app = keypad()
    found = match(parse("button[name=7]"), [app])
    assert isinstance(found, list) and [n.name for n in found] == ["7"]
    direct = match(parse("frame / toggle button[name=7]"), [app])
    assert isinstance(direct, NoMatch) and direct.step == 1
    deep = match(parse("frame / ... / toggle button[name=7]"), [app])
    assert isinstance(deep, list) and len(deep) == 1


def test_index_picks_among_the_matches_under_one_parent() -> None:
    app = keypad()
    panels = match(parse("frame / panel[index=1] / button"), [app])
    assert isinstance(panels, list) and len(panels) == 6
    second = match(parse("frame / panel[index=1] / button[index=1]"), [app])
    assert isinstance(second, list) and [n.name for n in second] == ["8"]


def test_no_match_names_the_step_and_the_closest_nodes() -> None:
    result = match(parse("frame / ... / button[name=77]"), [keypad()])
    assert isinstance(result, NoMatch) and result.step == 1
    assert result.closest[0].name == "7"


def test_quote_only_when_needed() -> None:
    assert quote("galculator") == "galculator"
    assert quote("a/b") == '"a/b"'
    assert quote(' x"') == '" x\\""'
    assert (
        Selector((Step(role="label", name="a,b"),), app="x").__str__()
        == 'app=x / label[name="a,b"]'
    )
