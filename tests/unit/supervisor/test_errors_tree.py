"""The supervisor's errors sit in the DeskpilotError tree, importable without the core."""

from __future__ import annotations

import pytest

from automation.engine.events import RunStatus, check_run_transition
from automation.errors import DeskpilotError
from supervisor.errors import IllegalTransition, RunStatusChanged, SupervisorError


def test_an_illegal_transition_is_a_deskpilot_error_and_still_a_value_error() -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_run_transition(RunStatus.RUNNING, RunStatus.RUNNING)

    assert isinstance(caught.value, DeskpilotError)
    assert isinstance(caught.value, ValueError)  # what callers caught before


def test_a_lost_compare_and_set_is_a_transition_error_that_names_both_statuses() -> None:
    error = RunStatusChanged("r1", "queued", "running", "claimed by another supervisor")

    assert isinstance(error, IllegalTransition)
    assert (error.run_id, error.expected, error.found) == ("r1", "queued", "running")
    assert "expected to be 'queued' but is 'running'" in str(error)
    assert "gone" in str(RunStatusChanged("r2", "queued", None))


def test_older_imports_of_supervisor_error_keep_working() -> None:
    from supervisor.core import SupervisorError as from_core

    assert from_core is SupervisorError
    assert issubclass(SupervisorError, DeskpilotError)
