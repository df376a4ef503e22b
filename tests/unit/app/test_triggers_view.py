"""Schedules and triggers: fire times, pause/resume, editing the file, breakers, on a real supervisor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from PySide6.QtWidgets import QApplication, QDialogButtonBox
from pytestqt.qtbot import QtBot

from app.editor.document import WorkflowDocument
from app.editor.widget import EditorWidget
from app.runs.records import local_time
from app.supervisor_link import SupervisorLink
from app.theme import LIGHT
from app.trigger_form import TriggerDialog, change_triggers, next_fire_times, parse_trigger
from app.triggers_view import TriggersView
from automation.blocks.registry import BlockRegistry
from supervisor.client import SupervisorClient
from tests.helpers.common import eventually
from tests.helpers.daemon import FAILING_WORKFLOW, RunningDaemon, write_workflow
from tests.unit.app.runkit import link_fixture, wait_until  # noqa: F401

FRIDAY = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)

SCHEDULED = """\
deskpilot: 1
name: {name}
nodes:
  only:
    block: control.pass
triggers:
  - type: schedule
    cron: "0 4 * * *"
"""


def test_next_five_fire_times_of_cron_interval_and_date() -> None:
    weekdays = parse_trigger({"type": "schedule", "cron": "0 9 * * mon-fri"})
    times = next_fire_times(weekdays, now=FRIDAY)
    assert [t.astimezone(UTC) for t in times] == [
        datetime(2026, 3, d, 9, 0, tzinfo=UTC) for d in (9, 10, 11, 12, 13)
    ]
    paris = parse_trigger({"type": "schedule", "cron": "0 9 * * *", "timezone": "Europe/Paris"})
    assert next_fire_times(paris, now=FRIDAY, count=1)[0].astimezone(UTC).hour == 8
    every = parse_trigger({"type": "schedule", "interval": "15m"})
    first = FRIDAY + timedelta(minutes=3)
    assert next_fire_times(every, now=FRIDAY, first=first) == [
        first + timedelta(minutes=15 * i) for i in range(5)
    ]
    once = parse_trigger({"type": "schedule", "at": "2026-03-07T12:00:00+00:00"})
    assert next_fire_times(once, now=FRIDAY) == [datetime(2026, 3, 7, 12, tzinfo=UTC)]
    assert next_fire_times(once, now=FRIDAY + timedelta(days=2)) == []
    assert next_fire_times(parse_trigger({"type": "webhook", "name": "x", "secret": "s"})) == []


def test_the_dialog_previews_fire_times_and_refuses_a_bad_cron(qtbot: QtBot) -> None:
    dialog = TriggerDialog(LIGHT, {"type": "schedule", "cron": "0 4 * * *"})
    qtbot.addWidget(dialog)
    dialog.cron.setText("30 6 * * *")
    expected = next_fire_times(parse_trigger({"type": "schedule", "cron": "30 6 * * *"}))
    assert all(local_time(t) in dialog.preview.text() for t in expected)
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert save.isEnabled()
    dialog.cron.setText("61 * * * *")
    assert not save.isEnabled()
    assert "cron" in dialog.preview.text()
    dialog.cron.setText("*/10 * * * *")
    dialog.timezone.setCurrentText("Europe/Berlin")
    dialog._accept()
    assert dialog.result_data == {
        "type": "schedule",
        "cron": "*/10 * * * *",
        "timezone": "Europe/Berlin",
    }


def test_the_list_shows_next_runs_and_pauses_and_resumes(
    qtbot: QtBot, qapp: QApplication, link: SupervisorLink, api_client: SupervisorClient
) -> None:
    view = TriggersView(link, LIGHT)
    qtbot.addWidget(view)
    view.show()
    wait_until(qapp, lambda: any(t.key == "nightly:0" for t in view.triggers))
    view.select("nightly:0")
    info = view.selected()
    assert info is not None and info.next_fire_at is not None
    fires = view.fire_times(info)
    assert len(fires) == 5 and fires[0] == info.next_fire_at
    assert all(f.astimezone(UTC).hour == 3 for f in fires)
    assert local_time(fires[4]) in view.fires.text()
    assert view.pause_button.isEnabled() and not view.resume_button.isEnabled()
    view.pause_button.click()
    wait_until(qapp, lambda: (t := view.selected()) is not None and bool(t.paused))
    assert next(t for t in api_client.triggers() if t.key == "nightly:0").paused
    assert view.resume_button.isEnabled()
    view.resume_button.click()
    wait_until(qapp, lambda: (t := view.selected()) is not None and not t.paused)
    assert not next(t for t in api_client.triggers() if t.key == "nightly:0").paused


def test_editing_a_trigger_writes_the_file_and_the_supervisor_follows(
    qtbot: QtBot,
    qapp: QApplication,
    link: SupervisorLink,
    api_daemon: RunningDaemon,
    request: pytest.FixtureRequest,
) -> None:
    name = f"sched-{uuid.uuid4().hex[:8]}"
    path = write_workflow(api_daemon.paths.workflows_dir, name, SCHEDULED)
    request.addfinalizer(lambda: path.unlink(missing_ok=True))  # the daemon is shared
    view = TriggersView(link, LIGHT)
    qtbot.addWidget(view)
    view.show()
    key = f"{name}:0"

    def listed(cron: str) -> bool:
        view.reload()
        return any(t.key == key and cron in (t.spec or "") for t in view.triggers)

    wait_until(qapp, lambda: listed("0 4 * * *"), timeout=20)
    assert view.write(path, lambda triggers: [{**triggers[0], "cron": "15 5 * * *"}])
    assert yaml.safe_load(path.read_text())["triggers"] == [
        {"type": "schedule", "cron": "15 5 * * *"}
    ]
    wait_until(qapp, lambda: listed("15 5 * * *"), timeout=20)
    assert view.write(path, lambda triggers: [])
    assert "triggers" not in yaml.safe_load(path.read_text())


def test_an_open_editor_takes_the_change_on_its_undo_stack(
    qtbot: QtBot, tmp_path: Path, registry: BlockRegistry
) -> None:
    path = write_workflow(tmp_path, "edited", SCHEDULED)
    editor = EditorWidget(WorkflowDocument.open(path), registry, LIGHT)
    qtbot.addWidget(editor)
    text = change_triggers(path, lambda t: [{**t[0], "cron": "0 6 * * *"}], editor)
    assert text.startswith("Saved")  # the editor had nothing else unsaved: saved at once
    assert "0 6 * * *" in path.read_text()
    editor.undo_stack.undo()
    assert editor.document.value("triggers") == [{"type": "schedule", "cron": "0 4 * * *"}]
    assert editor.is_dirty()
    text = change_triggers(path, lambda t: [], editor)
    assert "save it" in text  # unsaved edits stay the user's to save
    assert "0 6 * * *" in path.read_text()


def test_an_open_breaker_is_shown_and_reset(
    qtbot: QtBot, qapp: QApplication, link: SupervisorLink, api_client: SupervisorClient,
    tmp_path: Path,
) -> None:  # fmt: skip
    name = f"breaks-{uuid.uuid4().hex[:8]}"
    path = write_workflow(tmp_path, name, FAILING_WORKFLOW)

    def opened() -> bool:
        breaker = next((b for b in api_client.breakers() if b.workflow == name), None)
        if breaker is not None and breaker.state == "open":
            return True
        api_client.wait(api_client.submit(path).run_id, timeout=30)
        return False

    eventually(opened, timeout=60, interval=0)
    view = TriggersView(link, LIGHT)
    qtbot.addWidget(view)
    view.show()
    wait_until(qapp, lambda: any(b.workflow == name for b in view.breakers))
    item = next(
        view.breaker_tree.topLevelItem(i)
        for i in range(view.breaker_tree.topLevelItemCount())
        if view.breaker_tree.topLevelItem(i).text(0) == name  # type: ignore[union-attr]
    )
    assert item is not None and item.text(1) == "open"
    view.breaker_tree.setCurrentItem(item)
    assert view.reset_button.isEnabled()
    view.reset_button.click()
    wait_until(qapp, lambda: any(b.workflow == name and b.state == "closed" for b in view.breakers))
    assert next(b for b in api_client.breakers() if b.workflow == name).state == "closed"
