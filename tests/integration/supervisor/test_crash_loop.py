"""A workflow whose worker dies every time: growing restart delays, then 'gave up'; the breaker.

supervisord and circus restart a crash-looping child forever; here a run
gets ``max_restarts`` resumes, each later than the last, and then fails for
good.  Failures of one workflow open its circuit breaker: its queued runs
wait while other workflows go on, and after the cool-down one probe run goes
through; its success closes the breaker.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from automation.engine.events import RunStatus
from supervisor.breaker import BreakerPolicy, BreakerState
from tests.integration.supervisor.harness import SupervisorThread

CRASHY = """\
deskpilot: 1
name: crashy
nodes:
  die:
    block: suptest.exit_worker
    with: {code: 70, unless_exists: healed}
"""

HEALTHY = """\
deskpilot: 1
name: healthy
nodes:
  only:
    block: control.pass
"""


def at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["at"])


def restart_gaps(harness: SupervisorThread, run_id: str) -> list[float]:
    """Seconds from each interruption that resumed the run to the resumed run's start."""
    starts = harness.seen("run_started", run_id=run_id)
    interruptions = [e for e in harness.seen("run_interrupted", run_id=run_id) if e["will_resume"]]
    assert len(starts) == len(interruptions) + 1
    return [
        (at(start) - at(stop)).total_seconds()
        for stop, start in zip(interruptions, starts[1:], strict=True)
    ]


def test_crash_loop_backs_off_then_gives_up(start_supervisor) -> None:
    seed = 7
    # forked workers start in milliseconds, so the gaps measure the backoff, not start-up
    harness = start_supervisor(
        max_restarts=3, restart_delay=0.5, spare_workers=2, rng=random.Random(seed), fork=True
    )
    path = harness.workflow("crashy", CRASHY)
    run_id = harness.submit(path)

    record = harness.wait_terminal(run_id, timeout=40)
    assert record.status is RunStatus.FAILED
    assert record.error is not None
    assert record.error.startswith("worker crashed: exited with code 70 before the run finished")
    assert record.error.endswith("gave up because it was interrupted 4 times")

    # the delays the supervisor drew (same seed): 0, then 0.5 and 1.0 with ±20 % jitter
    draws = random.Random(seed)
    expected = [harness.config.restart_backoff(n, draws.random()) for n in (1, 2, 3)]
    assert expected[0] == 0.0 and 0.4 <= expected[1] <= 0.6 and 0.8 <= expected[2] <= 1.2
    gaps = restart_gaps(harness, run_id)
    assert gaps[0] < gaps[1] < gaps[2], gaps
    for gap, want in zip(gaps, expected, strict=True):
        assert want - 0.05 <= gap < want + 1.0, (gaps, expected)

    # no busy loop: four attempts, four workers spent on them, no more
    interruptions = harness.seen("run_interrupted", run_id=run_id)
    assert [e["will_resume"] for e in interruptions] == [True, True, True, False]
    crashed = [e for e in harness.seen("worker_exited") if e["run_id"] == run_id]
    assert len(crashed) == 4 and all(e["returncode"] == 70 for e in crashed)
    counters = harness.call(lambda: dict(harness.sup.counters))
    assert counters["restarts"] == 4
    assert counters["workers_started"] <= 4 + harness.config.spare_workers + 2
    assert harness.seen("breaker_opened") == []  # one failed run is below the threshold


def test_failing_workflow_opens_its_breaker_then_a_probe_closes_it(start_supervisor) -> None:
    # long enough that the healthy run below ends inside it even on a loaded machine
    cooldown = 5.0
    harness = start_supervisor(
        max_restarts=0,
        breaker=BreakerPolicy(threshold=2, window=60.0, cooldown=cooldown),
    )
    sup = harness.sup
    crashy = harness.workflow("crashy", CRASHY)
    healthy = harness.workflow("healthy", HEALTHY)

    failed = [harness.submit(crashy) for _ in range(2)]
    for run_id in failed:
        record = harness.wait_terminal(run_id)
        assert record.status is RunStatus.FAILED
        assert record.error is not None and record.error.endswith("interrupted 1 times")
    opened = harness.wait_event("breaker_opened", workflow="crashy")
    assert opened["failures"] == 2
    assert harness.call(lambda: sup.breaker("crashy").state(sup.clock())) is BreakerState.OPEN
    assert harness.call(lambda: sup.health()["breakers"]) == {"crashy": "open"}

    # while it is open, crashy's runs wait and other workflows run
    probe, after_probe = harness.submit(crashy), harness.submit(crashy)
    other = harness.submit(healthy)
    assert harness.wait_terminal(other).status is RunStatus.SUCCEEDED
    assert harness.run(probe).status is RunStatus.QUEUED
    assert harness.run(after_probe).status is RunStatus.QUEUED
    assert harness.call(lambda: sorted(sup.queue)) == sorted([probe, after_probe])
    (crashy.parent / "healed").write_text("", encoding="utf-8")

    assert harness.wait_terminal(probe).status is RunStatus.SUCCEEDED
    assert harness.wait_terminal(after_probe).status is RunStatus.SUCCEEDED
    closed = harness.wait_event("breaker_closed", workflow="crashy")
    probe_started = harness.wait_event("run_started", run_id=probe)
    probe_finished = harness.wait_event("run_finished", run_id=probe)
    second_started = harness.wait_event("run_started", run_id=after_probe)
    # the probe went only after the cool-down; the next run only after the probe succeeded
    assert (at(probe_started) - at(opened)).total_seconds() >= cooldown - 0.05
    assert at(second_started) >= at(probe_finished)
    assert at(closed) >= at(probe_finished)
    assert harness.call(lambda: sup.breaker("crashy").state(sup.clock())) is BreakerState.CLOSED
    assert len(harness.seen("breaker_opened")) == 1
