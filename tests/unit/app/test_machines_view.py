"""The Machines panel lists the fleet from the API: host, state, heartbeat, runs, version, API.

The package's real supervisor answers ``GET /machines``; the other machines
are rows their supervisors would have written through the same store calls,
at chosen times, so each state shows at once.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.machines_view import MachinesView, heartbeat_text, summary
from app.supervisor_link import SupervisorLink
from app.theme import DARK, LIGHT
from supervisor.machine import machine_host, supervisor_id
from tests.helpers.daemon import RunningDaemon
from tests.unit.app.runkit import link_fixture, wait_until  # noqa: F401

FLEET = {"robot-late": 25, "robot-gone": 4000}


def _register_fleet(daemon: RunningDaemon) -> dict[str, str]:
    store = daemon.parts.store
    now = store.clock.now()
    own = supervisor_id(daemon.paths.data_dir)
    store.register_supervisor(own, host=machine_host(), version="1.4.0", pid=1, api_url=None)
    ids = {"self": own}
    for host, silent in FLEET.items():
        made = store.register_supervisor(
            (host.replace("-", "") + "0" * 32)[:32],
            host=host,
            version="1.3.2",
            api_url=f"http://{host}.lan:8765",
            resources={"workers": 2, "desktop": True, "lease_seconds": 8.0},
            at=now - timedelta(seconds=silent),
        )
        ids[host] = made.id
    # first in the claim order (priority), so no run another test queued is taken
    run = store.create_run(uuid.uuid4().hex, "invoices", target_host="robot-late", priority=999)
    claimed = store.claim_queued(ids["robot-late"], host="robot-late", lease_seconds=3600)
    assert [r.id for r in claimed] == [run.id]
    # routed to a machine whose supervisor is gone: nobody takes them
    for _ in range(2):
        store.create_run(uuid.uuid4().hex, "nightly", target_host="robot-gone")
    return ids


def _rows(view: MachinesView) -> dict[str, list[str]]:
    tree = view.tree
    rows = {}
    for index in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(index)
        rows[item.text(0).split("  ")[0]] = [item.text(c) for c in range(tree.columnCount())]
    return rows


def test_the_panel_shows_every_machine_of_the_fleet(
    qtbot: QtBot, qapp: QApplication, link: SupervisorLink, api_daemon: RunningDaemon
) -> None:
    registered = time.monotonic()
    ids = _register_fleet(api_daemon)
    view = MachinesView(link, LIGHT)
    qtbot.addWidget(view)
    view.resize(1200, 300)
    view.show()
    wait_until(qapp, lambda: view.loaded_once and len(view.machines) >= 3)
    rows = _rows(view)
    late = rows["robot-late"]
    assert (late[1], late[3], late[4]) == ("late", "1", "0")
    # registered 25 s silent; a loaded machine may take seconds more to show it
    waited = time.monotonic() - registered
    assert late[2].endswith(" s ago") and 25 <= int(late[2].split()[0]) <= 26 + waited
    assert late[5:] == ["1.3.2", "http://robot-late.lan:8765", ids["robot-late"][:12]]
    assert rows["robot-gone"][1:5] == ["gone", "67 min ago", "0", "2"]
    mine = rows[machine_host()]
    assert mine[1] == "alive" and mine[7] == ids["self"][:12]
    # the machine that is down with runs waiting for it takes a visible line
    assert not view.stranded.isHidden()
    assert "robot-gone: 2 runs wait, no live supervisor there" in view.stranded.text()
    assert "robot-late" not in view.stranded.text()
    this = next(
        view.tree.topLevelItem(i)
        for i in range(view.tree.topLevelItemCount())
        if view.tree.topLevelItem(i).text(7) == ids["self"][:12]
    )
    assert this.text(0).endswith("(this machine)") and this.font(0).bold()
    assert "1 late" in view.heading.text() and "1 gone" in view.heading.text()
    items = [view.tree.topLevelItem(i) for i in range(view.tree.topLevelItemCount())]
    [late_item] = [item for item in items if item.text(0) == "robot-late"]
    assert "workers: 2" in late_item.toolTip(0) and ids["robot-late"] in late_item.toolTip(0)
    view.set_theme(DARK)
    assert _rows(view) == rows


def test_the_runs_menu_opens_the_machines_panel(
    qtbot: QtBot,
    qapp: QApplication,
    link: SupervisorLink,
    tmp_path: Path,
    registry: Any,
    api_daemon: RunningDaemon,
) -> None:
    from app.main_window import MainWindow
    from app.prompts import Prompts
    from app.runs.panels import RunPanels
    from supervisor.paths import DeskpilotPaths

    _register_fleet(api_daemon)
    paths = DeskpilotPaths.under(tmp_path / "home").ensure()
    window = MainWindow(registry, paths, theme=LIGHT, connection=link, prompts=Prompts())
    qtbot.addWidget(window)
    panels = RunPanels.install(window, link)
    assert panels.show_machines.shortcut().toString() == "Ctrl+Shift+M"
    window.show()
    panels.show_machines.trigger()
    assert panels.docks["machines"].isVisible()
    wait_until(qapp, lambda: panels.machines.loaded_once and "robot-late" in _rows(panels.machines))


def test_summary_and_heartbeat_words() -> None:
    assert heartbeat_text(3) == "3 s ago"
    assert heartbeat_text(600) == "10 min ago"
    assert heartbeat_text(7200) == "2 h ago"
    assert heartbeat_text(3 * 86400) == "3 days ago"
    assert summary([]) == "no machines"


def test_without_a_supervisor_the_panel_says_so(qtbot: QtBot, tmp_path: Path) -> None:
    from supervisor.paths import DeskpilotPaths

    link = SupervisorLink(DeskpilotPaths.under(tmp_path / "nowhere"), autostart=False)
    view = MachinesView(link, LIGHT)
    qtbot.addWidget(view)
    view.reload()
    assert "not running" in view.status.text() and not view.status.isHidden()


def test_a_host_is_down_only_when_no_supervisor_there_is_alive() -> None:
    from datetime import UTC, datetime

    from app.machines_view import stranded
    from supervisor.api.models import MachineInfo

    at = datetime(2026, 1, 1, tzinfo=UTC)

    def machine(host: str, state: str, queued: int) -> MachineInfo:
        return MachineInfo(
            id=uuid.uuid4().hex,
            host=host,
            state=state,
            heartbeat_age_seconds=1.0,
            heartbeat_at=at,
            started_at=at,
            running=0,
            queued=queued,
        )

    fleet = [
        machine("a", "gone", 3),
        machine("a", "alive", 3),  # a restarted supervisor on the same host takes them
        machine("b", "late", 1),
        machine("c", "gone", 0),
    ]
    assert stranded(fleet) == "b: 1 run waits, no live supervisor there"
    assert stranded([machine("a", "alive", 5)]) == ""
