"""The run detail lists the debugger's pauses of a run from the history.

A real run on the package's real supervisor is paused at a breakpoint,
stepped with an edited input and continued; the run detail then shows both
stops in the whole run's timeline and under each node, with the edited
input's name and never its value.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.runs.run_detail import RunDetailView
from app.supervisor_link import SupervisorLink
from app.theme import LIGHT
from tests.helpers.common import eventually
from tests.helpers.daemon import write_workflow
from tests.unit.app.runkit import link_fixture, wait_until  # noqa: F401


def test_the_run_detail_shows_each_pause_and_how_it_ended(
    qtbot: QtBot, qapp: QApplication, link: SupervisorLink, tmp_path: Path
) -> None:
    client = link.client
    path = write_workflow(tmp_path, "gui-pauses")
    run_id = client.submit(path, inputs={"word": "plain"}, breakpoints=["first"]).run_id
    eventually(lambda: client.debug_state(run_id).node_id == "first", timeout=30)
    client.debug(run_id, "step", inputs={"value": "typed-while-paused"})
    eventually(lambda: client.debug_state(run_id).node_id == "second", timeout=30)
    client.debug(run_id, "continue")
    assert client.wait(run_id, timeout=30).run.status == "succeeded"

    view = RunDetailView(link, LIGHT)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show_run(run_id)
    wait_until(qapp, lambda: view.record is not None and len(view.record.pauses) == 2)
    pane = view.pane
    text = pane.detail.toPlainText()
    timeline = text[text.index("Pauses") : text.index("Log") if "Log" in text else None]
    assert "before first (breakpoint, step 1)" in timeline
    assert "stepped after" in timeline and "edited inputs.value" in timeline
    assert "before second (step, step 2)" in timeline and "continued after" in timeline
    assert "typed-while-paused" not in timeline

    pane.select_node("second")
    node_text = pane.detail.toPlainText()
    assert "Pauses" in node_text and "(step, step 2)" in node_text
    assert "continued after" in node_text and "stepped" not in node_text


def test_a_live_pause_shows_in_the_record_as_its_event_arrives_and_ends_on_continue() -> None:
    """The window's run panel reads pauses from the live events too, the way it reads the
    history: the Pauses list, the paused node's badge and the header need no reload."""
    from datetime import UTC, datetime

    from app.runs.records import RunRecord
    from automation.engine.events import NodePaused, NodeResumed, NodeStarted

    now = datetime.now(UTC)
    record = RunRecord(run_id="r1", status="running")

    def live(event: NodePaused | NodeResumed | NodeStarted) -> dict[str, object]:
        return event.to_dict()

    paused = NodePaused(
        run_id="r1", seq=5, at=now, node_id="second", step=2, reason="breakpoint", timeout=600.0
    )
    assert record.apply(live(paused)) == {"second"}
    assert record.paused_at == "second" and record.nodes["second"].status == "paused"
    assert [(p.node_id, p.step, p.reason, p.ended) for p in record.pauses] == [
        ("second", 2, "breakpoint", None)
    ]
    resumed = NodeResumed(
        run_id="r1", seq=6, at=now, node_id="second", step=2, action="continue", waited=1.5
    )
    assert record.apply(live(resumed)) == {"second"}
    assert record.paused_at is None and record.nodes["second"].status is None
    assert [(p.ended, p.waited) for p in record.pauses] == [("continued", 1.5)]
    started = NodeStarted(
        run_id="r1", seq=7, at=now, node_id="second", step=2, attempt=1, block="control.pass"
    )
    record.apply(live(started))
    assert record.nodes["second"].status == "running"
    record.apply(live(resumed))  # the same event again (a reconnect replays recent ones)
    assert len(record.pauses) == 1 and record.nodes["second"].status == "running"
