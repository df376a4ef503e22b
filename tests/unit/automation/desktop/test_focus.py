"""The focus check's decision (focus.py): which window input would reach, and when to refuse."""

from __future__ import annotations

from automation.blocks.desktop.focus import Expected, Win, expectation_problem, focus_problem

EDITOR = Win(10, "letter.txt - Mousepad")
SAVE_AS = Win(11, "Save As", owners=(10,), modal=True)
FIND_BAR = Win(12, "Find", owners=(10,))
OTHER = Win(20, "Intruder")


def test_the_target_with_the_focus_and_no_dialog_is_fine() -> None:
    assert focus_problem(target=EDITOR, subject=EDITOR, modals=[], doing="typing") is None
    # a non-modal tool window of the target is part of it
    assert focus_problem(target=EDITOR, subject=FIND_BAR, modals=[], doing="typing") is None


def test_a_modal_dialog_of_the_target_is_refused_whether_or_not_it_has_the_focus() -> None:
    # a window manager moved the focus into the dialog
    problem = focus_problem(target=EDITOR, subject=SAVE_AS, modals=[SAVE_AS], doing="typing")
    assert problem == (
        "modal dialog 'Save As' (id 11) would get the input, not 'letter.txt - Mousepad' "
        "(id 10); typing refused"
    )
    # no window manager: the editor keeps the focus but its toolkit drops the keys
    problem = focus_problem(target=EDITOR, subject=EDITOR, modals=[SAVE_AS], doing="typing")
    assert problem is not None
    assert problem.startswith(
        "modal dialog 'Save As' (id 11) is open over 'letter.txt - Mousepad' (id 10)"
    )


def test_another_window_is_named() -> None:
    problem = focus_problem(target=EDITOR, subject=OTHER, modals=[], doing="pressing enter")
    assert problem == (
        "'Intruder' (id 20) would get the input, not 'letter.txt - Mousepad' (id 10); "
        "pressing enter refused"
    )
    assert focus_problem(target=EDITOR, subject=None, modals=[], doing="typing") == (
        "no window would get the input; typing is meant for 'letter.txt - Mousepad' (id 10)"
    )


def test_without_a_target_only_a_blocked_window_is_refused() -> None:
    assert focus_problem(target=None, subject=OTHER, modals=[], doing="typing") is None
    assert focus_problem(target=None, subject=SAVE_AS, modals=[], doing="typing") is None
    assert focus_problem(target=None, subject=None, modals=[], doing="typing") is None
    assert focus_problem(target=None, subject=EDITOR, modals=[SAVE_AS], doing="a click") is not None


# -- keys without window: against the window the run's last desktop step acted on -----------

LAST = Expected("focus", EDITOR)


def _judge(subject: Win | None, now: Win | None = EDITOR, expected: Expected = LAST) -> str | None:
    return expectation_problem(
        expected=expected, now=now, family=set(), subject=subject, doing="typing"
    )


def test_the_remembered_window_or_its_tool_window_may_have_the_focus() -> None:
    assert _judge(EDITOR) is None
    assert _judge(FIND_BAR) is None


def test_a_dialog_of_the_same_app_or_another_app_is_refused_naming_both() -> None:
    problem = _judge(SAVE_AS)
    assert problem is not None
    assert problem.startswith(
        "modal dialog 'Save As' (id 11, transient for 10) has the focus, not "
        "'letter.txt - Mousepad' (id 10), the window node 'focus' acted on last"
    )
    assert "typing refused" in problem and "window: any" in problem
    problem = _judge(Win(20, "Error", wm_class=("zenity", "Zenity"), pid=77))
    assert problem is not None and "'Error' (id 20, class zenity/Zenity, pid 77)" in problem


def test_when_the_remembered_window_is_gone_only_its_owner_may_have_the_focus() -> None:
    typed_into_dialog = Expected("name", SAVE_AS)
    assert _judge(EDITOR, now=None, expected=typed_into_dialog) is None  # confirmed: back
    problem = _judge(OTHER, now=None, expected=typed_into_dialog)
    assert problem is not None and problem.startswith("modal dialog 'Save As' (id 11, trans")
    assert "is gone or hidden, and 'Intruder' (id 20) has the focus" in problem
    assert _judge(None) == (
        "no window has the focus; typing is meant for 'letter.txt - Mousepad' (id 10), the "
        "window node 'focus' acted on; refused"
    )


def test_a_launched_program_is_remembered_by_its_windows() -> None:
    launched = Expected("launch", pid=500)
    mine = Win(30, "Untitled - Mousepad", pid=500)
    assert (
        expectation_problem(expected=launched, now=None, family={30}, subject=mine, doing="typing")
        is None
    )
    problem = expectation_problem(
        expected=launched, now=None, family={30}, subject=OTHER, doing="typing"
    )
    assert problem is not None and "not a window of process 500, which node 'launch'" in problem
