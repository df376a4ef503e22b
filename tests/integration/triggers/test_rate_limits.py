"""Run-rate ceilings with a real supervisor: fires past them are recorded as skipped, with
the reason, and start nothing."""

from __future__ import annotations

from pathlib import Path

from automation.blocks.registry import BlockRegistry
from automation.engine.events import RunStatus
from supervisor.breaker import BreakerPolicy
from supervisor.rate import RateLimits
from tests.helpers.common import eventually
from tests.integration.triggers.harness import (
    PASS_NODES,
    DaemonThread,
    not_run,
    small_config,
    started,
    write_workflow,
)


def test_a_file_trigger_past_its_ceiling_records_skipped_fires(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_workflow(
        tmp_path / "workflows",
        "inbox",
        PASS_NODES
        + f"triggers:\n  - {{type: file, path: {inbox}, glob: '*.txt', debounce: 0.05s}}\n",
    )
    config = small_config(
        rate_limits=RateLimits(per_trigger=2, total=100, window=600.0),
        breaker=BreakerPolicy(threshold=50, window=60.0, cooldown=60.0),
    )
    daemon = DaemonThread(tmp_path, registry, config).start()
    try:
        for index in range(6):
            (inbox / f"{index}.txt").write_text(str(index))
        eventually(
            lambda: len(started(daemon.runs("inbox"))) >= 2 and not_run(daemon.runs("inbox"))
        )
        skipped = not_run(daemon.runs("inbox"))
        assert all(r.error and r.error.startswith("skipped: trigger inbox:0") for r in skipped)
        assert "its ceiling (runs_per_trigger" in (skipped[0].error or "")
        assert "ceiling" in (daemon.trigger_info("inbox:0")["last_error"] or "")
        (inbox / "late.txt").write_text("still over the ceiling")
        eventually(lambda: daemon.trigger_info("inbox:0")["last_error"])
        assert len(started(daemon.runs("inbox"))) == 2
    finally:
        daemon.stop()


def test_the_breaker_opens_on_run_rate_and_pauses_the_triggers(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_workflow(
        tmp_path / "workflows",
        "busy",
        PASS_NODES
        + f"triggers:\n  - {{type: file, path: {inbox}, glob: '*.txt', debounce: 0.05s}}\n",
    )
    config = small_config(
        breaker=BreakerPolicy(
            threshold=50, window=60.0, cooldown=600.0, max_starts=3, rate_window=600.0
        ),
    )
    daemon = DaemonThread(tmp_path, registry, config).start()
    try:
        for index in range(8):
            (inbox / f"{index}.txt").write_text(str(index))
        eventually(lambda: daemon.trigger_info("busy:0")["paused_reason"] == "breaker")
        breaker = daemon.call(lambda: daemon.parts.supervisor.breakers["busy"])
        assert str(breaker.opened_for) == "run rate"
        # the fourth start opened it: queued runs wait instead of starting
        left_queue = [r for r in daemon.runs("busy") if r.status is not RunStatus.QUEUED]
        assert len(left_queue) <= 4
    finally:
        daemon.stop()
