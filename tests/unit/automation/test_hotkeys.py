"""Key chords for hotkey triggers: canonical form, and clear refusals."""

from __future__ import annotations

import pytest

from automation.errors import WorkflowInvalid
from automation.hotkeys import HotkeyError, parse_hotkey
from automation.loader import parse_workflow


@pytest.mark.parametrize(
    ("text", "canonical", "keysym"),
    [
        ("ctrl+alt+r", "ctrl+alt+r", "r"),
        ("Alt + Control + R", "ctrl+alt+r", "r"),
        ("super+shift+PageUp", "shift+super+pageup", "Prior"),
        ("win+f5", "super+f5", "F5"),
        ("f13", "f13", "F13"),
        ("ctrl+alt+f13", "ctrl+alt+f13", "F13"),
        ("ctrl+-", "ctrl+minus", "minus"),
        ("pause", "pause", "Pause"),
    ],
)
def test_chords_are_read_into_one_canonical_form(text: str, canonical: str, keysym: str) -> None:
    hotkey = parse_hotkey(text)
    assert str(hotkey) == canonical
    assert hotkey.keysym == keysym


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ctrl+alt+f1", "console switches"),
        ("Control+Alt+F12", "console switches"),
        ("r", "take the 'r' key away"),
        ("shift+a", "take the 'a' key away"),
        ("ctrl+alt", "exactly one key"),
        ("ctrl+a+b", "exactly one key"),
        ("ctrl+ctrl+a", "ctrl twice"),
        ("ctrl+alt+flurb", "unknown key 'flurb'"),
        ("", "not a key chord"),
        ("ctrl++", "plus key"),
    ],
)
def test_bad_chords_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(HotkeyError, match=message):
        parse_hotkey(text)


def test_a_workflow_file_gets_the_canonical_chord_and_a_located_error() -> None:
    ok = parse_workflow(
        "deskpilot: 1\nname: hk\nnodes: {}\ntriggers:\n  - {type: hotkey, keys: Alt+Ctrl+R}\n"
    )
    assert ok.workflow.triggers[0].keys == "ctrl+alt+r"  # type: ignore[union-attr]
    with pytest.raises(WorkflowInvalid) as bad:
        parse_workflow(
            "deskpilot: 1\nname: hk\nnodes: {}\ntriggers:\n  - type: hotkey\n    keys: ctrl+alt+f2\n"
        )
    issue = bad.value.issues[0]
    assert "console switches" in issue.message
    assert issue.field == "triggers.0.keys"
    assert issue.line == 6
