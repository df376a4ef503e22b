"""``queue_run``: a submit's queued run, written as ``create_run`` writes it, without the read-back."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from automation.clock import FakeClock
from automation.engine.events import RunStatus
from supervisor.store.errors import SupervisorNotRegistered
from supervisor.store.records import QueuedRow
from tests.helpers.storage import StoreFactory

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GONE = "g" * 32


def test_a_queued_run_is_the_row_create_run_writes(store_factory: StoreFactory) -> None:
    store = store_factory(clock=FakeClock(start=START))
    version = store.save_workflow_version("invoices", None, "nodes: []\n")
    fields = {
        "trigger": "manual",
        "priority": 3,
        "inputs": {"month": "March"},
        "target_host": "desk-1",
        "needs_desktop": True,
        "options": {"breakpoints": ["fetch"]},
    }
    made = store.create_run("made", "invoices", version=version, at=START, **fields)  # type: ignore[arg-type]
    store.queue_run(QueuedRow("queued", "invoices", version, **fields), at=START)  # type: ignore[arg-type]
    queued = store.get_run("queued")
    assert queued is not None and queued.status is RunStatus.QUEUED
    assert dataclasses.replace(queued, id="made") == made


def test_a_forgotten_supervisor_queues_nothing(store_factory: StoreFactory) -> None:
    store = store_factory(clock=FakeClock(start=START))
    version = store.save_workflow_version("invoices", None, "nodes: []\n")
    store.register_supervisor(GONE, host="old-pc")
    store.queue_run(QueuedRow("before", "invoices", version))
    store.forget_supervisor(GONE, silent_for=None)
    with pytest.raises(SupervisorNotRegistered, match="no longer registered"):
        store.queue_run(QueuedRow("after", "invoices", version))
    assert store.get_run("before") is not None and store.get_run("after") is None
