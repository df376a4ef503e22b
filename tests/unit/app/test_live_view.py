"""The live view lights the editor's nodes as a run's events arrive, and shows what each did.

The event sequence is recorded from a real run on the package's supervisor
(a step that logs, a step that is refused twice and retried once, a step
never reached), then played into the view one event at a time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.editor.document import WorkflowDocument
from app.editor.widget import EditorWidget
from app.runs.live_view import LiveRunView
from app.runs.records import RunRecord
from app.supervisor_link import SupervisorLink, job_pool
from app.theme import LIGHT
from automation.blocks.registry import BlockRegistry
from automation.engine.events import RunStatus
from supervisor.api.models import RunDetail, RunInfo
from supervisor.client import SupervisorClient
from tests.unit.app.runkit import link_fixture, wait_until  # noqa: F401

RETRIED = """\
deskpilot: 1
name: {name}
nodes:
  greet:
    block: notify.log
    with: {{message: "hello from the test"}}
    position: [0, 0]
  fetch:
    block: http.request
    retry: {{max_attempts: 2, delay: 0.05, jitter: 0}}
    with: {{url: "http://127.0.0.1:9/", timeout: 2}}
    position: [300, 0]
  after:
    block: control.pass
    position: [600, 0]
links:
  - greet -> fetch
  - fetch -> after
"""


def record_run(client: SupervisorClient, path: Path) -> list[dict[str, Any]]:
    """Every live event of one run of ``path``, in order, up to its final status."""
    run_id = uuid.uuid4().hex
    items: list[dict[str, Any]] = []
    with client.events(run_id=run_id) as stream:
        client.submit(path, run_id=run_id)
        for item in stream:
            items.append(item)
            if item.get("kind") == "run_status":
                break
    return items


@pytest.fixture
def retried(tmp_path: Path) -> Path:
    path = tmp_path / "retried.yaml"
    path.write_text(RETRIED.format(name=f"retried-{uuid.uuid4().hex[:8]}"), encoding="utf-8")
    return path


@pytest.fixture
def editor(qtbot: QtBot, retried: Path, registry: BlockRegistry) -> EditorWidget:
    widget = EditorWidget(WorkflowDocument.open(retried), registry, LIGHT)
    qtbot.addWidget(widget)
    return widget


def badges(editor: EditorWidget) -> dict[str, str | None]:
    return {node_id: item.status for node_id, item in editor.scene.node_items.items()}


def test_nodes_light_up_event_by_event(
    qtbot: QtBot, link: SupervisorLink, editor: EditorWidget, retried: Path
) -> None:
    recorded = record_run(link.client, retried)
    kinds = [item["kind"] for item in recorded]
    assert "node_retrying" in kinds and kinds[-1] == "run_status"
    replay_id = uuid.uuid4().hex  # a run the link never saw: only the replay reaches the view
    view = LiveRunView(link, LIGHT)
    qtbot.addWidget(view)
    view.follow(replay_id, workflow_path=retried, editor=editor)
    assert badges(editor) == {"greet": "queued", "fetch": "queued", "after": "queued"}
    seen: dict[str, list[str | None]] = {"greet": [], "fetch": []}
    for item in recorded:
        view.apply_event({**item, "run_id": replay_id})
        node = item.get("node_id")
        if node in seen and item["kind"] in ("node_started", "node_failed", "node_finished"):
            seen[node].append(editor.scene.node_items[node].status)
    assert seen["greet"] == ["running", "succeeded"]
    assert seen["fetch"] == ["running", "retrying", "running", "failed"]
    assert badges(editor) == {"greet": "succeeded", "fetch": "failed", "after": None}
    assert view.record is not None and view.record.status == "failed"
    assert not view.cancel_button.isEnabled()
    # the failed node is shown, with both attempts and its error
    assert view.pane.current_node() == "fetch"
    detail = view.pane.detail.toPlainText()
    assert "Attempt 1" in detail and "Attempt 2" in detail
    assert "will retry" in detail
    # choosing a node on the canvas shows it in the pane, and the other way round
    editor.scene.select_nodes(["greet"])
    assert view.pane.current_node() == "greet"
    assert "hello from the test" in view.pane.detail.toPlainText()
    view.pane.select_node("fetch")
    assert editor.scene.selected_node_ids() == ["fetch"]


def test_a_run_started_through_the_link_is_followed_live(
    qtbot: QtBot, qapp: QApplication, link: SupervisorLink, editor: EditorWidget, retried: Path
) -> None:
    view = LiveRunView(link, LIGHT)
    qtbot.addWidget(view)
    statuses: list[str] = []
    view.status_changed.connect(lambda _run, status: statuses.append(status))
    run_id = link.start_run(retried, {})
    view.follow(run_id, workflow_path=retried, editor=editor)
    wait_until(qapp, lambda: view.record is not None and view.record.finished, timeout=20)
    assert badges(editor) == {"greet": "succeeded", "fetch": "failed", "after": None}
    assert statuses[-1] == "failed"
    assert "running" in statuses


def test_a_finished_run_is_loaded_from_the_history(
    qtbot: QtBot, qapp: QApplication, link: SupervisorLink, editor: EditorWidget, retried: Path
) -> None:
    recorded = record_run(link.client, retried)
    run_id = recorded[0]["run_id"]
    view = LiveRunView(link, LIGHT)
    qtbot.addWidget(view)
    link._recent.pop(run_id, None)  # as if the GUI had started after the run
    view.follow(run_id, editor=editor, load=True)
    wait_until(qapp, lambda: view.record is not None and view.record.finished)
    assert badges(editor) == {"greet": "succeeded", "fetch": "failed", "after": None}
    record = view.record
    assert isinstance(record, RunRecord)
    assert [a.attempt for a in record.nodes["fetch"].attempts] == [1, 2]
    assert record.nodes["greet"].logs[0].message == "hello from the test"


SLOW = """\
deskpilot: 1
name: {name}
inputs:
  pause: {{type: number, default: 30}}
