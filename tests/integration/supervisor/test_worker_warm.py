"""Workers started as their own process (``python -m supervisor.worker``) compile the models
of the blocks runs used before they say hello, so a run handed to a spare (a restart after
a crash) does not wait for them; the fork server's workers inherit them."""

from __future__ import annotations

import json

import pytest

from automation.engine.events import RunStatus
from supervisor.workers import PythonWorkerLauncher, WorkerState
from tests.integration.supervisor.harness import wait_for


@pytest.mark.parametrize("fork", [False, True], ids=["exec", "fork"])
def test_spares_started_after_a_run_have_its_blocks_compiled(start_supervisor, fork) -> None:
    """Forked workers inherit the models the server compiled, once, before it forks the
    next workers; exec'd ones compile them before their hello.  A block no run used stays
    uncompiled (the memory deferring saves)."""
    harness = start_supervisor(fork=fork, worker_limit=1, spare_workers=1)
    assert (type(harness.launcher) is PythonWorkerLauncher) is not fork
    workers = harness.sup.workers

    def idle() -> int:
        return sum(w.state is WorkerState.IDLE for w in workers.values())

    # The first run takes the spare started before any run; the spare started to replace
    # it, once the hand-over named the run's blocks, takes the second run.
    wait_for(lambda: harness.call(idle) or None)
    first = harness.submit(harness.flow("first", "nodes:\n  only:\n    block: control.pass\n"))
    assert harness.wait_terminal(first).status is RunStatus.SUCCEEDED
    check = harness.flow(
        "check",
        "nodes:\n  look:\n    block: suptest.compiled\n"
        "    with: {blocks: [control.pass, control.delay], report: compiled.json}\n",
    )
    second = harness.submit(check)
    assert harness.wait_terminal(second).status is RunStatus.SUCCEEDED
    report = json.loads((check.parent / "compiled.json").read_text(encoding="utf-8"))
    # control.delay: no run used it, so no worker spends its time compiling it
    assert report == {"control.pass": True, "control.delay": False}
