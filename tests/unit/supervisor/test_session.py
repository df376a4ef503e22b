"""The session decision (supervisor/session.py) and how deferred fires are explained."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from supervisor.session import SessionState, unusable_reason
from supervisor.triggers.deferral import Deferred, release_cause
from supervisor.triggers.misfire import DueFires, Policy, plan

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_unusable_reason_is_a_function_of_the_state() -> None:
    assert unusable_reason(SessionState()) is None
    assert unusable_reason(SessionState(locked_by="logind LockedHint")) == (
        "the screen is locked (logind LockedHint)"
    )
    # going to sleep wins: it says more about when the session comes back
    assert unusable_reason(SessionState(locked_by="x", sleeping=True)) == (
        "the machine is going to sleep (logind PrepareForSleep)"
    )


def test_fires_held_back_follow_the_misfire_policy_with_the_deferral_as_reason() -> None:
    held = Deferred(key="w:0", reason="the screen is locked (x)", since=T0)
    now = T0 + timedelta(seconds=30)
    cause = release_cause(held, now)
    fires = tuple(T0 + timedelta(seconds=s) for s in (10, 20, 30))
    decided = plan(
        DueFires(head=fires), now, Policy(misfire="run_once", grace=60), live=False, cause=cause
    )
    assert decided.runs == [fires[-1]]
    reasons = [d.reason for d in decided.missed]
    assert len(reasons) == 2
    assert all(r.startswith(f"deferred from {T0.isoformat()} to") for r in reasons)
    assert all("because the screen is locked (x)" in r for r in reasons)
    skipped = plan(
        DueFires(head=fires), now, Policy(misfire="skip", grace=60), live=False, cause=cause
    )
    assert skipped.runs == [] and len(skipped.missed) == 3
