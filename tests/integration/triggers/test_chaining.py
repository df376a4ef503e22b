"""Workflows started after other workflows finish, and the guard against endless loops."""

from __future__ import annotations

from pathlib import Path

from automation.blocks.registry import BlockRegistry
from automation.engine.events import RunStatus
from tests.helpers.common import eventually
from tests.integration.triggers.harness import (
    FAIL_NODES,
    PASS_NODES,
    DaemonThread,
    not_run,
    started,
    write_workflow,
)


def submit(daemon: DaemonThread, name: str) -> str:
    def go() -> str:
        loaded = daemon.triggers.catalog.get(name)
        assert loaded is not None
        return daemon.parts.supervisor.submit(loaded, {})

    return daemon.call(go)


def status_of(daemon: DaemonThread, run_id: str) -> RunStatus | None:
    run = daemon.parts.store.get_run(run_id)
    return run.status if run is not None else None


def test_a_chained_workflow_runs_only_for_the_statuses_it_names(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    workflows = tmp_path / "workflows"
    write_workflow(workflows, "first", FAIL_NODES)
    write_workflow(
        workflows,
        "on_fail",
        PASS_NODES + "triggers:\n  - {type: after, workflow: first, status: [failed]}\n",
    )
    write_workflow(
        workflows, "on_ok", PASS_NODES + "triggers:\n  - {type: after, workflow: first}\n"
    )
    daemon = DaemonThread(tmp_path, registry).start()
    try:
        run_id = submit(daemon, "first")
        [chained] = eventually(lambda: daemon.runs("on_fail"), timeout=20)
        assert chained.trigger == f"after:first:{run_id}"
        # the run's end reaches the history through the recorder, a moment after the callbacks
        eventually(lambda: status_of(daemon, run_id) is RunStatus.FAILED)
        # on_ok's trigger was decided in the same callback: it did not match 'failed'
        assert daemon.runs("on_ok") == []
    finally:
        daemon.stop()


def test_workflows_that_start_each_other_are_stopped_and_the_refusal_recorded(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    workflows = tmp_path / "workflows"
    write_workflow(workflows, "ping", PASS_NODES + "triggers:\n  - {type: after, workflow: pong}\n")
    write_workflow(workflows, "pong", PASS_NODES + "triggers:\n  - {type: after, workflow: ping}\n")
    daemon = DaemonThread(tmp_path, registry).start()
    try:
        first_ping = submit(daemon, "ping")
        refused = eventually(lambda: not_run(daemon.runs("ping")), timeout=30)
        [pong] = started(daemon.runs("pong"))
        assert pong.trigger == f"after:ping:{first_ping}"
        [record] = refused
        assert record.trigger == f"after:pong:{pong.id}"
        assert record.error is not None
        assert "loop back to 'ping' (ping → pong → ping)" in record.error
        assert [r.id for r in started(daemon.runs("ping"))] == [first_ping]
        assert "loop back" in (daemon.trigger_info("ping:0")["last_error"] or "")
    finally:
        daemon.stop()
