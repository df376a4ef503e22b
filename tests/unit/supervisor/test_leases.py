"""A worker's lease and deadlines, judged with plain numbers for the clock."""

from __future__ import annotations

import pytest

from supervisor.config import WORKER_START_TIMEOUT, SupervisorConfig
from supervisor.leases import LeaseVerdict, check_lease, unheld_claims
from supervisor.runqueue import QueuedRun
from supervisor.settlement import run_deadline
from supervisor.workers import WorkerState

BUSY, STARTING, IDLE = WorkerState.BUSY, WorkerState.STARTING, WorkerState.IDLE


def judge(state: WorkerState, now: float, **values: float) -> LeaseVerdict:
    options = {"due": now, "lease_expires": 10.0, "hard_deadline": float("inf"), **values}
    return check_lease(state, now=now, **options)


def test_a_busy_worker_heard_from_within_its_lease_is_left_alone() -> None:
    assert judge(BUSY, 9.0) is LeaseVerdict.WAIT


def test_a_busy_worker_silent_past_its_lease_is_hung() -> None:
    assert judge(BUSY, 10.0) is LeaseVerdict.LEASE_EXPIRED


def test_the_hard_deadline_comes_before_the_lease() -> None:
    assert judge(BUSY, 12.0, hard_deadline=11.0) is LeaseVerdict.DEADLINE_PASSED
    assert judge(BUSY, 9.0, hard_deadline=9.0) is LeaseVerdict.DEADLINE_PASSED


def test_a_timer_that_fired_late_means_the_supervisor_stalled_not_the_worker() -> None:
    assert judge(BUSY, 12.0, due=10.0) is LeaseVerdict.STALLED
    assert judge(BUSY, 10.4, due=10.0) is LeaseVerdict.LEASE_EXPIRED  # within the tolerance


def test_a_new_worker_has_until_its_start_up_lease_to_say_hello() -> None:
    assert judge(STARTING, 9.0) is LeaseVerdict.WAIT
    assert judge(STARTING, 10.0) is LeaseVerdict.NEVER_STARTED


def test_idle_workers_have_nothing_to_watch() -> None:
    assert judge(IDLE, 50.0, due=50.0, hard_deadline=1.0) is LeaseVerdict.NOTHING


def test_a_runs_deadline_counts_from_its_first_start_plus_time_paused() -> None:
    entry = QueuedRun(
        run_id="r", workflow="w", text="", path=None, inputs={}, deadline_seconds=60.0
    )
    assert run_deadline(entry, started=100.0, pause=None, now=100.0, kill_grace=2.0) == 165.0
    entry.first_started, entry.paused_seconds = 50.0, 10.0  # resumed: the limit is not afresh
    assert run_deadline(entry, started=100.0, pause=None, now=100.0, kill_grace=2.0) == 125.0
    unlimited = QueuedRun(run_id="u", workflow="w", text="", path=None, inputs={})
    assert run_deadline(unlimited, started=0.0, pause=None, now=0.0, kill_grace=2.0) == float("inf")


def test_a_busy_worker_whose_run_never_reported_it_started_lost_its_hand_over() -> None:
    assert judge(BUSY, 9.0, start_due=9.5) is LeaseVerdict.WAIT
    assert judge(BUSY, 9.5, start_due=9.5) is LeaseVerdict.START_NOT_REPORTED
    # a silent worker is hung first; a reported start (inf) is never due
    assert judge(BUSY, 10.0, start_due=9.5) is LeaseVerdict.LEASE_EXPIRED
    assert judge(BUSY, 9.9, start_due=float("inf")) is LeaseVerdict.WAIT
    # woken late: the start may be waiting unread in the pipe
    assert judge(BUSY, 9.6, due=8.0, start_due=9.5) is LeaseVerdict.STALLED


def test_a_claimed_run_nothing_holds_is_released_once_unheld_for_the_whole_deadline() -> None:
    seen, due = unheld_claims({"a", "b", "c"}, {"b"}, {}, now=100.0, deadline=13.0)
    assert (seen, due) == ({"a": 100.0, "c": 100.0}, [])
    seen, due = unheld_claims({"a", "c"}, {"c"}, seen, now=105.0, deadline=13.0)
    assert (seen, due) == ({"a": 100.0}, [])  # c is held now: forgotten
    seen, due = unheld_claims({"a", "c"}, set(), seen, now=113.0, deadline=13.0)
    assert (seen, due) == ({"a": 100.0, "c": 113.0}, ["a"])
    # no longer claimed (ended, taken back): forgotten, never released
    assert unheld_claims(set(), set(), seen, now=200.0, deadline=13.0) == ({}, [])


def test_a_run_fenced_off_its_worker_is_released_at_the_next_look() -> None:
    seen, due = unheld_claims({"a"}, set(), {"a": float("-inf")}, now=5.0, deadline=13.0)
    assert due == ["a"]


def test_the_hand_over_deadline_comes_from_the_worker_start_and_heartbeat_settings() -> None:
    assert SupervisorConfig().handover_deadline == WORKER_START_TIMEOUT + 2 * 1.5
    assert SupervisorConfig(heartbeat_timeout=4.0).handover_deadline == WORKER_START_TIMEOUT + 8.0
    assert SupervisorConfig(handover_timeout=3.0).handover_deadline == 3.0
    with pytest.raises(ValueError, match="hand-over timeout"):
        SupervisorConfig(handover_timeout=0.0)


def test_a_run_held_by_a_locked_screen_has_no_kill_deadline_until_the_unlock() -> None:
    entry = QueuedRun(
        run_id="r", workflow="w", text="", path=None, inputs={}, deadline_seconds=60.0
    )
    held = run_deadline(entry, started=100.0, pause=None, now=500.0, kill_grace=2.0, held=True)
    assert held == float("inf")
    entry.paused_seconds = 400.0  # the hold, once it ended, is not the run's time
    assert run_deadline(entry, started=100.0, pause=None, now=500.0, kill_grace=2.0) == 565.0
