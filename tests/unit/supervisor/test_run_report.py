"""The RunReport built from history rows: node summaries from steps, the published schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import jsonschema

from automation.engine.events import RunStatus, StepStatus
from supervisor.api.models import RunDetail, RunInfo
from supervisor.client import SupervisorClient
from supervisor.run_report import (
    build_report,
    pauses_from_events,
    report_from_api,
    report_json,
    run_report_json_schema,
)
from supervisor.store.records import ArtifactRecord, EventRecord, RunRecord, StepRecord

AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def _step(step: int, node: str, attempt: int, status: StepStatus, **more: object) -> StepRecord:
    return StepRecord(run_id="r1", step=step, node_id=node, attempt=attempt, status=status, **more)  # type: ignore[arg-type]


def test_nodes_summarise_loops_and_retries_and_the_json_fits_the_schema() -> None:
    run = RunRecord(
        id="r1", workflow_name="flow", status=RunStatus.FAILED, trigger="manual", priority=0,
        queued_at=AT, started_at=AT, finished_at=AT, duration=1.5, inputs={"n": 2},
        outputs=None, error="boom", failed_node="fetch", steps=4,
    )  # fmt: skip
    steps = [
        _step(3, "fetch", 1, StepStatus.FAILED, error="timeout", failure="timeout"),
        _step(1, "tally", 1, StepStatus.SUCCEEDED, outputs={"v": 1}),
        _step(2, "tally", 1, StepStatus.SUCCEEDED, outputs={"v": 2}),
        _step(3, "fetch", 2, StepStatus.FAILED, error="boom", failure="error"),
    ]
    artifacts = [
        ArtifactRecord(
            id=1, run_id="r1", path="/a.png", kind="screenshot", created_at=AT, node_id="fetch"
        )
    ]
    events = [
        EventRecord(id=1, run_id="r1", seq=1, kind="log", at=AT, level="info", message="hi"),
        EventRecord(id=2, run_id="r1", seq=2, kind="node_paused", at=AT, node_id="fetch"),
    ]
    report = build_report(run, steps, artifacts, events)

    assert [(s.step, s.attempt) for s in report.steps] == [(1, 1), (2, 1), (3, 1), (3, 2)]
    assert report.nodes["tally"].executions == 2 and report.nodes["tally"].outputs == {"v": 2}
    fetch = report.nodes["fetch"]
    assert (fetch.status, fetch.attempts, fetch.executions, fetch.error) == (
        StepStatus.FAILED, 2, 1, "boom",
    )  # fmt: skip
    assert report.finished and report.outputs == {} and report.step_count == 4
    assert [log.message for log in report.logs] == ["hi"]  # logs only, not debugger events

    data = report_json(report)
    jsonschema.Draft202012Validator(run_report_json_schema()).validate(data)
    assert data["status"] == "failed" and data["nodes"]["fetch"]["status"] == "failed"


def test_a_queued_run_is_not_finished() -> None:
    run = RunRecord(
        id="r2", workflow_name="flow", status=RunStatus.QUEUED, trigger="api", priority=5,
        queued_at=AT,
    )  # fmt: skip
    report = build_report(run, [], [])
    assert not report.finished and report.nodes == {} and report.steps == []
    jsonschema.Draft202012Validator(run_report_json_schema()).validate(report_json(report))


def test_waiting_and_the_restart_delay_are_said_only_while_queued() -> None:
    """A claim leaves ``not_before`` in the row: a run that started no longer waits for it."""
    later = AT.replace(hour=AT.hour + 1)
    queued = RunRecord(
        id="r3", workflow_name="flow", status=RunStatus.QUEUED, trigger="api", priority=0,
        queued_at=AT, target_host="desk-2", not_before=later,
    )  # fmt: skip
    report = build_report(queued, [], [], waiting="no supervisor on machine 'desk-2' is alive")
    assert (report.machine, report.not_before) == ("desk-2", later)
    assert report.waiting == "no supervisor on machine 'desk-2' is alive"
    jsonschema.Draft202012Validator(run_report_json_schema()).validate(report_json(report))
    running = RunRecord(
        id="r3", workflow_name="flow", status=RunStatus.RUNNING, trigger="api", priority=0,
        queued_at=AT, target_host="desk-2", not_before=later,
    )  # fmt: skip
    report = build_report(running, [], [], waiting="stale")
    assert (report.machine, report.waiting, report.not_before) == ("desk-2", None, None)


class _Answers:
    """What ``report_from_api`` asks of a supervisor's API: the run as GET /runs/{id} answers it."""

    def __init__(self, run: RunInfo) -> None:
        self.run = run

    def get_run(self, run_id: str) -> RunDetail:
        assert run_id == self.run.id
        return RunDetail(run=self.run, steps=[], artifacts=[])

    def run_events(self, run_id: str, *, after: int = 0) -> list[Any]:
        return []


