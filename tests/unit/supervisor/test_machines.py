"""A machine's state from its heartbeat, and the run endings ``/metrics`` counts per machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from supervisor.api.machines import MachineState, machine_state
from supervisor.api.metrics import Metrics
from supervisor.store.records import SupervisorRecord

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _record(silent: float, *, stopped: bool = False) -> SupervisorRecord:
    return SupervisorRecord(
        id="a" * 32,
        host="desk-1",
        started_at=NOW - timedelta(hours=1),
        heartbeat_at=NOW - timedelta(seconds=silent),
        stopped_at=NOW if stopped else None,
    )


@pytest.mark.parametrize(
    ("silent", "state"),
    [
        (0, MachineState.ALIVE),
        (10, MachineState.ALIVE),
        (10.5, MachineState.LATE),
        (30, MachineState.LATE),
        (31, MachineState.GONE),
        (-2, MachineState.ALIVE),  # a clock slightly ahead of ours
    ],
)
def test_state_follows_the_heartbeats_age(silent: float, state: MachineState) -> None:
    assert machine_state(_record(silent), NOW) is state


def test_a_clean_stop_is_gone_at_once() -> None:
    assert machine_state(_record(0, stopped=True), NOW) is MachineState.GONE


def test_thresholds_are_parameters() -> None:
    assert machine_state(_record(5), NOW, late_after=2, gone_after=4) is MachineState.GONE


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
