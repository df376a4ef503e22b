"""A breakpoint pause answered by a command does not count against the run's kill deadline.

Real supervisor and worker.  The run has a 2 s time limit and waits 3.5 s at
a breakpoint; ``debug_command`` (what the API and the GUI call) continues
it, and its next step takes 1.5 s.  The pause is not the run's time: it
succeeds.  Before, the command cleared the pause before the engine said it
went on, the pause was never added to the run's paused time, and the
supervisor killed the worker as timed out while the step ran.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from automation.engine.events import RunStatus
from supervisor.debugging import DebugOptions
from tests.integration.supervisor.harness import wait_for

pytestmark = pytest.mark.timeout(60)

FLOW = """\
deskpilot: 1
name: paused
nodes:
  stop_here: {block: control.pass}
  work: {block: suptest.hold, with: {log: hold.log, seconds: 1.5}}
links: [stop_here -> work]
"""

PAUSE = 3.5


def test_a_pause_answered_by_a_command_is_not_the_run_s_time(start_supervisor) -> None:
    harness = start_supervisor()
    sup = harness.sup
    debug = DebugOptions(breakpoints=("stop_here",), pause_timeout=60.0)
    run_id = harness.submit(harness.workflow("paused", FLOW), deadline_seconds=2.0, debug=debug)
    wait_for(lambda: harness.call(lambda: sup.paused(run_id)), timeout=30)
    # the length of the pause is what is under test, not a synchronisation
    until = time.monotonic() + PAUSE
    while time.monotonic() < until:
        time.sleep(0.05)
    loop = harness._loop
    assert loop is not None
    command = sup.debug_command(run_id, {"action": "continue"})
    asyncio.run_coroutine_threadsafe(command, loop).result(10)
    record = harness.wait_terminal(run_id, timeout=30)
    assert record.status is RunStatus.SUCCEEDED, record.error
    assert harness.store.paused_seconds(run_id) >= PAUSE
