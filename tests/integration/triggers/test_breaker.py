"""A workflow that keeps failing: its circuit breaker pauses its triggers, and lets them go again."""

from __future__ import annotations

from pathlib import Path

from automation.blocks.registry import BlockRegistry
from supervisor.breaker import BreakerPolicy
from tests.helpers.common import eventually
from tests.integration.triggers.harness import (
    FAIL_NODES,
    DaemonThread,
    small_config,
    write_workflow,
)

COOLDOWN = 3.0


def test_an_open_breaker_pauses_the_triggers_until_a_probe_may_run(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_workflow(
        tmp_path / "workflows",
        "flaky",
        FAIL_NODES
        + "triggers:\n"
        + f"  - {{type: file, path: {inbox}, glob: '*.csv', debounce: 0.1s}}\n"
        + "  - {type: schedule, cron: '0 3 * * *'}\n",
    )
    config = small_config(breaker=BreakerPolicy(threshold=2, window=60.0, cooldown=COOLDOWN))
    daemon = DaemonThread(tmp_path, registry, config).start()
    try:
        assert daemon.call(daemon.triggers.pause, "flaky:1") is True  # the user's own pause
        (inbox / "one.csv").write_text("1")
        (inbox / "two.csv").write_text("2")
        eventually(lambda: daemon.trigger_info("flaky:0")["paused_reason"] == "breaker", timeout=30)
        assert daemon.trigger_info("flaky:1")["paused_reason"] == "user"
        assert len(daemon.runs("flaky")) == 2

        # while the breaker is open, the folder is not watched: this file starts nothing
        (inbox / "during.csv").write_text("3")

        # after the cool-down the breaker lets one probe through: the file trigger is back
        eventually(lambda: not daemon.trigger_info("flaky:0")["paused"], timeout=COOLDOWN + 10)
        assert daemon.trigger_info("flaky:1")["paused_reason"] == "user"
        (inbox / "probe.csv").write_text("4")
        eventually(lambda: any(r.trigger.endswith(":probe.csv") for r in daemon.runs("flaky")))
        assert not any(r.trigger.endswith(":during.csv") for r in daemon.runs("flaky"))
    finally:
        daemon.stop()
