"""A trigger pinned to a machine that never joined the database says so as soon as it loads."""

from __future__ import annotations

from pathlib import Path

from automation.blocks.registry import BlockRegistry
from tests.helpers.common import eventually
from tests.integration.triggers.harness import PASS_NODES, DaemonThread, write_workflow


def test_a_trigger_on_an_unknown_machine_shows_it_and_names_the_known_ones(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    write_workflow(
        tmp_path / "workflows",
        "pinned",
        PASS_NODES + "triggers:\n  - {type: schedule, cron: '0 3 * * *', on: pc-typo}\n",
    )
    daemon = DaemonThread(tmp_path, registry).start()
    try:
        here = daemon.parts.supervisor.membership.host

        def flagged() -> str:
            return daemon.trigger_info("pinned:0")["last_error"] or ""

        message = eventually(flagged, timeout=20)
        assert "pinned.yaml: trigger 0, field 'on'" in message
        assert "'pc-typo'" in message and f"known machines: {here}" in message
    finally:
        daemon.stop()
