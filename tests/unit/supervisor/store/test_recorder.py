"""The recorder: one writer thread, group commits, durable-before-reported, errors kept."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from automation.engine.events import Event, NodeFinished, StepStatus
from supervisor.store import DatabaseLocked, HistoryStore, Recorder, StoreError
from supervisor.store.recorder import MAX_BATCH
from tests.helpers.common import eventually
from tests.helpers.storage import RunEvents, sqlite_rows


def test_everything_sent_is_committed_by_flush_and_reported_in_order(store: HistoryStore) -> None:
    run = RunEvents()
    sent = run.whole_run(50)
    committed: list[Event] = []
    recorder = Recorder(store, on_committed=committed.extend)
    try:
        for event in sent:
            recorder(event)
        recorder.flush(timeout=30)
    finally:
        recorder.close()

    assert committed == sent
    assert len(store.checkpoint(run.run_id)) == 50


def test_events_that_pile_up_are_committed_together(store: HistoryStore) -> None:
    """While one commit is in progress the next events queue up and share the next commit."""
    run = RunEvents()
    gate = threading.Event()
    batches: list[list[Event]] = []

    def on_committed(batch: list[Event]) -> None:
        batches.append(list(batch))
        gate.wait(timeout=30)

    sent = [run.run_started()] + [run.log(f"line {n}") for n in range(1199)]
    recorder = Recorder(store, on_committed=on_committed, max_pending=2000)
    try:
        recorder(sent[0])
        eventually(lambda: len(batches) == 1)
        for event in sent[1:]:
            recorder(event)
        gate.set()
        recorder.flush(timeout=30)
    finally:
        recorder.close()

    assert [event for batch in batches for event in batch] == sent
    assert batches[0] == [sent[0]]
    # 1,199 queued events in batches of at most 500: three commits, not 1,199.
    assert [len(batch) for batch in batches[1:]] == [MAX_BATCH, MAX_BATCH, 199]
    assert len(store.events(run.run_id, limit=None)) == 1199


def test_a_producer_waits_once_max_pending_events_are_uncommitted(store: HistoryStore) -> None:
    """Back-pressure: what a kill -9 could lose (the uncommitted events) stays bounded."""
    run = RunEvents()
    gate = threading.Event()

    def on_committed(batch: list[Event]) -> None:
        gate.wait(timeout=30)

    recorder = Recorder(store, on_committed=on_committed, max_batch=5, max_pending=10)
    produced: list[int] = []

    def produce() -> None:
        for n in range(30):
            recorder(run.log(f"line {n}"))
            produced.append(n)

    producer = threading.Thread(target=produce)
    try:
        recorder(run.run_started())
        producer.start()
        # the writer is stuck in its first commit: the producer stops at the bound
        eventually(lambda: len(produced) >= 9)
        assert not gate.is_set()
        time_limit = threading.Event()
        time_limit.wait(0.2)  # the stall under test: nothing may be produced past the bound
        assert len(produced) <= 10
        gate.set()
        producer.join(timeout=30)
        recorder.flush(timeout=30)
    finally:
        gate.set()
        recorder.close()
    assert produced == list(range(30))
    assert len(store.events(run.run_id, limit=None)) == 30


def test_a_step_is_reported_only_once_another_connection_can_read_it(
    sqlite_store: HistoryStore, sqlite_store_path: Path
) -> None:
    run = RunEvents()
    visible_when_reported: list[bool] = []

    def on_committed(batch: list[Event]) -> None:
        for event in batch:
            if isinstance(event, NodeFinished):
                rows = sqlite_rows(
                    sqlite_store_path,
                    "SELECT status FROM step_runs WHERE run_id = ? AND step = ?",
                    run.run_id,
                    event.step,
                )
                visible_when_reported.append(rows == [("succeeded",)])

    with Recorder(sqlite_store, on_committed=on_committed) as recorder:
        for event in run.whole_run(20):
            recorder(event)

    assert visible_when_reported == [True] * 20


def test_a_failed_commit_is_raised_by_flush_and_retried_without_losing_events(
    sqlite_store: HistoryStore, sqlite_store_path: Path
) -> None:
    run = RunEvents()
    errors: list[StoreError] = []
    committed: list[Event] = []
    recorder = Recorder(sqlite_store, on_committed=committed.extend, on_error=errors.append)
    first = [run.run_started(), *run.step(1)]
    for event in first:
        recorder(event)
    recorder.flush(timeout=30)

    locker = sqlite3.connect(sqlite_store_path, isolation_level=None, timeout=0.1)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        for event in run.step(2):
            recorder(event)
        eventually(lambda: errors)
        for event in run.step(3):
            recorder(event)
        with pytest.raises(DatabaseLocked, match="locked"):
            recorder.flush(timeout=30)
        assert recorder.failure is not None
    finally:
        locker.execute("ROLLBACK")
        locker.close()

    recorder.flush(timeout=30)
    recorder.close()

    assert recorder.failure is None
    assert [e.seq for e in committed] == list(range(1, run.seq + 1))
    assert [s.step for s in sqlite_store.steps(run.run_id)] == [1, 2, 3]
    assert all(s.status is StepStatus.SUCCEEDED for s in sqlite_store.steps(run.run_id))


def test_after_a_failed_commit_the_writer_retries_on_its_own(
    sqlite_store: HistoryStore, sqlite_store_path: Path
) -> None:
    run = RunEvents()
    errors: list[StoreError] = []
    committed: list[Event] = []
    locker = sqlite3.connect(sqlite_store_path, isolation_level=None, timeout=0.1)
    locker.execute("BEGIN EXCLUSIVE")
    with Recorder(sqlite_store, on_committed=committed.extend, on_error=errors.append) as recorder:
        try:
            for event in [run.run_started(), *run.step(1)]:
                recorder(event)
            eventually(lambda: errors)
            assert committed == []
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        # No flush: the writer's own retry commits the backlog once the lock is gone.
        eventually(lambda: len(committed) == 3)
        # cleared by the writer thread just after it hands the batch over: polled, not read
        eventually(lambda: recorder.failure is None)

    assert isinstance(errors[0], DatabaseLocked)
    assert [s.step for s in sqlite_store.steps(run.run_id)] == [1]


def test_a_bug_in_recording_surfaces_as_a_store_error(store: HistoryStore) -> None:
    orphan = RunEvents()  # its run was never started, so its step has nothing to belong to
    recorder = Recorder(store)
    recorder(orphan.node_started(1))

    with pytest.raises(StoreError, match="recording events in the history failed"):
        recorder.close(timeout=30)


def test_a_failing_commit_callback_does_not_stop_recording(store: HistoryStore) -> None:
    run = RunEvents()

    def broken(_batch: list[Event]) -> None:
        raise RuntimeError("the GUI went away")

    with Recorder(store, on_committed=broken) as recorder:
        for event in run.whole_run(3):
            recorder(event)
            recorder.flush(timeout=30)

    record = store.get_run(run.run_id)
    assert record is not None and record.steps == 3


def test_a_closed_recorder_refuses_events(store: HistoryStore) -> None:
    run = RunEvents()
    recorder = Recorder(store)
    recorder(run.run_started())
    recorder.close(timeout=30)
    recorder.close(timeout=30)

    assert store.get_run(run.run_id) is not None
    with pytest.raises(StoreError, match="closed"):
        recorder(run.node_started(1))
