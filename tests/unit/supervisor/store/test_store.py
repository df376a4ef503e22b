"""The history store contract: every test here runs against every store backend."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from automation.clock import FakeClock
from automation.engine.events import IllegalTransition, RunStatus, StepStatus
from supervisor.store import HistoryStore, RunNotFound
from supervisor.store.ingest import SUMMARY_STRING_LIMIT
from supervisor.store.schema import artifacts, events, step_runs
from tests.helpers.storage import RunEvents


def count(store: HistoryStore, table, run_id: str) -> int:
    with store.engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(table).where(table.c.run_id == run_id)
        ).scalar_one()


# -- workflow versions -------------------------------------------------------------------


def test_saving_the_same_content_twice_returns_the_same_version(store: HistoryStore) -> None:
    first = store.save_workflow_version("invoices", "/flows/invoices.yaml", "nodes: []\n")
    again = store.save_workflow_version("invoices", "/flows/invoices.yaml", "nodes: []\n")

    assert again == first
    assert first.content_hash == hashlib.sha256(b"nodes: []\n").hexdigest()
    assert store.version_content(first.version_id) == "nodes: []\n"


def test_changed_content_is_a_new_version_of_the_same_workflow(store: HistoryStore) -> None:
    first = store.save_workflow_version("invoices", "a.yaml", "v: 1")
    second = store.save_workflow_version("invoices", "b.yaml", "v: 2")
    other = store.save_workflow_version("reports", "a.yaml", "v: 1")

    assert second.workflow_id == first.workflow_id
    assert second.version_id != first.version_id
    assert other.workflow_id != first.workflow_id
    assert other.content_hash == first.content_hash
    assert store.version_content(second.version_id) == "v: 2"


def test_a_run_links_the_version_it_ran(store: HistoryStore) -> None:
    version = store.save_workflow_version("invoices", "a.yaml", "v: 1")
    run = RunEvents(workflow="invoices")
    store.record([run.run_started(version_hash=version.content_hash)])

    record = store.get_run(run.run_id)
    assert record is not None
    assert (record.workflow_id, record.version_id) == (version.workflow_id, version.version_id)


# -- recording a run ---------------------------------------------------------------------


def test_a_whole_run_is_recorded(store: HistoryStore) -> None:
    run = RunEvents()
    queued = store.create_run(
        run.run_id, run.workflow, trigger="schedule", priority=3, inputs={"date": "2026-01-01"}
    )
    assert queued.status is RunStatus.QUEUED
    assert queued.started_at is None

    batch = [
        run.run_started(inputs={"date": "2026-01-01"}, trigger="schedule"),
        *run.step(1, emissions=[{"text": "a"}, {"text": "b"}], vars_set={"total": 3}),
        run.node_started(2),
        run.log("fetched", step=2, level="warning", status=200),
        run.artifact(2, "/shots/2.png"),
        run.node_finished(2),
        run.replayed(3),
    ]
    finished = run.run_finished(outputs={"sum": 3}, steps=3)
    store.record([*batch, finished])

    record = store.get_run(run.run_id)
    assert record is not None
    assert record.status is RunStatus.SUCCEEDED
    assert record.trigger == "schedule" and record.priority == 3
    assert record.inputs == {"date": "2026-01-01"}
    assert record.outputs == {"sum": 3}
    assert record.steps == 3
    assert record.queued_at == queued.queued_at
    assert record.started_at == batch[0].at
    assert record.finished_at == finished.at
    assert record.duration == finished.duration

    steps = store.steps(run.run_id)
    assert [(s.step, s.node_id, s.status) for s in steps] == [
        (1, "node1", StepStatus.SUCCEEDED),
        (2, "node2", StepStatus.SUCCEEDED),
    ]
    assert steps[0].block == "data.set"
    assert steps[0].emissions == [{"text": "a"}, {"text": "b"}]
    assert steps[0].outputs == {"text": "b"}
    assert steps[0].vars_set == {"total": 3}
    assert steps[0].started_at == batch[1].at and steps[0].finished_at == batch[2].at

    logged = store.events(run.run_id)
    assert [(e.kind, e.node_id, e.step) for e in logged] == [
        ("log", "node2", 2),
        ("node_replayed", "node3", 3),
    ]
    assert logged[0].level == "warning"
    assert logged[0].message == "fetched"
    assert logged[0].data == {"status": 200}

    [shot] = store.artifacts(run.run_id)
    assert (shot.path, shot.kind, shot.step, shot.node_id) == (
        "/shots/2.png",
        "screenshot",
        2,
        "node2",
    )


def test_a_run_started_without_being_queued_is_created_running(store: HistoryStore) -> None:
    run = RunEvents()
    started = run.run_started(parent_run_id="f" * 32, trigger="workflow_finished")
    store.record([started])

    record = store.get_run(run.run_id)
    assert record is not None
    assert record.status is RunStatus.RUNNING
    assert record.queued_at == record.started_at == started.at
    assert record.parent_run_id == "f" * 32
    assert record.trigger == "workflow_finished"


def test_events_split_across_batches_update_the_started_step(store: HistoryStore) -> None:
    run = RunEvents()
    store.record([run.run_started(), run.node_started(1)])
    assert store.steps(run.run_id)[0].status is StepStatus.RUNNING

    store.record([run.node_finished(1, emissions=[{"value": "done"}])])

    [step] = store.steps(run.run_id)
    assert step.status is StepStatus.SUCCEEDED
    assert step.outputs == {"value": "done"}


def test_a_step_end_without_a_recorded_start_is_kept(store: HistoryStore) -> None:
    run = RunEvents()
    store.record([run.run_started()])
    store.record([run.node_finished(4, emissions=[{"value": 4}])])

    [step] = store.steps(run.run_id)
    assert (step.step, step.status, step.emissions) == (4, StepStatus.SUCCEEDED, [{"value": 4}])


def test_failed_attempts_and_retries_are_kept_per_attempt(store: HistoryStore) -> None:
    run = RunEvents()
    store.record(
        [
            run.run_started(),
            run.node_started(1, attempt=1),
            run.node_failed(
                1,
                attempt=1,
                failure="timeout",
                error_type="StepTimeout",
                message="step timed out after 5 s",
                will_retry=True,
            ),
            run.retrying(1, next_attempt=2, delay=2.0),
        ]
    )
    store.record(
        [
            run.node_started(1, attempt=2),
            run.node_failed(1, attempt=2, message="connection refused", will_retry=True),
            run.node_started(1, attempt=3),
            run.node_finished(1, attempt=3),
            run.node_started(2),
            run.node_failed(
                2, failure="cancelled", error_type="StepCancelled", message="the run was cancelled"
            ),
        ]
    )

    steps = store.steps(run.run_id)
    assert [(s.step, s.attempt, s.status, s.failure) for s in steps] == [
        (1, 1, StepStatus.TIMED_OUT, "timeout"),
        (1, 2, StepStatus.FAILED, "error"),
        (1, 3, StepStatus.SUCCEEDED, None),
        (2, 1, StepStatus.CANCELLED, "cancelled"),
    ]
    assert (steps[0].error_type, steps[0].error) == ("StepTimeout", "step timed out after 5 s")
    assert steps[0].duration == 0.25
    [retry] = store.events(run.run_id)
    assert retry.kind == "node_retrying"
    assert retry.level == "warning"
    assert retry.data == {"next_attempt": 2, "delay": 2.0}
    assert "attempt 2" in (retry.message or "")


@pytest.mark.parametrize("same_batch", [True, False], ids=["same-batch", "next-batch"])
def test_restarting_an_attempt_left_in_flight_overwrites_it(
    store: HistoryStore, same_batch: bool
) -> None:
    """A resumed run runs again the step its dead worker was in, with the same step number."""
    run = RunEvents()
    first = [run.run_started(), *run.step(1), run.node_started(2)]
    again = [run.run_started(resumed=True), run.node_started(2), run.node_finished(2)]
    if same_batch:
        store.record(first + again)
    else:
        store.record(first)
        store.record(again)

    steps = store.steps(run.run_id)
    assert [(s.step, s.attempt, s.status) for s in steps] == [
        (1, 1, StepStatus.SUCCEEDED),
        (2, 1, StepStatus.SUCCEEDED),
    ]
    assert steps[1].started_at == again[1].at
    record = store.get_run(run.run_id)
    # Resumes are counted by the supervisor's decision (interrupted -> queued), not by the
    # engine's start event, which cannot tell a resume without a checkpoint from a first start.
    assert record is not None and record.resumes == 0


def test_checkpoint_holds_the_succeeded_steps_with_what_they_emitted(store: HistoryStore) -> None:
    run = RunEvents()
    long_text = "x" * (SUMMARY_STRING_LIMIT * 3)
    store.record(
        [
            run.run_started(),
            *run.step(1, emissions=[{"item": 1}, {"item": 2}], vars_set={"count": 2}),
            *run.step(2, emissions=[{"text": long_text}]),
            run.node_started(3),
            run.node_failed(3),
            run.node_started(4),
        ]
    )

    checkpoint = store.checkpoint(run.run_id)

    assert sorted(checkpoint) == [1, 2]
    assert checkpoint[1].node_id == "node1"
    assert checkpoint[1].emissions == [{"item": 1}, {"item": 2}]
    assert checkpoint[1].vars_set == {"count": 2}
    # The full value is what a resume replays; the summary is cut for display.
    assert checkpoint[2].emissions == [{"text": long_text}]
    assert checkpoint[2].outputs is not None
    summary = checkpoint[2].outputs["text"]
    assert summary.startswith("x" * SUMMARY_STRING_LIMIT)
    assert len(summary) < SUMMARY_STRING_LIMIT + 50


def test_a_step_that_succeeded_on_a_retry_is_in_the_checkpoint(store: HistoryStore) -> None:
    run = RunEvents()
    store.record(
        [
            run.run_started(),
            run.node_started(1, attempt=1),
            run.node_failed(1, attempt=1, will_retry=True),
            run.node_started(1, attempt=2),
            run.node_finished(1, attempt=2, emissions=[{"value": "second"}]),
        ]
    )

    checkpoint = store.checkpoint(run.run_id)
    assert checkpoint[1].attempt == 2
    assert checkpoint[1].emissions == [{"value": "second"}]


def test_reusable_steps_follow_what_each_rerun_replayed_along_the_chain(
    store: HistoryStore,
) -> None:
    """A run from here replays steps without recording them as its own; re-running it must
    still find them, in the run it re-ran (and that one's source, and so on)."""
    first = RunEvents()
    store.record(
        [
            first.run_started(),
            *first.step(1, emissions=[{"v": "a1"}]),
            *first.step(2, emissions=[{"v": "a2"}]),
            *first.step(3, emissions=[{"v": "a3"}]),
        ]
    )
    second = RunEvents()  # from step 3: replays 1 and 2, runs 3 and 4
    store.record(
        [
            second.run_started(trigger=f"rerun:{first.run_id}"),
            second.replayed(1),
            second.replayed(2),
            *second.step(3, emissions=[{"v": "b3"}]),
            *second.step(4, emissions=[{"v": "b4"}]),
        ]
    )
    third = RunEvents()  # from step 4: replays 1, 2 and 3
    store.record(
        [
            third.run_started(trigger=f"rerun:{second.run_id}"),
            *(third.replayed(step) for step in (1, 2, 3)),
            *third.step(4, emissions=[{"v": "c4"}]),
        ]
    )
    assert sorted(store.checkpoint(third.run_id)) == [4]  # its own steps alone
    found = store.reusable_steps(third.run_id)
    assert {step: rec.emissions for step, rec in found.items()} == {
        1: [{"v": "a1"}],
        2: [{"v": "a2"}],
        3: [{"v": "b3"}],
        4: [{"v": "c4"}],
    }
    looped = RunEvents()  # a trigger naming the run itself ends the walk
    store.record([looped.run_started(trigger=f"rerun:{looped.run_id}"), looped.replayed(1)])
    assert store.reusable_steps(looped.run_id) == {}


def test_events_page_by_sequence_number(store: HistoryStore) -> None:
    run = RunEvents()
    store.record([run.run_started(), *(run.log(f"line {n}") for n in range(10))])

    first = store.events(run.run_id, limit=4)
    rest = store.events(run.run_id, after_seq=first[-1].seq)

    assert [e.message for e in first + rest] == [f"line {n}" for n in range(10)]
    assert [e.seq for e in first] == sorted(e.seq for e in first)


# -- listing -------------------------------------------------------------------------------


def _queue(store: HistoryStore, workflow: str, at: datetime, run_id: str) -> None:
    store.create_run(run_id, workflow, at=at)


def test_runs_are_listed_newest_first_and_filtered(store: HistoryStore) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for n in range(6):
        _queue(store, "a" if n % 2 else "b", start + timedelta(minutes=n), f"{n:032x}")
    store.set_run_status(f"{5:032x}", RunStatus.RUNNING)

    assert [r.id[-1] for r in store.list_runs()] == ["5", "4", "3", "2", "1", "0"]
    assert [r.id[-1] for r in store.list_runs(workflow="a")] == ["5", "3", "1"]
    assert [r.id[-1] for r in store.list_runs(status=RunStatus.RUNNING)] == ["5"]
    assert [r.id[-1] for r in store.list_runs(status=["queued", "running"], limit=2)] == ["5", "4"]
    assert store.count_runs() == 6
    assert store.count_runs(workflow="a", status="queued") == 2
    assert store.count_runs(workflow="nope") == 0


def test_paging_by_the_last_run_seen_misses_nothing_even_on_equal_times(
    store: HistoryStore,
) -> None:
    same_time = datetime(2026, 3, 1, tzinfo=UTC)
    ids = [f"{n:032x}" for n in range(7)]
    for run_id in ids:
        _queue(store, "w", same_time, run_id)

    seen: list[str] = []
    page = store.list_runs(limit=3)
    while page:
        seen += [r.id for r in page]
        page = store.list_runs(limit=3, before=page[-1].id)

    assert seen == sorted(ids, reverse=True)


def test_paging_by_time_returns_runs_queued_before_it(store: HistoryStore) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for n in range(4):
        _queue(store, "w", start + timedelta(hours=n), f"{n:032x}")

    older = store.list_runs(before=start + timedelta(hours=2))
    assert [r.id[-1] for r in older] == ["1", "0"]


def test_paging_after_an_unknown_run_says_so(store: HistoryStore) -> None:
    with pytest.raises(RunNotFound, match="no run with id 'missing'"):
        store.list_runs(before="missing")


# -- lifecycle ---------------------------------------------------------------------------


def test_run_status_follows_the_lifecycle(store: HistoryStore) -> None:
    run = RunEvents()
    store.create_run(run.run_id, run.workflow)
    store.record([run.run_started(), run.node_started(1)])

    interrupted = store.set_run_status(
        run.run_id, RunStatus.INTERRUPTED, stopped_reason="worker exited with code -9"
    )
    assert interrupted.status is RunStatus.INTERRUPTED
    assert interrupted.stopped_reason == "worker exited with code -9"
    assert interrupted.finished_at is None
    [step] = store.steps(run.run_id)
    assert (step.status, step.failure) == (StepStatus.FAILED, "interrupted")

    assert store.set_run_status(run.run_id, "queued").status is RunStatus.QUEUED
    cancelled = store.set_run_status(run.run_id, RunStatus.CANCELLED, error="stopped by user")
    assert cancelled.status is RunStatus.CANCELLED
    assert cancelled.error == "stopped by user"
    assert cancelled.finished_at is not None


def test_resumes_and_duration_cover_every_interruption(store: HistoryStore) -> None:
    """Interrupted four times, before any step finished: four resumes, the whole span timed."""
    run = RunEvents()
    store.create_run(run.run_id, run.workflow)
    started = run.run_started()
    store.record([started])
    for _ in range(4):
        store.set_run_status(run.run_id, RunStatus.INTERRUPTED, error="worker crashed")
        store.set_run_status(run.run_id, RunStatus.QUEUED)
        store.record([run.run_started(), run.node_started(1)])
    finished = dataclasses.replace(run.run_finished(steps=1), duration=1.5)  # the last attempt
    store.record([finished])

    record = store.get_run(run.run_id)
    assert record is not None and record.resumes == 4
    assert record.started_at == started.at
    assert record.duration == (finished.at - started.at).total_seconds()


def test_a_run_the_supervisor_ends_is_timed_from_its_first_start(store: HistoryStore) -> None:
    run = RunEvents()
    store.create_run(run.run_id, run.workflow)
    started = run.run_started()
    store.record([started])
    store.set_run_status(run.run_id, RunStatus.INTERRUPTED)
    ended = started.at + timedelta(seconds=8.5)
    failed = store.set_run_status(run.run_id, RunStatus.FAILED, error="gave up", at=ended)
    assert failed.resumes == 0
    assert failed.duration == 8.5


def test_an_illegal_status_change_names_the_run_and_both_states(store: HistoryStore) -> None:
    run = RunEvents()
    store.record(run.whole_run(1))

    with pytest.raises(IllegalTransition) as raised:
        store.set_run_status(run.run_id, RunStatus.RUNNING)

    message = str(raised.value)
    assert run.run_id in message
    assert "'succeeded'" in message and "'running'" in message
    record = store.get_run(run.run_id)
    assert record is not None and record.status is RunStatus.SUCCEEDED


def test_changing_the_status_of_an_unknown_run_raises(store: HistoryStore) -> None:
    with pytest.raises(RunNotFound):
        store.set_run_status("0" * 32, RunStatus.RUNNING)
    assert store.get_run("0" * 32) is None


# -- pruning -------------------------------------------------------------------------------


def _finished_run(store: HistoryStore, start: datetime) -> str:
    run = RunEvents(start=start)
    store.record(
        [
            *run.whole_run(2),
            run.log("kept with its run"),
            run.artifact(1, "/shots/1.png"),
        ]
    )
    return run.run_id


def test_prune_by_age_deletes_old_finished_runs_with_their_rows(store_factory) -> None:
    clock = FakeClock(start=datetime(2026, 6, 1, tzinfo=UTC))
    store = store_factory(clock=clock)
    old = _finished_run(store, datetime(2026, 1, 1, tzinfo=UTC))
    recent = _finished_run(store, datetime(2026, 5, 30, tzinfo=UTC))
    still_running = RunEvents(start=datetime(2026, 1, 1, tzinfo=UTC))
    store.record([still_running.run_started()])

    assert store.prune(max_age=timedelta(days=30)) == 1

    assert store.get_run(old) is None
    assert {table.name: count(store, table, old) for table in (step_runs, events, artifacts)} == {
        "step_runs": 0,
        "events": 0,
        "artifacts": 0,
    }
    assert store.get_run(recent) is not None
    assert count(store, step_runs, recent) == 2
    assert store.get_run(still_running.run_id) is not None


def test_prune_by_count_keeps_the_newest_runs(store: HistoryStore) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [_finished_run(store, start + timedelta(days=n)) for n in range(5)]
    waiting = "q" * 32
    store.create_run(waiting, "invoices", at=start - timedelta(days=1))

    assert store.prune(max_runs=2) == 3

    assert {r.id for r in store.list_runs()} == {ids[4], ids[3], waiting}
    assert count(store, step_runs, ids[0]) == 0
    assert store.prune(max_runs=2) == 0


def test_prune_refuses_negative_limits(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="max_runs"):
        store.prune(max_runs=-1)
    with pytest.raises(ValueError, match="max_age"):
        store.prune(max_age=timedelta(days=-1))


# -- values ---------------------------------------------------------------------------------


def test_json_columns_tolerate_values_json_does_not_know(store: HistoryStore) -> None:
    run = RunEvents()
    cycle: list[object] = []
    cycle.append(cycle)
    odd = {
        "path": Path("/tmp/report.pdf"),
        "raw": b"\x00\x01",
        "when": datetime(2026, 1, 1, tzinfo=UTC),
        "tags": {"a"},
        "nan": math.nan,
        (1, 2): "tuple key",
        "cycle": cycle,
    }
    store.record(
        [
            run.run_started(inputs={"path": Path("/in")}),
            *run.step(1, emissions=[odd], vars_set={"seen": {1, 2}}),
            run.log("odd", value=Path("/log")),
            run.run_finished(outputs={"result": Path("/out")}),
        ]
    )

    [step] = store.steps(run.run_id)
    assert step.emissions is not None
    stored = step.emissions[0]
    assert stored["path"] == "/tmp/report.pdf"
    assert stored["raw"] == "b'\\x00\\x01'"
    assert stored["when"] == "2026-01-01 00:00:00+00:00"
    assert stored["tags"] == ["a"]
    assert stored["nan"] == "nan"
    assert stored["(1, 2)"] == "tuple key"
    assert step.vars_set == {"seen": [1, 2]}
    record = store.get_run(run.run_id)
    assert record is not None
    assert record.inputs == {"path": "/in"}
    assert record.outputs == {"result": "/out"}
    assert store.events(run.run_id)[0].data == {"value": "/log"}


def test_timestamps_come_back_as_aware_utc_for_the_same_instant(store: HistoryStore) -> None:
    paris = timezone(timedelta(hours=2))
    local = datetime(2026, 7, 14, 11, 30, 15, 123456, tzinfo=paris)
    run = RunEvents(start=local)
    store.create_run(run.run_id, run.workflow, at=local)
    store.record([run.run_started(), *run.step(1)])

    record = store.get_run(run.run_id)
    assert record is not None
    assert record.queued_at == local
    assert record.queued_at.tzinfo is UTC
    assert record.queued_at.hour == 9
    assert record.queued_at.microsecond == 123456
    [step] = store.steps(run.run_id)
    assert step.started_at is not None and step.started_at.tzinfo is UTC
    assert step.started_at == local + timedelta(seconds=2)


def test_integrity_check_reports_ok(store: HistoryStore) -> None:
    store.record(RunEvents().whole_run(3))
    assert store.integrity_check() == "ok"


def test_the_supervisor_can_attach_an_artifact_to_a_run(store: HistoryStore) -> None:
    run = RunEvents()
    store.record([run.run_started()])

    added = store.add_artifact(
        run.run_id, Path("/evidence/hung.png"), kind="evidence", description="worker hung"
    )

    assert store.artifacts(run.run_id) == [added]
    with pytest.raises(RunNotFound):
        store.add_artifact("0" * 32, "/x.png", kind="evidence")
