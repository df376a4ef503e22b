"""Every run in the history, a page at a time: a virtualised table model over ``GET /runs``.

The model holds only the rows fetched so far.  Views ask for more through
``canFetchMore``/``fetchMore`` as they scroll; each page is fetched on a
pool thread and inserted on the GUI thread, so a slow or absent supervisor
never freezes the window.  A filter change bumps a generation number, and
pages of an older generation are dropped when they arrive.

The API filters by workflow and status itself.  Trigger, date range and the
search text are applied here, page by page (newest first, so a 'since' date
ends the paging early); one fetch scans at most ``MAX_SCAN`` runs before it
hands back what it found, so a rare match cannot stall the view.

Live events keep the rows current: a queued run appears at the top, a
running or finished run's row is refreshed (batched every quarter second).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

from app.runs.records import human_duration, local_time, trigger_kind, trigger_text
from app.supervisor_link import run_job
from app.theme import Theme
from supervisor.api.models import RunDetail, RunInfo, RunPage

Index = QModelIndex | QPersistentModelIndex

COLUMNS = ("Status", "Workflow", "Trigger", "Started", "Duration", "Steps", "Result")
RUN_ROLE = Qt.ItemDataRole.UserRole + 20
RUN_ID_ROLE = Qt.ItemDataRole.UserRole + 21
PAGE_SIZE = 100
#: Runs the history view asks for first: a screen of them, so the first paint waits for
#: half the rows to be read, sent and parsed (the view asks for more if they do not fill it)
FIRST_PAGE_SIZE = 50
#: The API's largest page: used when rows are filtered here, to scan quickly.
SCAN_PAGE = 500
MAX_SCAN = 5000
REFRESH_DELAY_MS = 250
TRIGGER_KINDS = ("manual", "schedule", "file", "webhook", "after", "hotkey")


_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_DECORATION = int(Qt.ItemDataRole.DecorationRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_ROLES = frozenset(
    {_DISPLAY, _DECORATION, _FOREGROUND, _ALIGNMENT, int(Qt.ItemDataRole.ToolTipRole),
     int(RUN_ROLE), int(RUN_ID_ROLE)}
)  # fmt: skip
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class RunLister(Protocol):
    """What the model needs from ``SupervisorClient``."""

    def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> RunPage: ...

    def get_run(self, run_id: str) -> RunDetail: ...


@dataclass(frozen=True)
class RunFilter:
    """Which runs the history shows; the empty filter shows them all."""

    workflow: str | None = None
    status: str | None = None
    trigger: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""

    @property
    def filters_here(self) -> bool:
        """Whether some of this filter is applied by the model rather than by the API."""
        return bool(self.trigger or self.since or self.until or self.text.strip())

    def matches(self, run: RunInfo) -> bool:
        if self.workflow and run.workflow_name != self.workflow:
            return False
        if self.status and str(run.status) != self.status:
            return False
        if self.trigger and trigger_kind(run.trigger) != self.trigger:
            return False
        if self.since and run.queued_at < self.since:
            return False
        if self.until and run.queued_at >= self.until:
            return False
        needle = self.text.strip().lower()
        if needle:
            haystack = " ".join(
                str(v or "")
                for v in (run.id, run.workflow_name, run.trigger, run.error, run.failed_node)
            ).lower()
            return needle in haystack
        return True

    def past(self, run: RunInfo) -> bool:
        """Runs come newest first: one older than 'since' means no later page can match."""
        return self.since is not None and run.queued_at < self.since


@dataclass(frozen=True)
class Fetched:
    runs: list[RunInfo]
    cursor: str | None
    exhausted: bool
    scanned: int


#: One ``__pydantic_fields_set__`` per shape of run answer (what the API sent): see ``compact``
_FIELD_SETS: dict[frozenset[str], set[str]] = {}


def compact(runs: list[RunInfo]) -> list[RunInfo]:
    """The same runs, sharing one set of field names per shape instead of one each.

    Pydantic keeps on every model the set of the fields the answer gave; a run
    answer has 20, and a set of 20 strings takes 2.2 KB (the set grows fourfold
    past 17: the three fleet fields ``target_host``, ``not_before`` and
    ``waiting`` tipped it), more than the run's values.  A history scrolled to
    11,000 runs held 25 MB of these sets.  The runs are only read here (an
    update replaces a run with a new object), so one set per shape serves them
    all; ``model_copy`` copies the set before it changes one.
    """
    for run in runs:
        fields = run.__pydantic_fields_set__
        shared = _FIELD_SETS.setdefault(frozenset(fields), fields)
        if shared is not fields:
            object.__setattr__(run, "__pydantic_fields_set__", shared)
    return runs


def fetch_page(
    client: RunLister, flt: RunFilter, cursor: str | None, want: int = PAGE_SIZE
) -> Fetched:
    """One fetch: the next ``want`` matching runs after ``cursor`` (fewer at the end)."""
    limit = SCAN_PAGE if flt.filters_here else want
    matched: list[RunInfo] = []
    scanned = 0
    while True:
        page = client.list_runs(
            workflow=flt.workflow, status=flt.status, limit=limit, before=cursor
        )
        scanned += len(page.runs)
        for run in compact(page.runs):
            if flt.past(run):
                return Fetched(matched, None, True, scanned)
            if flt.matches(run):
                matched.append(run)
        cursor = page.next_before
        if cursor is None:
            return Fetched(matched, None, True, scanned)
        if len(matched) >= want or scanned >= MAX_SCAN:
            return Fetched(matched, cursor, False, scanned)


def _dot(colour: QColor) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawEllipse(1, 1, 10, 10)
    painter.end()
    return QIcon(pixmap)


class HistoryModel(QAbstractTableModel):
    """Runs newest first, fetched on demand."""

    #: rows were added by a fetch (how many), after ``fetchMore``
    page_loaded = Signal(int)
    loading_changed = Signal(bool)
    #: a fetch failed: the sentence to show
    failed = Signal(str)

    def __init__(
        self,
        client: RunLister,
        theme: Theme,
        *,
        page_size: int = PAGE_SIZE,
        first_page_size: int | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.client = client
        self.theme = theme
        self.page_size = page_size
        #: the first page after a (re)load, ``page_size`` unless smaller
        self.first_page_size = min(first_page_size or page_size, page_size)
        self.filter = RunFilter()
        self.rows: list[RunInfo] = []
        self.error = ""
        self._cursor: str | None = None
        self._exhausted = False
        self._fetching = False
        self._generation = 0
        self._lock = threading.Lock()
        self._icons: dict[str, QIcon] = {}
        #: display texts per run, made once (a run object is replaced when it changes)
        self._cells: dict[str, tuple[RunInfo, tuple[str, ...]]] = {}
        self._pending: set[str] = set()
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self._refresh_pending)

    # -- loading -------------------------------------------------------------------------
    @property
    def loading(self) -> bool:
        return self._fetching

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def set_filter(self, flt: RunFilter) -> None:
        """Show the runs ``flt`` selects, starting again from the newest."""
        self.filter = flt
        self.reload()

    def reload(self) -> None:
        self._generation += 1
        self.beginResetModel()
        self.rows = []
        self._cells.clear()
        self._cursor = None
        self._exhausted = False
        self._set_fetching(False)
        self.endResetModel()
        self.fetchMore(QModelIndex())

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008, N802
        return not parent.isValid() and not self._exhausted and not self._fetching

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008, N802
        if not self.canFetchMore(parent):
            return
        self._set_fetching(True)
        generation, flt, cursor = self._generation, self.filter, self._cursor
        want = self.page_size if self.rows else self.first_page_size

        def work() -> Fetched:
            with self._lock:
                return fetch_page(self.client, flt, cursor, want)

        run_job(
            work,
            lambda result: self._arrived(generation, result),
            lambda error: self._fetch_failed(generation, error),
            owner=self,
        )

    def _arrived(self, generation: int, result: Fetched) -> None:
        if generation != self._generation:
            return
        known = {run.id for run in self.rows[:500]}
        fresh = [run for run in result.runs if run.id not in known]
        if fresh:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            self.rows.extend(fresh)
            self.endInsertRows()
        self._cursor = result.cursor
        self._exhausted = result.exhausted
        self.error = ""
        self._set_fetching(False)
        self.page_loaded.emit(len(fresh))

    def _fetch_failed(self, generation: int, error: Exception) -> None:
        if generation != self._generation:
            return
        self.error = f"Cannot load the run history: {error}"
        self._set_fetching(False)
        self._exhausted = True  # until reload(): scrolling must not hammer a dead supervisor
        self.failed.emit(self.error)

    def _set_fetching(self, value: bool) -> None:
        if value != self._fetching:
            self._fetching = value
            self.loading_changed.emit(value)

    # -- live updates --------------------------------------------------------------------
    def apply_event(self, item: dict[str, Any]) -> None:
        """Keep rows current with the supervisor's live events."""
        kind = item.get("kind")
        run_id = item.get("run_id")
        if not isinstance(run_id, str) or kind not in (
            "run_queued",
            "run_started",
            "run_finished",
            "run_cancelled",
            "run_interrupted",
        ):
            return
        self._pending.add(run_id)
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _refresh_pending(self) -> None:
        pending, self._pending = self._pending, set()
        generation = self._generation
        for run_id in pending:

            def work(run_id: str = run_id) -> RunInfo:
                with self._lock:
                    return self.client.get_run(run_id).run

            run_job(work, partial(self._updated, generation), self._ignore, owner=self)

    def refresh_top(self) -> None:
        """Read the newest page again and merge it (after a gap in the live events)."""
        if not self.rows:
            self.reload()
            return
        generation, flt, want = self._generation, self.filter, self.page_size

        def work() -> Fetched:
            with self._lock:
                return fetch_page(self.client, flt, None, want)

        def merge(result: Fetched) -> None:
            for run in reversed(result.runs):
                self._updated(generation, run)

        run_job(work, merge, self._ignore, owner=self)

    @staticmethod
    def _ignore(error: Exception) -> None:
        """A row that could not be refreshed is refreshed by the next event or reload."""

    def _updated(self, generation: int, run: RunInfo) -> None:
        if generation != self._generation:
            return
        row = self.row_of(run.id)
        if row is not None:
            if self.filter.matches(run):
                self.rows[row] = run
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
            else:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self.rows[row]
                self.endRemoveRows()
            return
        if not self.filter.matches(run):
            return
        # rows are newest first; answers about several new runs arrive in any order
        key = (run.queued_at, run.id)
        position = 0
        while position < len(self.rows) and (
            (self.rows[position].queued_at, self.rows[position].id) > key
        ):
            position += 1
        if position == len(self.rows) and not self._exhausted:
            return  # older than everything loaded: a later page brings it
        self.beginInsertRows(QModelIndex(), position, position)
        self.rows.insert(position, run)
        self.endInsertRows()

    def row_of(self, run_id: str) -> int | None:
        for row, run in enumerate(self.rows):
            if run.id == run_id:
                return row
        return None

    def run_at(self, row: int) -> RunInfo | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._icons.clear()
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, 0))

    # -- the model -----------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def _icon(self, status: str) -> QIcon:
        icon = self._icons.get(status)
        if icon is None:
            colour = self.theme.status_color("cancelled" if status == "interrupted" else status)
            icon = self._icons[status] = _dot(colour)
        return icon

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # a view asks about ten roles per cell on every paint: answer the rest at once
        if role not in _ROLES:
            return None
        row = index.row()
        if row < 0 or row >= len(self.rows):
            return None
        run = self.rows[row]
        column = index.column()
        if role == _DISPLAY:
            cells = self._cells.get(run.id)
            if cells is None or cells[0] is not run:
                cells = (run, tuple(self._text(run, c) for c in range(len(COLUMNS))))
                self._cells[run.id] = cells
            return cells[1][column]
        if role == _DECORATION:
            return self._icon(str(run.status)) if column == 0 else None
        if role == _FOREGROUND:
            return QColor(self.theme.error) if column == 6 and run.error else None
        if role == _ALIGNMENT:
            return _RIGHT if column in (4, 5) else None
        if role == RUN_ROLE:
            return run
        if role == RUN_ID_ROLE:
            return run.id
        return self._tooltip(run)

    def _text(self, run: RunInfo, column: int) -> str:
        if column == 0:
            return str(run.status)
        if column == 1:
            return run.workflow_name
        if column == 2:
            return trigger_text(run.trigger)
        if column == 3:
            return local_time(run.started_at or run.queued_at)
        if column == 4:
            return human_duration(run.duration)
        if column == 5:
            return "" if run.steps is None else str(run.steps)
        if run.error:
            where = f"{run.failed_node}: " if run.failed_node else ""
            return f"{where}{run.error}".splitlines()[0][:200]
        if run.resumes:
            return f"resumed {run.resumes}×"
        return ""

    def _tooltip(self, run: RunInfo) -> str:
        lines = [f"run {run.id}", f"trigger: {run.trigger}", f"queued {local_time(run.queued_at)}"]
        if run.finished_at:
            lines.append(f"finished {local_time(run.finished_at)}")
        if run.error:
            lines.append(f"error: {run.error[:500]}")
        return "\n".join(lines)
