"""The run views show a run's screenshots and evidence through the API, never by path.

Every file is deleted from disk before the view opens it: what the window
shows can only have come from the copy the history keeps, served by the
package's real supervisor, as it would be for a run on another machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QLabel, QPlainTextEdit
from pytestqt.qtbot import QtBot

from app.runs.records import RunRecord
from app.runs.run_detail import ImageDialog, RunDetailView, RunPane, TextDialog
from app.supervisor_link import SupervisorLink
from app.theme import LIGHT
from tests.helpers.daemon import RunningDaemon, write_workflow
from tests.unit.app.runkit import link_fixture, wait_until  # noqa: F401


def _run_with_artifacts(daemon: RunningDaemon, link: SupervisorLink, folder: Path) -> str:
    run_id = link.client.submit(write_workflow(folder, "with-evidence")).run_id
    assert link.client.wait(run_id, timeout=30).finished
    shot = folder / "failure.png"
    image = QImage(320, 200, QImage.Format.Format_RGB32)
    image.fill(0x3366CC)
    assert image.save(str(shot))
    evidence = folder / "worker-1-hung.json"
    evidence.write_text(json.dumps({"reason": "hung", "pid": 4242}), encoding="utf-8")
    store = daemon.parts.store
    store.add_artifact(
        run_id,
        shot,
        kind="screenshot",
        description="the screen at the failure",
        node_id="first",
        step=1,
    )
    store.add_artifact(run_id, evidence, kind="evidence", description="worker hung")
    shot.unlink()
    evidence.unlink()
    return run_id


def test_the_run_detail_shows_screenshots_and_evidence_from_the_api(
    qtbot: QtBot,
    qapp: QApplication,
    link: SupervisorLink,
    api_daemon: RunningDaemon,
    tmp_path: Path,
) -> None:
    run_id = _run_with_artifacts(api_daemon, link, tmp_path)
    view = RunDetailView(link, LIGHT)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show_run(run_id)
    wait_until(qapp, lambda: view.record is not None and len(view.record.artifacts) == 2)
    pane = view.pane
    shot, evidence = view.record.artifacts if view.record else []
    wait_until(qapp, lambda: pane.files.image(run_id, shot) is not None)
    assert f"artifact-image:{run_id}/{shot.id}" in pane.detail.toHtml()

    pane._anchor(QUrl("artifact:0"))
    assert isinstance(pane.dialog, ImageDialog)
    label = pane.dialog.findChild(QLabel, "artifact_image")
    assert label is not None and label.pixmap().size().width() == 320
    pane.dialog.close()

    pane._anchor(QUrl("artifact:1"))
    wait_until(qapp, lambda: isinstance(pane.dialog, TextDialog))
    assert pane.dialog is not None
    text = pane.dialog.findChild(QPlainTextEdit, "artifact_text")
    assert text is not None and '"pid": 4242' in text.toPlainText()
    pane.dialog.close()


def test_a_live_artifact_is_found_in_the_history_by_its_path(
    qtbot: QtBot,
    qapp: QApplication,
    link: SupervisorLink,
    api_daemon: RunningDaemon,
    tmp_path: Path,
) -> None:
    """A live event names the file but not its id: the pane reads the run's list to find it."""
    run_id = _run_with_artifacts(api_daemon, link, tmp_path)
    [listed, _] = link.client.get_run(run_id).artifacts
    record = RunRecord(run_id=run_id, status="failed")
    record.apply(
        {
            "kind": "artifact",
            "run_id": run_id,
            "node_id": listed.node_id,
            "step": listed.step,
            "path": listed.path,
            "artifact_kind": "screenshot",
        }
    )
    pane = RunPane(LIGHT, link=link)
    qtbot.addWidget(pane)
    pane.show_record(record)
    [artifact] = record.artifacts
    wait_until(qapp, lambda: pane.files.image(run_id, artifact) is not None)
    assert artifact.id == listed.id


def test_without_a_supervisor_an_artifact_says_why_it_is_not_shown(qtbot: QtBot) -> None:
    record = RunRecord(run_id="f" * 32, status="failed")
    record.apply(
        {
            "kind": "artifact",
            "run_id": record.run_id,
            "node_id": "boom",
            "step": 1,
            "path": "/elsewhere/failure.png",
            "artifact_kind": "screenshot",
        }
    )
    pane = RunPane(LIGHT)
    qtbot.addWidget(pane)
    pane.show_record(record)
    html = pane.detail.toPlainText()
    assert "cannot be shown: not connected to a supervisor" in html
    assert "/elsewhere/failure.png" in html
