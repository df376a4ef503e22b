"""The run history: filters, the virtualised table of runs, the selected run's detail, trends.

Filtering by workflow and status happens in the supervisor; by trigger,
period and search text in ``HistoryModel`` (see its docstring).  The search
box waits a moment after the last key before it asks again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QDateTime, QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateTimeEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.runs.charts import TrendsPanel
from app.runs.history_model import FIRST_PAGE_SIZE, TRIGGER_KINDS, HistoryModel, RunFilter
from app.runs.run_detail import RunDetailView
from app.supervisor_link import SupervisorLink, run_job
from app.theme import Theme
from supervisor.api.models import RunInfo

log = logging.getLogger(__name__)

SEARCH_DELAY_MS = 300
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
PERIODS = (
    ("Any time", None),
    ("Last hour", timedelta(hours=1)),
    ("Last 24 hours", timedelta(days=1)),
    ("Last 7 days", timedelta(days=7)),
    ("Last 30 days", timedelta(days=30)),
    ("Between…", "custom"),
)


class HistoryTable(QTableView):
    """The runs table; Enter opens the selected run on its workflow's canvas."""

    activated_run = Signal(str)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            run_id = self.model().data(self.currentIndex(), Qt.ItemDataRole.UserRole + 21)
            if run_id:
                self.activated_run.emit(str(run_id))
                return
        super().keyPressEvent(event)


