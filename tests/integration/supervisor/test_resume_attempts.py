"""A resumed step gets only the attempts it has left, not its retries afresh.

Real supervisor, real workers, a real SIGKILL.  The step (``process.run``,
``retry: 3``) fails its first attempt; its second hangs and its worker is
killed mid-attempt.  That attempt counts (it ran), so the resumed run gives
the step one attempt more, and when that fails too the run fails: three
attempts in all, as the workflow says.  Before, the resumed step had three
attempts afresh (five in all).
"""

from __future__ import annotations

import pytest

from automation.engine.events import RunStatus
from tests.integration.supervisor.harness import kill_noted, lines, wait_for

pytestmark = pytest.mark.timeout(60)

NODES = """\
nodes:
  flaky:
    block: process.run
    retry: {{max_attempts: 3, delay: 0s}}
    with:
      args: [sh, -c, "{script}"]
"""


def test_a_step_resumed_after_its_worker_was_killed_gets_only_its_last_attempt(
    start_supervisor,
) -> None:
    harness = start_supervisor()
    tries = harness.workflows / "tries.txt"
    # each attempt notes its pid; the second waits (and is killed), the others fail
    script = f"echo $$ >> {tries}; if [ $(wc -l < {tries}) -eq 2 ]; then exec sleep 60; fi; exit 1"
    run_id = harness.submit(harness.flow("resume-attempts", NODES.format(script=script)))
    try:
        wait_for(lambda: len(lines(tries)) == 2 or None, timeout=30)
        harness.kill_worker(run_id)
        record = harness.wait_terminal(run_id, timeout=30)
    finally:
        kill_noted(lines(tries)[1:2])  # the second attempt's sleep
    assert record.status is RunStatus.FAILED
    assert len(lines(tries)) == 3, "the resumed step had its retries afresh"
    steps = [(s.attempt, str(s.status), s.failure) for s in harness.store.steps(run_id)]
    assert steps == [
        (1, "failed", "error"),
        (2, "failed", "interrupted"),
        (3, "failed", "error"),
    ]