def test_the_countdowns_the_api_gives_are_in_the_json_while_they_apply() -> None:
    """``restart_in`` and ``running_for`` are counted on the database's clock by the API.

    The report passes them on rather than leaving only ``not_before`` and
    ``started_at``, which a viewer could count only on its own clock.
    """
    later = AT.replace(hour=AT.hour + 1)
    queued = RunInfo(
        id="r4", workflow_name="flow", status=RunStatus.QUEUED, trigger="api", priority=0,
        queued_at=AT, not_before=later, restart_in=12.5,
    )  # fmt: skip
    data = report_json(report_from_api(cast(SupervisorClient, _Answers(queued)), "r4"))
    jsonschema.Draft202012Validator(run_report_json_schema()).validate(data)
    assert (data["restart_in"], data["running_for"]) == (12.5, None)
    assert data["not_before"] == later.isoformat().replace("+00:00", "Z")
    running = queued.model_copy(
        update={"status": RunStatus.RUNNING, "started_at": AT, "running_for": 40.0}
    )
    data = report_json(report_from_api(cast(SupervisorClient, _Answers(running)), "r4"))
    jsonschema.Draft202012Validator(run_report_json_schema()).validate(data)
    assert (data["restart_in"], data["running_for"], data["not_before"]) == (None, 40.0, None)
    ended = running.model_copy(update={"status": RunStatus.SUCCEEDED, "finished_at": later})
    data = report_json(report_from_api(cast(SupervisorClient, _Answers(ended)), "r4"))
    assert (data["restart_in"], data["running_for"]) == (None, None)
    schema = run_report_json_schema()["properties"]
    assert {"restart_in", "running_for"} <= set(schema)  # ``deskpilot schema run`` says so


def _event(seq: int, kind: str, node: str, step: int, **data: object) -> EventRecord:
    return EventRecord(
        id=seq, run_id="r1", seq=seq, kind=kind, at=AT, node_id=node, step=step, data=data
    )


def test_pauses_pair_each_stop_with_its_ending_and_keep_names_not_values() -> None:
    events = [
        _event(4, "node_resumed", "b", 2, action="abort", waited=1.0, edited=["vars.token"]),
        _event(1, "node_paused", "a", 1, reason="breakpoint", timeout=600, inputs={"pw": "s3"}),
        _event(2, "node_resumed", "a", 1, action="step", waited=0.25, timed_out=False),
        _event(3, "node_paused", "b", 2, reason="step", timeout=600, vars={"token": "s3"}),
        _event(5, "node_paused", "c", 3, reason="breakpoint", timeout=5),
        _event(6, "node_resumed", "c", 3, action="continue", waited=5.0, timed_out=True),
        _event(7, "node_paused", "d", 4, reason="breakpoint", timeout=5),  # the run stopped here
        _event(8, "node_resumed", "e", 9, action="continue", waited=1.0),  # no pause: ignored
    ]
    pauses = pauses_from_events(events)
    assert [(p.node_id, p.ended, p.waited, p.edited) for p in pauses] == [
        ("a", "stepped", 0.25, []),
        ("b", "aborted", 1.0, ["vars.token"]),
        ("c", "timed_out", 5.0, []),
        ("d", None, None, []),
    ]
    assert pauses[3].resumed_at is None and pauses[2].timeout == 5.0
    run = RunRecord(
        id="r1", workflow_name="flow", status=RunStatus.CANCELLED, trigger="manual", priority=0, queued_at=AT,
    )  # fmt: skip
    data = report_json(build_report(run, [], [], events))
    jsonschema.Draft202012Validator(run_report_json_schema()).validate(data)
    assert len(data["pauses"]) == 4 and "s3" not in str(data)
