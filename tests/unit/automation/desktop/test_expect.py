"""The ``expect`` postcondition: its model, its validation, and the checks that need no display."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from automation.blocks.context import BlockContext
from automation.blocks.desktop import BLOCKS
from automation.blocks.desktop.common import Evidence
from automation.blocks.desktop.expect import (
    ActionInput,
    Expect,
    ExpectationFailed,
    check_expect,
    text_matches,
    verify,
)
from automation.blocks.registry import BlockRegistry
from automation.clock import FakeClock
from automation.loader import parse_workflow
from automation.validation import validate

ACTIONS = {
    "mouse.move", "mouse.click", "mouse.drag", "mouse.scroll",
    "keyboard.type", "keyboard.press", "keyboard.hotkey", "keyboard.key_down", "keyboard.key_up",
    "image.click", "ui.click", "ui.set_text",
    "window.focus", "window.move", "window.resize", "window.minimize", "window.close",
    "app.launch",
}  # fmt: skip


def test_every_desktop_action_takes_expect_and_queries_do_not() -> None:
    with_expect = {b.id for b in BLOCKS if issubclass(b.Input, ActionInput)}
    assert with_expect == ACTIONS
    schema = next(b for b in BLOCKS if b.id == "mouse.click").Input.model_json_schema()
    assert list(schema["properties"])[-1] == "expect"  # after the action's own inputs
    assert {"target", "window", "pixel", "text", "file", "timeout"} <= set(
        schema["$defs"]["Expect"]["properties"]
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "name at least one of target, window, pixel, text or file"),
        ({"window": {"title": "("}}, "not a valid regular expression"),
        ({"window": {"state": "active"}}, "give title or wm_class"),
        ({"pixel": {"x": 1, "y": 2, "colour": "red"}}, "is not '#rrggbb'"),
        ({"target": {"state": "appears"}}, "give template or target"),
        ({"file": {"path": "a", "state": "missing", "contains": "x"}}, "contains needs"),
        ({"file": {"path": "a"}, "timeout": 0}, "greater than 0"),
        ({"file": {"path": "a"}, "colour": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_postconditions_are_refused_where_they_are_made(value: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Expect.model_validate(value)


def test_validation_names_the_file_node_and_field(tmp_path: Path) -> None:
    text = """\
deskpilot: 1
name: bad-expect
nodes:
  click:
    block: mouse.click
    with:
      x: 10
      y: 10
      expect: {window: {title: "(unclosed"}}
"""
    loaded = parse_workflow(text, path=tmp_path / "flow.yaml")
    issues = validate(loaded, BlockRegistry.with_builtins(plugins=False))
    assert len(issues) == 1
    issue = issues[0]
    assert (issue.node, issue.field) == ("click", "expect")
    assert "not a valid regular expression" in issue.message
    assert "flow.yaml:9:7: click.expect:" in str(issue), "FILE:LINE:COL: node.field"


def _ctx(tmp_path: Path, clock: FakeClock) -> BlockContext:
    return BlockContext(run_id="r", node_id="n", workflow_dir=tmp_path, clock=clock)


def test_file_postcondition_waits_until_the_file_holds_the_text(tmp_path: Path) -> None:
    clock = FakeClock()
    target = tmp_path / "out.txt"
    expect = Expect.model_validate({"file": {"path": "out.txt", "contains": "done"}, "timeout": 3})
    looks = {"n": 0}
    real_sleep = clock.sleep

    def sleep(seconds: float, event: object = None) -> bool:
        looks["n"] += 1
        if looks["n"] == 2:
            target.write_text("work done\n")
        return real_sleep(seconds, event)  # type: ignore[arg-type]

    clock.sleep = sleep  # type: ignore[method-assign]
    result = check_expect(_ctx(tmp_path, clock), expect)
    assert result.held, result.seen
    assert "contains 'done'" in result.seen
    assert 0 < result.waited < 3


def test_a_postcondition_that_never_holds_fails_with_expected_and_seen(tmp_path: Path) -> None:
    clock = FakeClock()
    (tmp_path / "out.txt").write_text("partial")
    expect = Expect.model_validate({"file": {"path": "out.txt", "contains": "done"}, "timeout": 2})
    evidence = Evidence()
    with pytest.raises(ExpectationFailed) as caught:
        verify(_ctx(tmp_path, clock), expect, evidence)
    text = str(caught.value)
    assert "postcondition did not hold within 2s" in text
    assert "expected file out.txt exists containing 'done'" in text
    assert "does not contain it; it ends 'partial'" in text
    assert evidence.label.startswith("expected file out.txt")
    assert clock.monotonic() >= 2


def test_missing_file_postcondition(tmp_path: Path) -> None:
    clock = FakeClock()
    expect = Expect.model_validate({"file": {"path": "gone.lock", "state": "missing"}})
    assert check_expect(_ctx(tmp_path, clock), expect).held


@pytest.mark.parametrize(
    ("read", "wanted", "how", "ok"),
    [
        ("Total:  42\n", "Total: 42", "contains", True),
        ("  42 \n", "42", "equals", True),
        ("420", "42", "equals", False),
        ("result 12x34=408", r"=\s*408$", "regex", True),
    ],
)
def test_text_comparison_normalises_spaces(read: str, wanted: str, how: str, ok: bool) -> None:
    assert text_matches(read, wanted, how) is ok


def test_the_postcondition_wait_adds_to_the_default_step_timeout() -> None:
    click = next(b for b in BLOCKS if b.id == "mouse.click")
    plain = click.timeout_for({"x": 1, "y": 2})
    assert plain is not None
    assert click.timeout_for({"expect": {"file": {"path": "a"}, "timeout": 300}}) == plain + 300
    assert click.timeout_for({"expect": {"file": {"path": "a"}}}) == plain + 5
    assert click.timeout_for({"expect": "{{ vars.expect }}"}) == plain + 3600