nodes:
  first:
    block: control.pass
    with: {{value: 1}}
  wait:
    block: control.delay
    with: {{seconds: "{{{{ inputs.pause }}}}"}}
links:
  - first -> wait
"""


def test_run_and_cancel_from_the_main_window(
    qtbot: QtBot,
    qapp: QApplication,
    link: SupervisorLink,
    tmp_path: Path,
    registry: BlockRegistry,
    api_daemon: Any,
) -> None:
    from app.main_window import MainWindow
    from app.prompts import Prompts
    from app.runs.panels import RunPanels
    from supervisor.paths import DeskpilotPaths

    paths = DeskpilotPaths.under(tmp_path / "home").ensure()
    path = tmp_path / "slow.yaml"
    path.write_text(SLOW.format(name=f"slow-{uuid.uuid4().hex[:8]}"), encoding="utf-8")
    window = MainWindow(registry, paths, theme=LIGHT, connection=link, prompts=Prompts())
    qtbot.addWidget(window)
    panels = RunPanels.install(window, link)
    assert [a.text() for a in panels.menu.actions() if a.text()][:4] == [
        "&Live run",
        "&History",
        "&Schedules and triggers",
        "S&ecrets",
    ]
    editor = window.open_workflow(path)
    assert editor is not None
    asked: list[str] = []

    def inputs(document: Any) -> dict[str, Any]:
        asked.append(document.name)
        return {"pause": 30}

    editor.ask_inputs = inputs
    assert window.run_action.isEnabled() and not panels.cancel_action.isEnabled()
    window.run_action.trigger()
    assert asked == [editor.document.name]
    live = panels.live
    wait_until(qapp, lambda: live.record is not None and live.record.nodes.get("wait") is not None)
    wait_until(qapp, lambda: editor.scene.node_items["wait"].status == "running")
    assert editor.scene.node_items["first"].status == "succeeded"
    assert panels.cancel_action.isEnabled() and live.cancel_button.isEnabled()
    panels.cancel_action.trigger()
    wait_until(qapp, lambda: live.record is not None and live.record.finished, timeout=20)
    assert live.record is not None and live.record.status == "cancelled"
    assert editor.scene.node_items["wait"].status == "cancelled"
    assert not panels.cancel_action.isEnabled()
    # the docks come back where the user left them
    panels.docks["secrets"].hide()
    window.save_state()
    again = MainWindow(registry, paths, theme=LIGHT, connection=link, prompts=Prompts())
    qtbot.addWidget(again)
    restored = RunPanels.install(again, link)
    assert restored.docks["secrets"].isHidden() and not restored.docks["history"].isHidden()
    for each in (window, again):
        for open_editor in each.editors():
            open_editor.undo_stack.setClean()


def test_records_need_no_qt() -> None:
    import subprocess
    import sys

    from tests.unit.app.appkit import REPO

    code = (
        "import sys\n"
        "class NoQt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith('PySide6'): raise ImportError('Qt is blocked')\n"
        "sys.meta_path.insert(0, NoQt())\n"
        "import app.runs.records\nprint('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "ok", done.stderr


#: How far this machine's clock is from the one a run's times are stamped on, in the tests below.
SKEW = timedelta(minutes=10)


@pytest.mark.parametrize("offset", [SKEW, -SKEW], ids=["stamped-ahead", "stamped-behind"])
def test_running_for_is_counted_as_the_supervisor_counts_it_not_on_this_clock(
    qtbot: QtBot, link: SupervisorLink, offset: timedelta
) -> None:
    """A run of a fleet, opened in the window, stamped on a clock ten minutes off this one.

    The supervisor answers how long it has run (``running_for``, on the
    database's clock); the window counts on from that.  On this machine's
    clock less ``started_at`` it said "< 1 ms" or "10 min" for 100 s.
    """
    view = LiveRunView(link, LIGHT)
    qtbot.addWidget(view)
    run_id = uuid.uuid4().hex
    view.follow(run_id)
    started = datetime.now(UTC) + offset - timedelta(seconds=100)
    run = RunInfo(
        id=run_id,
        workflow_name="far",
        status=RunStatus.RUNNING,
        trigger="manual",
        priority=0,
        queued_at=started,
        started_at=started,
        running_for=100.0,
    )
    view._loaded(run_id, RunDetail(run=run, steps=[], artifacts=[]), [])
    view._tick()
    assert view.elapsed.text() in ("running for 1 min 40 s", "running for 1 min 41 s")
    # (loading a running run asks the supervisor whether it is paused: let that answer land)
    job_pool().waitForDone(10_000)


@pytest.mark.parametrize("offset", [SKEW, -SKEW], ids=["stamped-ahead", "stamped-behind"])
def test_a_run_seen_starting_is_counted_from_when_it_was_seen(
    qtbot: QtBot, link: SupervisorLink, offset: timedelta
) -> None:
    """Its ``run_started`` event stamped by a machine ten minutes off: it has run for a moment."""
    view = LiveRunView(link, LIGHT)
    qtbot.addWidget(view)
    run_id = uuid.uuid4().hex
    view.follow(run_id)
    at = (datetime.now(UTC) + offset).isoformat()
    view.apply_event(
        {"kind": "run_started", "run_id": run_id, "seq": 1, "at": at, "workflow": "far"}
    )
    view._tick()
    text = view.elapsed.text()
    shown = text.removeprefix("running for ")
    assert shown != text and "min" not in shown, text
    assert shown.endswith(" ms") or float(shown.removesuffix(" s")) < 10, text


def test_a_live_run_is_counted_in_whole_seconds_ticked_on_its_own_second(
    qtbot: QtBot, link: SupervisorLink
) -> None:
    """A once-a-second tick out of step with the run showed "1.64 s" when it had run for 2.5.

    While it runs the clock shows whole seconds, and its next tick is set for the
    run's next whole second, so the figure shown is never a second stale."""
    view = LiveRunView(link, LIGHT)
    qtbot.addWidget(view)
    run_id = uuid.uuid4().hex
    view.follow(run_id)
    view.apply_event({"kind": "run_started", "run_id": run_id, "seq": 1, "workflow": "w"})
    assert view._running_since is not None
    view._running_since -= 2.6
    view._tick()
    assert view.elapsed.text() == "running for 2 s"
    # 0.4 s to the run's third second, less what the tick took, give or take the 5 %
    # a coarse Qt timer may move its deadline (411 ms seen); once a second it was 1,000
    assert 250 <= view._clock.remainingTime() <= 450, view._clock.remainingTime()
    view._running_since -= 97.0
    view._tick()
    assert view.elapsed.text() == "running for 1 min 39 s"


def test_a_running_node_shows_how_long_it_has_run_and_its_duration_once_done(
    qtbot: QtBot, link: SupervisorLink
) -> None:
    """The node table's Time column was empty for the one node a user watches."""
    view = LiveRunView(link, LIGHT)
    qtbot.addWidget(view)
    run_id = uuid.uuid4().hex
    view.follow(run_id)
    events = [
        {"kind": "run_started", "workflow": "w"},
        {"kind": "node_started", "node_id": "settle", "block": "control.delay", "step": 1},
    ]
    for seq, event in enumerate(events, 1):
        view.apply_event({**event, "run_id": run_id, "seq": seq})
    view.pane.node_since["settle"] -= 7.4
    view._tick()
    item = view.pane._items["settle"]
    assert item.text(1) == "running" and item.text(3) == "7 s"
    # a log line of the node redraws its row: the time stays
    view.apply_event(
        {"kind": "log", "run_id": run_id, "seq": 3, "node_id": "settle", "message": "m"}
    )
    assert item.text(3) == "7 s"
    view.apply_event(
        {"kind": "node_finished", "run_id": run_id, "seq": 4, "node_id": "settle", "step": 1,
         "duration": 7.52}
    )  # fmt: skip
    assert item.text(1) == "succeeded" and item.text(3) == "7.52 s"


def test_running_duration_reads_whole_seconds() -> None:
    from app.runs.records import running_duration

    assert [running_duration(s) for s in (0.0, 0.99, 1.0, 59.99, 60.0, 3725.4)] == [
        "0 s",
        "0 s",
        "1 s",
        "59 s",
        "1 min 00 s",
        "1 h 02 min",
    ]