class HistoryView(QWidget):
    """Every run, newest first, with the selected one's steps beside it."""

    #: the user wants to watch this run on its workflow's canvas: run id, workflow name
    open_in_editor = Signal(str, str)
    message = Signal(str)

    def __init__(self, link: SupervisorLink, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self.theme = theme
        self.model = HistoryModel(link.client, theme, first_page_size=FIRST_PAGE_SIZE, parent=self)
        self._build_filters()
        self.table = HistoryTable()
        self.table.setObjectName("history_table")
        self.table.setAccessibleName("Runs")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        for column, width in enumerate((104, 150, 130, 150, 80, 50)):
            self.table.setColumnWidth(column, width)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.doubleClicked.connect(self._double_clicked)
        self.table.activated_run.connect(self._watch)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.table.verticalScrollBar().valueChanged.connect(self._prefetch)
        self.detail = RunDetailView(link, theme, orientation=Qt.Orientation.Vertical)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("history_splitter")
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.trends = TrendsPanel(link, theme)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.splitter, "Runs")
        self.tabs.addTab(self.trends, "Trends")
        self.tabs.currentChanged.connect(self._tab_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(self.filter_bar)
        layout.addWidget(self.tabs, 1)
        self.model.loading_changed.connect(lambda _l: self._update_count())
        self.model.page_loaded.connect(self._page_loaded)
        self.model.rowsInserted.connect(lambda *_a: self._update_count())
        self.model.failed.connect(self._update_count)
        link.signals.received.connect(self.model.apply_event)
        link.signals.stream_opened.connect(self._reconnected)
        link.signals.health_changed.connect(self._health_changed)
        self._selected: str | None = None
        self._started = False

    # -- filters ---------------------------------------------------------------------------
    def _build_filters(self) -> None:
        self.workflow_box = QComboBox()
        self.workflow_box.setAccessibleName("Workflow filter")
        self.workflow_box.addItem("All workflows", None)
        self.workflow_box.setMinimumContentsLength(16)
        self.status_box = QComboBox()
        self.status_box.setAccessibleName("Status filter")
        self.status_box.addItem("Any status", None)
        for status in STATUSES:
            self.status_box.addItem(status, status)
        self.trigger_box = QComboBox()
        self.trigger_box.setAccessibleName("Trigger filter")
        self.trigger_box.addItem("Any trigger", None)
        for kind in TRIGGER_KINDS:
            self.trigger_box.addItem(kind, kind)
        self.period_box = QComboBox()
        self.period_box.setAccessibleName("Period")
        for text, _value in PERIODS:
            self.period_box.addItem(text)
        now = QDateTime.currentDateTime()
        self.since_edit = QDateTimeEdit(now.addDays(-7))
        self.until_edit = QDateTimeEdit(now.addDays(1))
        for edit, name in ((self.since_edit, "From"), (self.until_edit, "Until")):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.setAccessibleName(name)
            edit.setVisible(False)
            edit.dateTimeChanged.connect(lambda _d: self.apply_filter())
        self.search = QLineEdit()
        self.search.setObjectName("history_search")
        self.search.setPlaceholderText("Search runs: id, workflow, error…")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search runs")
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.search.returnPressed.connect(self.apply_filter)
        self.refresh_button = QToolButton()
        self.refresh_button.setText("Refresh")
        self.refresh_button.setToolTip("Load the history again (F5 in this view)")
        self.refresh_button.clicked.connect(lambda _c=False: self.model.reload())
        refresh = QAction(self)
        refresh.setShortcut(QKeySequence("F5"))
        refresh.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        refresh.triggered.connect(lambda _c=False: self.model.reload())
        self.addAction(refresh)
        self.count_label = QLabel()
        self.count_label.setObjectName("history_count")
        for box in (self.workflow_box, self.status_box, self.trigger_box):
            box.currentIndexChanged.connect(lambda _i: self.apply_filter())
        self.period_box.currentIndexChanged.connect(self._period_changed)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 0)
        for widget in (self.workflow_box, self.status_box, self.trigger_box, self.period_box,
                       self.since_edit, self.until_edit):  # fmt: skip
            bar.addWidget(widget)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.count_label)
        self.filter_bar = bar

    def _period_changed(self, index: int) -> None:
        custom = PERIODS[index][1] == "custom"
        self.since_edit.setVisible(custom)
        self.until_edit.setVisible(custom)
        self.apply_filter()

    def current_filter(self) -> RunFilter:
        since: datetime | None = None
        until: datetime | None = None
        period = PERIODS[self.period_box.currentIndex()][1]
        if isinstance(period, timedelta):
            since = datetime.now(UTC) - period
        elif period == "custom":
            since = datetime.fromtimestamp(self.since_edit.dateTime().toSecsSinceEpoch(), UTC)
            until = datetime.fromtimestamp(self.until_edit.dateTime().toSecsSinceEpoch(), UTC)
        return RunFilter(
            workflow=self.workflow_box.currentData(),
            status=self.status_box.currentData(),
            trigger=self.trigger_box.currentData(),
            since=since,
            until=until,
            text=self.search.text().strip(),
        )

    def apply_filter(self) -> None:
        self._search_timer.stop()
        flt = self.current_filter()
        if flt != self.model.filter or not self._started:
            self._started = True
            self.model.set_filter(flt)

    def set_filter(self, flt: RunFilter) -> None:
        """Set the controls (and so the model) to ``flt``; periods other than presets are custom."""
        for box, value in (
            (self.workflow_box, flt.workflow),
            (self.status_box, flt.status),
            (self.trigger_box, flt.trigger),
        ):
            box.blockSignals(True)
            if value is not None and box.findData(value) < 0:
                box.addItem(value, value)
            box.setCurrentIndex(max(0, box.findData(value)))
            box.blockSignals(False)
        self.search.blockSignals(True)
        self.search.setText(flt.text)
        self.search.blockSignals(False)
        self.period_box.blockSignals(True)
        if flt.since or flt.until:
            self.period_box.setCurrentIndex(len(PERIODS) - 1)
            for edit, when in ((self.since_edit, flt.since), (self.until_edit, flt.until)):
                edit.blockSignals(True)
                edit.setVisible(True)
                if when is not None:
                    edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(when.timestamp())))
                edit.blockSignals(False)
        else:
            self.period_box.setCurrentIndex(0)
            self.since_edit.setVisible(False)
            self.until_edit.setVisible(False)
        self.period_box.blockSignals(False)
        self._started = True
        self.model.set_filter(flt)

    def start(self) -> None:
        """Load the first page (the dock calls this when it is first shown)."""
        if not self._started:
            self._update_workflows()
            self.apply_filter()

    def _health_changed(self, _health: object) -> None:
        self._update_workflows()

    def _update_workflows(self) -> None:
        names = sorted(self.link.workflows)
        present = {self.workflow_box.itemData(i) for i in range(1, self.workflow_box.count())}
        for name in names:
            if name not in present:
                self.workflow_box.addItem(name, name)
        if self.tabs.currentWidget() is self.trends and self.trends.workflow_box.count() == 0:
            self.trends.set_workflows(names)

    def _reconnected(self) -> None:
        """The live events were interrupted: what happened meanwhile is read again."""
        if not self._started:
            return
        if self.model.error:
            self.model.reload()
        else:
            self.model.refresh_top()

    def _page_loaded(self, count: int) -> None:
        self._update_count()
        if not self.table.currentIndex().isValid() and self.model.rowCount():
            self.table.selectRow(0)
        if count:
            # A page that lands within a few screens of the end asks for the next at once, not
            # at the next scroll: the first page is half a page (FIRST_PAGE_SIZE, for a quick
            # first paint), and the first flick of the scroll bar reached its end and waited
            # for the page it had only then asked for (bench_history's one stall per round).
            # The bar's maximum follows the new rows at the next layout, the header at once.
            bar = self.table.verticalScrollBar()
            end = self.table.verticalHeader().length() - self.table.viewport().height()
            if bar.value() >= end - 4 * bar.pageStep() and self.model.canFetchMore(QModelIndex()):
                self.model.fetchMore(QModelIndex())

    def _update_count(self, _error: str = "") -> None:
        model = self.model
        if model.error:
            self.count_label.setText(f"<span style='color:{self.theme.error}'>not loaded</span>")
            self.count_label.setToolTip(model.error)
            return
        self.count_label.setToolTip("")
        rows = model.rowCount()
        more = "" if model.exhausted else "+"
        text = f"{rows}{more} run{'s' if rows != 1 else ''}"
        if model.loading:
            text += " · loading…"
        self.count_label.setText(text)

    def _prefetch(self, value: int) -> None:
        """Ask for the next page a few screens before the end, so scrolling rarely waits."""
        bar = self.table.verticalScrollBar()
        if value >= bar.maximum() - 4 * bar.pageStep() and self.model.canFetchMore(QModelIndex()):
            self.model.fetchMore(QModelIndex())

    # -- selection and actions ------------------------------------------------------------------
    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        run = self.model.run_at(current.row())
        if run is not None and run.id != self._selected:
            self._selected = run.id
            self.detail.show_run(run.id)

    def selected_run(self) -> RunInfo | None:
        return self.model.run_at(self.table.currentIndex().row())

    def show_run(self, run_id: str) -> None:
        """Show one run's detail, selecting its row when it is loaded."""
        self.tabs.setCurrentWidget(self.splitter)
        row = self.model.row_of(run_id)
        if row is not None:
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 0))
        self._selected = run_id
        self.detail.show_run(run_id)

    def _double_clicked(self, index: QModelIndex) -> None:
        run = self.model.run_at(index.row())
        if run is not None:
            self._watch(run.id)

    def _watch(self, run_id: str) -> None:
        row = self.model.row_of(run_id)
        run = self.model.run_at(row) if row is not None else None
        if run is not None:
            self.open_in_editor.emit(run.id, run.workflow_name)

    def _context_menu(self, point: QPoint) -> None:
        run = self.model.run_at(self.table.indexAt(point).row())
        if run is None:
            return
        menu = QMenu(self)
        menu.addAction("Show on the workflow's canvas", lambda: self._watch(run.id))
        menu.addSeparator()
        rerun = menu.addAction("Run again", lambda: self.rerun(run.id, "start"))
        failed = menu.addAction(
            "Run again from the failed step", lambda: self.rerun(run.id, "failed_node")
        )
        current = menu.addAction(
            "Run again with the workflow as it is now", lambda: self.rerun(run.id, "current")
        )
        terminal = str(run.status) in ("succeeded", "failed", "cancelled")
        for action in (rerun, current):
            action.setEnabled(terminal)
        failed.setEnabled(str(run.status) == "failed")
        cancel = menu.addAction("Cancel", lambda: self.cancel(run.id))
        cancel.setEnabled(not terminal)
        menu.addSeparator()
        menu.addAction("Copy run id", lambda: QGuiApplication.clipboard().setText(run.id))
        menu.addAction("Chart this workflow", lambda: self.chart(run.workflow_name))
        menu.exec(self.table.viewport().mapToGlobal(point))

    def rerun(self, run_id: str, mode: str) -> None:
        client = self.link.client
        run_job(
            lambda: client.rerun(run_id, mode),  # type: ignore[arg-type]
            lambda submitted: self.message.emit(f"Queued run {submitted.run_id[:12]}"),
            lambda error: self.message.emit(f"Cannot run again: {error}"),
            owner=self,
        )

    def cancel(self, run_id: str) -> None:
        run_job(
            lambda: self.link.cancel_run(run_id),
            lambda _ok: self.message.emit(f"Cancelled run {run_id[:12]}"),
            lambda error: self.message.emit(f"Cannot cancel: {error}"),
            owner=self,
        )

    def chart(self, workflow: str) -> None:
        self.tabs.setCurrentWidget(self.trends)
        self.trends.show_workflow(workflow)

    def _tab_changed(self, _index: int) -> None:
        if self.tabs.currentWidget() is self.trends and self.trends.workflow_box.count() == 0:
            self.trends.set_workflows(sorted(self.link.workflows))

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.model.set_theme(theme)
        self.detail.pane.set_theme(theme)
        self.trends.chart.set_theme(theme)
