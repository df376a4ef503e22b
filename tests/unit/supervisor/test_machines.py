"""A machine's state from its heartbeat, and the run endings ``/metrics`` counts per machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from supervisor.api.metrics import Metrics
from supervisor.machine import MachineState, machine_state, waiting_for
from supervisor.store.records import SupervisorRecord

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _record(
    silent: float, *, stopped: bool = False, resources: dict[str, Any] | None = None
) -> SupervisorRecord:
    return SupervisorRecord(
        id="a" * 32,
        host="desk-1",
        started_at=NOW - timedelta(hours=1),
        heartbeat_at=NOW - timedelta(seconds=silent),
        stopped_at=NOW if stopped else None,
        resources=resources,
    )


@pytest.mark.parametrize(
    ("silent", "state"),
    [
        (0, MachineState.ALIVE),
        (30, MachineState.ALIVE),
        (31, MachineState.LATE),
        (120, MachineState.LATE),
        (121, MachineState.GONE),
        (-2, MachineState.ALIVE),  # a clock slightly ahead of ours
    ],
)
def test_without_a_lease_state_follows_the_default_thresholds(
    silent: float, state: MachineState
) -> None:
    assert machine_state(_record(silent), NOW) is state


@pytest.mark.parametrize(
    ("resources", "silent", "state"),
    [
        ({"lease_seconds": 8.0}, 8, MachineState.ALIVE),
        ({"lease_seconds": 8.0}, 9, MachineState.LATE),  # its runs are up for reaping
        ({"lease_seconds": 8.0}, 61, MachineState.GONE),  # at least GONE_AFTER
        ({"lease_seconds": None, "renew_every": 10}, 29, MachineState.ALIVE),
        ({"lease_seconds": None, "renew_every": 10}, 31, MachineState.LATE),
        ({"lease_seconds": "soon"}, 29, MachineState.ALIVE),  # nonsense: the defaults
    ],
)
def test_a_registered_lease_or_renewal_period_sets_the_thresholds(
    resources: dict[str, Any], silent: float, state: MachineState
) -> None:
    assert machine_state(_record(silent, resources=resources), NOW) is state


def test_a_clean_stop_is_gone_at_once() -> None:
    assert machine_state(_record(0, stopped=True), NOW) is MachineState.GONE


def test_thresholds_are_parameters() -> None:
    assert machine_state(_record(5), NOW, late=2, gone=4) is MachineState.GONE


def test_run_endings_are_counted_by_machine_workflow_and_status() -> None:
    metrics = Metrics(cast(Any, None), machine="desk-1")  # observe() reads no parts
    events = [
        {"kind": "run_queued", "run_id": "r1", "workflow": "invoices"},
        {"kind": "run_started", "run_id": "r1", "workflow": "invoices"},
        {"kind": "run_finished", "run_id": "r1", "status": "failed"},
        {"kind": "run_started", "run_id": "r2", "workflow": "invoices"},
        {"kind": "run_interrupted", "run_id": "r2", "will_resume": True},
        {"kind": "run_started", "run_id": "r2", "workflow": "invoices"},
        {"kind": "run_finished", "run_id": "r2", "status": "succeeded"},
        {"kind": "run_queued", "run_id": "r3", "workflow": "nightly"},
        {"kind": "run_cancelled", "run_id": "r3"},
        {"kind": "run_started", "run_id": "r4", "workflow": "nightly"},
        {"kind": "run_interrupted", "run_id": "r4", "will_resume": False},
    ]
    for item in events:
        metrics.observe(item)

    [family] = metrics.runs_ended.collect()
    counted = {
        (s.labels["machine"], s.labels["workflow"], s.labels["status"]): s.value
        for s in family.samples
        if s.name == "deskpilot_runs_ended_total"
    }

    def ended(workflow: str, status: str) -> float | None:
        return counted.get(("desk-1", workflow, status))

    assert ended("invoices", "failed") == 1
    assert ended("invoices", "succeeded") == 1  # the interruption that resumed is no end
    assert ended("nightly", "cancelled") == 1
    assert ended("nightly", "failed") == 1
    assert metrics._workflows == {}


def test_a_run_queued_for_a_machine_says_why_it_waits() -> None:
    now = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    lease = {"lease_seconds": 8.0}

    def joined(host: str, silent: float) -> SupervisorRecord:
        return SupervisorRecord(
            id=host * 4,
            host=host,
            started_at=now - timedelta(hours=1),
            heartbeat_at=now - timedelta(seconds=silent),
            resources=lease,
        )

    fleet = [joined("pc-a", 1), joined("pc-c", 300), joined("pc-c", 400)]
    assert waiting_for("pc-a", fleet, now) is None
    gone = waiting_for("pc-c", fleet, now)
    assert gone is not None and "'pc-c' is alive (last heartbeat 300 s ago)" in gone
    never = waiting_for("pc-x", fleet, now)
    assert never is not None and "has joined this database" in never


def _info(id_: str, host: str, state: str, *, this: bool = False) -> Any:
    from supervisor.api.models import MachineInfo

    return MachineInfo(
        id=id_,
        host=host,
        state=state,
        heartbeat_age_seconds=600.0,
        heartbeat_at=NOW,
        started_at=NOW,
        running=0,
        this=this,
    )


def test_forget_takes_a_whole_host_or_one_id_and_refuses_all_unless_every_one_is_gone() -> None:
    from supervisor.cli.machines_cmd import to_forget

    old = [_info("ab12" + "0" * 28, "old-pc", "gone"), _info("ab34" + "0" * 28, "old-pc", "gone")]
    late = _info("cd56" + "0" * 28, "pc-2", "late")
    me = _info("ef78" + "0" * 28, "pc-1", "alive", this=True)
    fleet = [*old, late, me]

    assert to_forget(fleet, "old-pc", force=False) == (old, [])  # every supervisor of the host
    assert to_forget(fleet, "ab34", force=False) == ([old[1]], [])
    chosen, problems = to_forget(fleet, "ab", force=False)
    assert chosen == [] and "several supervisor ids" in problems[0]
    chosen, problems = to_forget(fleet, "pc-2", force=False)
    assert chosen == [] and "is late" in problems[0] and problems[-1] == "nothing was forgotten"
    assert to_forget(fleet, "pc-2", force=True) == ([late], [])
    chosen, problems = to_forget(fleet, "pc-1", force=True)  # never the one answering
    assert chosen == [] and "cannot forget itself" in problems[0]
    assert to_forget(fleet, "nowhere", force=True)[1] == [
        "no machine named 'nowhere'; 'deskpilot machines' lists them"
    ]
