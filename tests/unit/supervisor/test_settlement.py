"""What follows a run's interruption: ``settlement`` is a pure function, driven with values."""

from __future__ import annotations

from automation.engine.events import RunStatus
from supervisor.settlement import settlement
from supervisor.workers import ExitReason

INT, Q, F, C = RunStatus.INTERRUPTED, RunStatus.QUEUED, RunStatus.FAILED, RunStatus.CANCELLED


def decide(reason: ExitReason, **options: object) -> tuple[list[RunStatus], RunStatus | None, int]:
    values: dict[str, object] = {
        "cancelled": False,
        "restarts": 0,
        "max_restarts": 3,
        "run_limit_hit": False,
        "detail": "worker crashed",
        **options,
    }
    plan = settlement(reason, **values)  # type: ignore[arg-type]
    return [status for status, _ in plan.statuses], plan.outcome, plan.restarts


def test_a_crash_resumes_until_the_restart_limit_then_fails() -> None:
    assert decide(ExitReason.CRASHED) == ([INT, Q], None, 1)
    assert decide(ExitReason.HUNG, restarts=2) == ([INT, Q], None, 3)
    assert decide(ExitReason.CRASHED, restarts=3) == ([INT, F], F, 4)


def test_the_failure_says_why_it_gave_up() -> None:
    plan = settlement(
        ExitReason.CRASHED,
        cancelled=False,
        restarts=3,
        max_restarts=3,
        run_limit_hit=False,
        detail="worker crashed",
    )
    assert plan.statuses[-1] == (F, "worker crashed; gave up because it was interrupted 4 times")


def test_a_run_past_its_time_limit_fails_at_once() -> None:
    assert decide(ExitReason.TIMED_OUT, run_limit_hit=True) == ([INT, F], F, 1)


def test_a_cancel_ends_it_cancelled_and_a_shutdown_leaves_it_interrupted() -> None:
    assert decide(ExitReason.CRASHED, cancelled=True) == ([INT, C], C, 0)
    assert decide(ExitReason.CANCELLED) == ([INT, C], C, 0)
    assert decide(ExitReason.SHUTDOWN) == ([INT], None, 0)
    assert decide(ExitReason.SHUTDOWN, cancelled=True) == ([INT], None, 0)
