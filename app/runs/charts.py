"""Is this workflow getting slower, and how often does it fail?  Two small charts per workflow.

Drawn with QPainter (QtCharts is not part of PySide6-Essentials): the top
chart plots each finished run's duration over time (failures in red), the
bottom one the share of runs that succeeded, per day.  ``TrendsPanel`` loads
the workflow's recent runs from the API in the background.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.runs.history_model import compact
from app.runs.records import human_duration
from app.supervisor_link import SupervisorLink, run_job
from app.theme import Theme
from supervisor.api.models import RunInfo

#: Runs a chart reads at most (the API's page limit is 500).
CHART_RUNS = (100, 500, 2000)
_FINISHED = {"succeeded", "failed", "cancelled"}


@dataclass(frozen=True)
class Bucket:
    """Runs that ended in one period (a day, or an hour when the runs span less than two days)."""

    start: datetime
    total: int
    succeeded: int

    @property
    def rate(self) -> float:
        return self.succeeded / self.total if self.total else 0.0


def finished(runs: Sequence[RunInfo]) -> list[RunInfo]:
    """Runs that ended, oldest first (the API sends newest first)."""
    done = [r for r in runs if str(r.status) in _FINISHED and r.duration is not None]
    return sorted(done, key=lambda r: r.started_at or r.queued_at)


def success_buckets(runs: Sequence[RunInfo]) -> tuple[list[Bucket], timedelta]:
    """Share of ended runs that succeeded, per local hour or day, and the period used."""
    ended = [r for r in runs if str(r.status) in _FINISHED]
    if not ended:
        return [], timedelta(days=1)
    times = [(r.started_at or r.queued_at).astimezone() for r in ended]
    hourly = max(times) - min(times) < timedelta(days=2)
    period = timedelta(hours=1) if hourly else timedelta(days=1)
    counts: dict[datetime, list[int]] = {}
    for run, when in zip(ended, times, strict=True):
        start = when.replace(minute=0, second=0, microsecond=0)
        if not hourly:
            start = start.replace(hour=0)
        tally = counts.setdefault(start, [0, 0])
        tally[0] += 1
        tally[1] += str(run.status) == "succeeded"
    buckets = [Bucket(start, total, ok) for start, (total, ok) in sorted(counts.items())]
    return buckets, period


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round values from 0 to at least ``top`` for an axis (1, 2, 2.5 or 5 × 10^n steps)."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


class TrendChart(QWidget):
    """Duration per run and success rate per day for one workflow."""

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.workflow = ""
        self.runs: list[RunInfo] = []
        self.buckets: list[Bucket] = []
        self.period = timedelta(days=1)
        self.note = "Choose a workflow to see its trends."
        self.setMinimumHeight(260)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("Duration and success rate chart")

    def set_runs(self, workflow: str, runs: Sequence[RunInfo]) -> None:
        self.workflow = workflow
        self.runs = finished(runs)
        self.buckets, self.period = success_buckets(runs)
        self.note = "" if self.runs else f"No finished runs of '{workflow}' yet."
        self._update_tooltip()
        self.update()

    def set_note(self, note: str) -> None:
        self.note = note
        self.runs, self.buckets = [], []
        self.update()

    def _update_tooltip(self) -> None:
        if not self.runs:
            self.setToolTip("")
            return
        durations = sorted(r.duration or 0.0 for r in self.runs)
        median = durations[len(durations) // 2]
        ok = sum(1 for r in self.runs if str(r.status) == "succeeded")
        self.setToolTip(
            f"{len(self.runs)} finished runs, {ok * 100 // len(self.runs)}% succeeded, "
            f"median {human_duration(median)}"
        )

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.update()

    # -- painting ------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.fillRect(self.rect(), QColor(self.theme.base))
            if not self.runs:
                painter.setPen(QColor(self.theme.muted))
                painter.drawText(QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter, self.note)
                return
            full = QRectF(self.rect()).adjusted(64, 28, -20, -28)
            gap = 46.0
            top_height = (full.height() - gap) * 0.6
            durations = QRectF(full.left(), full.top(), full.width(), top_height)
            rates = QRectF(
                full.left(),
                durations.bottom() + gap,
                full.width(),
                full.height() - top_height - gap,
            )
            self._title(painter, durations, f"Duration of each run — {self.workflow}")
            self._durations(painter, durations)
            per = "hour" if self.period < timedelta(days=1) else "day"
            self._title(painter, rates, f"Runs that succeeded, per {per}")
            self._rates(painter, rates)
        finally:
            painter.end()

    def _title(self, painter: QPainter, area: QRectF, text: str) -> None:
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor(self.theme.text))
        painter.drawText(QPointF(area.left() - 56, area.top() - 10), text)
        painter.setFont(self.font())

    def _axis_time(self, run: RunInfo) -> datetime:
        return run.started_at or run.queued_at

    def _durations(self, painter: QPainter, area: QRectF) -> None:
        theme = self.theme
        top = max((r.duration or 0.0) for r in self.runs)
        ticks = nice_ticks(top)
        ceiling = ticks[-1] or 1.0
        grid = QPen(QColor(theme.grid), 1)
        for tick in ticks:
            y = area.bottom() - tick / ceiling * area.height()
            painter.setPen(grid)
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.setPen(QColor(theme.muted))
            painter.drawText(
                QRectF(area.left() - 62, y - 8, 56, 16),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                human_duration(tick) if tick else "0",
            )
        first, last = self._axis_time(self.runs[0]), self._axis_time(self.runs[-1])
        span = max((last - first).total_seconds(), 1.0)

        def point(run: RunInfo) -> QPointF:
            if len(self.runs) == 1:
                x = area.center().x()
            else:
                x = (
                    area.left()
                    + (self._axis_time(run) - first).total_seconds() / span * area.width()
                )
            return QPointF(x, area.bottom() - (run.duration or 0.0) / ceiling * area.height())

        path = QPainterPath()
        for index, run in enumerate(self.runs):
            if index == 0:
                path.moveTo(point(run))
            else:
                path.lineTo(point(run))
        painter.setPen(QPen(QColor(theme.highlight), 1.4))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        radius = 3.2 if len(self.runs) < 200 else 2.0
        for run in self.runs:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.status_color(str(run.status)))
            painter.drawEllipse(point(run), radius, radius)
        painter.setPen(QColor(theme.muted))
        fmt = "%H:%M:%S" if span < 3600 else "%H:%M" if span < 86400 else "%d %b %H:%M"
        painter.drawText(
            QRectF(area.left(), area.bottom() + 4, 160, 16),
            Qt.AlignmentFlag.AlignLeft,
            first.astimezone().strftime(fmt),
        )
        painter.drawText(
            QRectF(area.right() - 160, area.bottom() + 4, 160, 16),
            Qt.AlignmentFlag.AlignRight,
            last.astimezone().strftime(fmt),
        )

    def _rates(self, painter: QPainter, area: QRectF) -> None:
        theme = self.theme
        buckets = self.buckets[-72:]
        if not buckets:
            return
        for fraction in (0.0, 0.5, 1.0):
            y = area.bottom() - fraction * area.height()
            painter.setPen(QPen(QColor(theme.grid), 1))
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.setPen(QColor(theme.muted))
            painter.drawText(
                QRectF(area.left() - 62, y - 8, 56, 16),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{int(fraction * 100)}%",
            )
        first = buckets[0].start
        count = int((buckets[-1].start - first) / self.period) + 1
        slot = area.width() / count
        width = max(2.0, min(slot * 0.7, 28.0))
        label = "%H:00" if self.period < timedelta(days=1) else "%d %b"
        for bucket in buckets:
            index = int((bucket.start - first) / self.period)
            x = area.left() + index * slot + (slot - width) / 2
            height = bucket.rate * area.height()
            colour = QColor(theme.ok if bucket.rate >= 0.9 else theme.warning)
            if bucket.rate < 0.5:
                colour = QColor(theme.error)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRect(QRectF(x, area.bottom() - height, width, max(height, 1.5)))
            painter.setPen(QColor(theme.text))
            painter.drawText(
                QRectF(x - 20, area.bottom() - height - 16, width + 40, 14),
                Qt.AlignmentFlag.AlignHCenter,
                f"{bucket.succeeded}/{bucket.total}",
            )
            if slot >= 44:
                painter.setPen(QColor(theme.muted))
                painter.drawText(
                    QRectF(x - 20, area.bottom() + 2, width + 40, 16),
                    Qt.AlignmentFlag.AlignHCenter,
                    bucket.start.strftime(label),
                )
        if slot < 44:
            painter.setPen(QColor(theme.muted))
            last = first + self.period * (count - 1)
            painter.drawText(
                QRectF(area.left(), area.bottom() + 2, 120, 16),
                Qt.AlignmentFlag.AlignLeft,
                first.strftime(label),
            )
            painter.drawText(
                QRectF(area.right() - 120, area.bottom() + 2, 120, 16),
                Qt.AlignmentFlag.AlignRight,
                last.strftime(label),
            )


class TrendsPanel(QWidget):
    """A workflow picker over a ``TrendChart``."""

    def __init__(self, link: SupervisorLink, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self.chart = TrendChart(theme)
        self.workflow_box = QComboBox()
        self.workflow_box.setAccessibleName("Workflow for the chart")
        self.workflow_box.setMinimumContentsLength(20)
        self.size_box = QComboBox()
        self.size_box.setAccessibleName("How many runs to chart")
        for size in CHART_RUNS:
            self.size_box.addItem(f"last {size} runs", size)
        self.summary = QLabel()
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Workflow:"))
        bar.addWidget(self.workflow_box)
        bar.addWidget(self.size_box)
        bar.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(bar)
        layout.addWidget(self.chart, 1)
        self.workflow_box.currentIndexChanged.connect(lambda _i: self.reload())
        self.size_box.currentIndexChanged.connect(lambda _i: self.reload())
        self._request = 0

    def set_workflows(self, names: Sequence[str], current: str | None = None) -> None:
        keep = current or self.workflow_box.currentText()
        self.workflow_box.blockSignals(True)
        self.workflow_box.clear()
        self.workflow_box.addItems(list(names))
        if keep in names:
            self.workflow_box.setCurrentText(keep)
        self.workflow_box.blockSignals(False)
        self.reload()

    def show_workflow(self, name: str) -> None:
        if self.workflow_box.findText(name) < 0:
            self.workflow_box.addItem(name)
        self.workflow_box.setCurrentText(name)

    def reload(self) -> None:
        workflow = self.workflow_box.currentText()
        if not workflow:
            self.chart.set_note("No workflow has run yet.")
            return
        want = int(self.size_box.currentData() or CHART_RUNS[0])
        self._request += 1
        request = self._request
        client = self.link.client

        def work() -> list[RunInfo]:
            runs: list[RunInfo] = []
            before: str | None = None
            while len(runs) < want:
                page = client.list_runs(workflow=workflow, limit=min(500, want), before=before)
                runs.extend(compact(page.runs))
                before = page.next_before
                if before is None:
                    break
            return runs[:want]

        self.summary.setText("loading…")
        run_job(work, lambda runs: self._loaded(request, workflow, runs), self._failed, owner=self)

    def _loaded(self, request: int, workflow: str, runs: list[RunInfo]) -> None:
        if request != self._request:
            return
        self.chart.set_runs(workflow, runs)
        self.summary.setText(self.chart.toolTip())

    def _failed(self, error: Exception) -> None:
        self.summary.setText("")
        self.chart.set_note(f"Cannot load the runs: {error}")
