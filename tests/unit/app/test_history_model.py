"""The history model pages and filters runs from a real supervisor's API."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.runs.history_model import FIRST_PAGE_SIZE, HistoryModel, RunFilter
from app.runs.history_view import HistoryView
from app.supervisor_link import SupervisorLink
from app.theme import LIGHT
from supervisor.client import SupervisorClient
from tests.helpers.daemon import RunningDaemon, write_workflow
from tests.unit.app.runkit import START, insert_runs, link_fixture, wait_until  # noqa: F401

Link = SupervisorLink


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _loaded(qtbot: QtBot, model: HistoryModel, action: object = None) -> None:
    with qtbot.waitSignal(model.page_loaded, timeout=10_000):
        if callable(action):
            action()


def test_pages_arrive_newest_first_through_fetch_more(
    qtbot: QtBot, api_daemon: RunningDaemon, api_client: SupervisorClient
) -> None:
    workflow = _name("paged")
    ids = insert_runs(api_daemon, workflow, 250)
    model = HistoryModel(api_client, LIGHT, page_size=100)
    _loaded(qtbot, model, lambda: model.set_filter(RunFilter(workflow=workflow)))
    assert model.rowCount() == 100
    assert [run.id for run in model.rows] == ids[:100]
    assert model.canFetchMore(QModelIndex())
    _loaded(qtbot, model, lambda: model.fetchMore(QModelIndex()))
    assert model.rowCount() == 200
    _loaded(qtbot, model, lambda: model.fetchMore(QModelIndex()))
    assert [run.id for run in model.rows] == ids
    assert model.exhausted and not model.canFetchMore(QModelIndex())
    assert model.data(model.index(0, 1)) == workflow
    assert model.data(model.index(0, 0)) == model.rows[0].status
    # the rows share one set of field names (2.2 KB each otherwise); copies and dumps
    # are as they were
    first, last = model.rows[0], model.rows[-1]
    assert first.model_fields_set is last.model_fields_set
    assert "waiting" in first.model_fields_set and len(first.model_fields_set) > 17
    copy = first.model_copy(update={"waiting": "no machine"})
    assert copy.waiting == "no machine" and first.waiting is None
    assert copy.model_fields_set is not first.model_fields_set
    assert first.model_dump(exclude_unset=True)["id"] == ids[0]


def test_filters_by_status_trigger_date_and_text(
    qtbot: QtBot, api_daemon: RunningDaemon, api_client: SupervisorClient
) -> None:
    workflow = _name("filtered")
    insert_runs(api_daemon, workflow, 300)  # every third failed; triggers api/schedule/webhook
    model = HistoryModel(api_client, LIGHT, page_size=500)

    def count(flt: RunFilter) -> int:
        _loaded(qtbot, model, lambda: model.set_filter(flt))
        while model.canFetchMore(QModelIndex()):
            _loaded(qtbot, model, lambda: model.fetchMore(QModelIndex()))
        return model.rowCount()

    assert count(RunFilter(workflow=workflow)) == 300
    assert count(RunFilter(workflow=workflow, status="failed")) == 100
    assert all(run.status == "failed" for run in model.rows)
    assert count(RunFilter(workflow=workflow, trigger="schedule")) == 100
    assert all(run.trigger.startswith("schedule:") for run in model.rows)
    assert count(RunFilter(workflow=workflow, trigger="manual")) == 100
    # runs are 7 minutes apart from START: the first 20 are before START + 140 min
    since = START + timedelta(minutes=7 * 280)
    assert count(RunFilter(workflow=workflow, since=since)) == 20
    until = START + timedelta(minutes=7 * 10)
    assert count(RunFilter(workflow=workflow, until=until)) == 10
    assert count(RunFilter(workflow=workflow, text="broke number 41")) == 1
    assert model.rows[0].error == "step broke number 41"
    assert count(RunFilter(workflow=workflow, status="failed", trigger="schedule")) == 0
    assert count(RunFilter(workflow=_name("nothing-by-this-name"))) == 0


def test_text_filter_pages_on_until_enough_matches(
    qtbot: QtBot, api_daemon: RunningDaemon, api_client: SupervisorClient
) -> None:
    workflow = _name("sparse")
    # one failure in a hundred runs: ten matches lie across more than one API page
    insert_runs(api_daemon, workflow, 1200, statuses=("succeeded",) * 99 + ("failed",))
    model = HistoryModel(api_client, LIGHT, page_size=10)
    _loaded(qtbot, model, lambda: model.set_filter(RunFilter(workflow=workflow, text="broke")))
    assert model.rowCount() >= 10
    assert not model.exhausted
    _loaded(qtbot, model, lambda: model.fetchMore(QModelIndex()))
    assert model.rowCount() == 12 and model.exhausted
    assert all(run.error and "broke" in run.error for run in model.rows)


def test_a_new_run_appears_at_the_top_and_finishes(
    qtbot: QtBot, qapp: QApplication, link: Link, tmp_path: Path
) -> None:
    workflow = _name("live")
    path = write_workflow(tmp_path, workflow)
    model = HistoryModel(link.client, LIGHT)
    link.signals.received.connect(model.apply_event)
    _loaded(qtbot, model, lambda: model.set_filter(RunFilter(workflow=workflow)))
    assert model.rowCount() == 0
    run_id = link.start_run(path, {"word": "hi"})
    wait_until(qapp, lambda: model.rowCount() == 1 and model.rows[0].status == "succeeded")
    assert model.rows[0].id == run_id
    assert model.data(model.index(0, 2)) == "manual"


def test_history_view_loads_pages_as_it_scrolls_and_shows_the_detail(
    qtbot: QtBot, qapp: QApplication, api_daemon: RunningDaemon, link: Link
) -> None:
    workflow = _name("scrolled")
    ids = insert_runs(api_daemon, workflow, 230)
    view = HistoryView(link, LIGHT)
    qtbot.addWidget(view)
    view.resize(1200, 600)
    view.show()
    view.start()
    pages: list[int] = []
    view.model.page_loaded.connect(pages.append)
    view.set_filter(RunFilter(workflow=workflow))
    # a screen's worth first, for a quick first paint; the view then asks for the next page
    # without waiting for a scroll, so the first flick down does not hit the end and wait
    wait_until(qapp, lambda: view.model.rowCount() == FIRST_PAGE_SIZE + 100)
    assert pages[-2:] == [FIRST_PAGE_SIZE, 100]
    assert view.table.verticalScrollBar().value() == 0

    def scrolled_to_the_end() -> bool:
        view.table.scrollToBottom()  # the view asks for the next page near the bottom
        return view.model.rowCount() == 230 and not view.model.loading

    wait_until(qapp, scrolled_to_the_end)
    assert "230 runs" in view.count_label.text()
    assert view.detail.run_id == ids[0]  # the newest run is shown until another is chosen
    view.table.selectRow(2)
    wait_until(qapp, lambda: view.detail.record is not None and view.detail.run_id == ids[2])
    wait_until(qapp, lambda: view.detail.record.run_id == ids[2])  # type: ignore[union-attr]
    view.search.setText("broke number 137")
    wait_until(qapp, lambda: view.model.rowCount() == 1 and not view.model.loading)
    assert view.model.rows[0].id == ids[229 - 137]
