"""Which step a resumed run is told was in flight (supervisor/resume.py)."""

from __future__ import annotations

from automation.engine.events import StepStatus
from supervisor.resume import interrupted_step
from supervisor.store.records import StepRecord


def _rec(step: int, attempt: int, status: str, failure: str | None = None) -> StepRecord:
    return StepRecord(
        run_id="r",
        step=step,
        node_id=f"n{step}",
        attempt=attempt,
        status=StepStatus(status),
        failure=failure,
    )


def test_the_last_attempt_cut_short_is_in_flight() -> None:
    records = [_rec(1, 1, "succeeded"), _rec(2, 1, "failed", "interrupted")]
    assert interrupted_step(records, {1}) == {"step": 2, "node_id": "n2", "attempt": 1}


def test_a_step_that_failed_on_its_own_before_the_crash_is_not_in_flight() -> None:
    records = [
        _rec(1, 1, "succeeded"),
        _rec(2, 1, "failed", "interrupted"),
        _rec(2, 2, "failed", "error"),  # the resumed attempt failed, then the worker died
    ]
    assert interrupted_step(records, {1}) is None


def test_finished_steps_and_clean_runs_have_nothing_in_flight() -> None:
    assert (
        interrupted_step([_rec(1, 1, "failed", "interrupted"), _rec(1, 2, "succeeded")], {1})
        is None
    )
    assert interrupted_step([], set()) is None


def test_every_attempt_counts_against_the_retries_but_one_a_locked_screen_cut_short() -> None:
    from dataclasses import replace

    from supervisor.resume import spent_attempts

    records = [
        _rec(1, 1, "succeeded"),
        _rec(2, 1, "failed", "error"),
        _rec(2, 2, "failed", "interrupted"),  # cut by the worker's death: it ran, it counts
        _rec(3, 1, "failed", "error"),
        replace(_rec(3, 2, "failed", "error"), error_type="SessionInterrupted"),
    ]
    assert spent_attempts(records, {1}) == {2: 2, 3: 1}
    assert spent_attempts(records, {1, 2, 3}) == {}
