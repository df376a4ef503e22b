"""Schedules across a real stop and restart of the daemon: missed fires follow each policy."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

from automation.blocks.registry import BlockRegistry
from supervisor.store.records import RunRecord
from tests.helpers.common import eventually
from tests.integration.triggers.harness import (
    PASS_NODES,
    DaemonThread,
    not_run,
    started,
    write_workflow,
)

DOWNTIME = 3.0


def fire_time(run: RunRecord) -> datetime:
    return datetime.fromisoformat(run.trigger.rsplit("@", 1)[1])


def of_key(runs: list[RunRecord], key: str) -> list[RunRecord]:
    return sorted((r for r in runs if r.trigger.startswith(f"schedule:{key}@")), key=fire_time)


def assert_every_slot_once(runs: list[RunRecord]) -> None:
    """One-second slots from the first fire to the last, each in the history exactly once."""
    times = [fire_time(r) for r in runs]
    steps = {b - a for a, b in zip(times, times[1:], strict=False)}
    assert steps == {timedelta(seconds=1)}, times


def test_missed_fires_after_a_real_downtime_follow_each_policy(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    write_workflow(
        tmp_path / "workflows",
        "tick",
        PASS_NODES
        + "triggers:\n"
        + "  - {type: schedule, interval: 1s, misfire: run_once}\n"
        + "  - {type: schedule, interval: 1s, misfire: catch_up}\n",
    )
    first = DaemonThread(tmp_path, registry).start()
    try:
        eventually(
            lambda: of_key(first.runs("tick"), "tick:0") and of_key(first.runs("tick"), "tick:1"),
            timeout=10,
        )
    finally:
        first.stop()
    before = first.runs("tick")
    last_before = {key: fire_time(of_key(before, key)[-1]) for key in ("tick:0", "tick:1")}

    # This sleep is the downtime under test, not a wait for something to happen:
    # the supervisor is stopped, and the fires due meanwhile are what we check.
    time.sleep(DOWNTIME)

    second = DaemonThread(tmp_path, registry).start()
    try:
        # missed fires are reconciled while the trigger manager starts, before "ready"
        runs = second.runs("tick")
    finally:
        second.stop()

    run_once = of_key(runs, "tick:0")
    catch_up = of_key(runs, "tick:1")
    assert_every_slot_once(run_once)
    assert_every_slot_once(catch_up)

    # run_once: the downtime's fires are recorded as missed, then one run for the latest
    batch = [r for r in run_once if fire_time(r) > last_before["tick:0"]]
    missed = not_run(batch)
    assert len(missed) >= 2, [(r.trigger, r.status, r.error) for r in batch]
    assert batch[: len(missed)] == missed
    the_run = batch[len(missed)]
    assert the_run in started(batch)
    for record in missed:
        assert record.error is not None and record.error.startswith("missed: ")
        assert f"one run was made instead, for {the_run.trigger.rsplit('@', 1)[1]}" in record.error

    # catch_up: every fire of the downtime ran, none was recorded as missed
    caught = [r for r in catch_up if fire_time(r) > last_before["tick:1"]]
    assert len(caught) >= 3
    assert not_run(caught) == []
