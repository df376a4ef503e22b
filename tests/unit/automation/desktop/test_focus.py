"""The focus check's decision (focus.py): which window input would reach, and when to refuse."""

from __future__ import annotations

from automation.blocks.desktop.focus import Win, focus_problem

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
