"""One run, step by step: what each node did, how often it tried, what it said, what it saw.

``RunPane`` draws a ``RunRecord``: a header (status, workflow, trigger,
timings, the error), the nodes in the order they ran, and for the selected
node every attempt with its duration, outputs or error, its log lines and
its screenshots (failure screenshots included, shown as images; a click
opens one at full size).  The live view and the run detail both use it.

``RunDetailView`` loads a finished (or running) run from the API in the
background and shows it in a ``RunPane``.
"""

from __future__ import annotations

import html
import json
import logging
import time
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QColor, QImage, QPixmap, QTextDocument
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.runs.artifact_files import ArtifactFiles, as_text
from app.runs.records import (
    Artifact,
    NodeRecord,
    RunRecord,
    human_duration,
    local_time,
    running_duration,
    trigger_text,
)
from app.supervisor_link import SupervisorLink, run_job
from app.theme import Theme
from supervisor.api.models import EventInfo, RunDetail
from supervisor.run_report import PauseReport

log = logging.getLogger(__name__)

WHOLE_RUN = ""
NODE_ROLE = Qt.ItemDataRole.UserRole + 30
THUMB_WIDTH = 460
THUMB_HEIGHT = 240
MAX_VALUE_CHARS = 4000


def _esc(value: Any) -> str:
    return html.escape(str(value))


escape_html = _esc


def _pretty(value: Any) -> str:
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS] + "\n… (cut)"
    return text


class ImageDialog(QDialog):
    """A screenshot at full size, scrollable."""

    def __init__(self, image: QImage, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        label = QLabel()
        label.setObjectName("artifact_image")
        pixmap = QPixmap.fromImage(image)
        if pixmap.isNull():
            label.setText("This file is not an image this window can show.")
        else:
            label.setPixmap(pixmap)
        area = QScrollArea()
        area.setWidget(label)
        layout = QVBoxLayout(self)
        layout.addWidget(area)
        self.resize(min(pixmap.width() + 40, 1400) or 500, min(pixmap.height() + 40, 900) or 200)


class TextDialog(QDialog):
    """Text evidence (a hung worker's stacks, its log tail) as the API served it."""

    def __init__(self, text: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        view = QPlainTextEdit(text)
        view.setObjectName("artifact_text")
        view.setReadOnly(True)
        view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        layout = QVBoxLayout(self)
        layout.addWidget(view)
        self.resize(900, 600)


class RunPane(QWidget):
    """Header, nodes, and the selected node's attempts, logs and screenshots."""

    node_selected = Signal(str)

    def __init__(
        self,
        theme: Theme,
        parent: QWidget | None = None,
        *,
        orientation: Qt.Orientation = Qt.Orientation.Horizontal,
        empty_text: str = "No run selected.",
        link: SupervisorLink | None = None,
    ) -> None:
        super().__init__(parent)
        self.theme = theme
        #: artifacts come through the API, never from a path (the run may be another machine's)
        self.files = ArtifactFiles(link, self)
        self.files.arrived.connect(self._artifacts_arrived)
        #: the dialog an artifact link opened, or is waiting to open when its bytes arrive
        self.dialog: QDialog | None = None
        self._opening: Artifact | None = None
        self.empty_text = empty_text
        self.record: RunRecord | None = None
        self.order: list[str] = []
        self.header = QLabel()
        self.header.setObjectName("run_header")
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header.setContentsMargins(8, 6, 8, 6)
        self.nodes = QTreeWidget()
        self.nodes.setObjectName("run_nodes")
        self.nodes.setAccessibleName("Nodes of the run")
        self.nodes.setHeaderLabels(["Node", "Status", "Tries", "Time"])
        self.nodes.setRootIsDecorated(False)
        self.nodes.setUniformRowHeights(True)
        header = self.nodes.header()
        header.setMinimumSectionSize(30)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column, width in ((1, 74), (2, 40), (3, 64)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            self.nodes.setColumnWidth(column, width)
        self.nodes.currentItemChanged.connect(self._current_changed)
        self.detail = QTextBrowser()
        self.detail.setObjectName("node_detail")
        self.detail.setAccessibleName("Node details")
        self.detail.setOpenLinks(False)
        self.detail.anchorClicked.connect(self._anchor)
        splitter = QSplitter(orientation)
        splitter.addWidget(self.nodes)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([330, 670] if orientation == Qt.Orientation.Horizontal else [140, 260])
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter
        #: follow the pane's shape (nodes beside the detail when wide, above it when tall)
        self.adaptive = True
        self.header_bar = QHBoxLayout()
        self.header_bar.setContentsMargins(0, 0, 8, 0)
        self.header_bar.addWidget(self.header, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(self.header_bar)
        layout.addWidget(splitter, 1)
        self._items: dict[str, QTreeWidgetItem] = {}
        #: When each node's current attempt was seen starting, on the monotonic clock:
        #: a live view fills it, so a running node shows how long it has run.
        self.node_since: dict[str, float] = {}
        self.show_record(None)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        if self.adaptive:
            self._fit_layout()

    def _fit_layout(self) -> None:
        width, height = self.width(), self.height()
        wide = width > 1.7 * height
        wanted = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.splitter.orientation() != wanted:
            self.splitter.setOrientation(wanted)
            self._fit_sizes()

    def _fit_sizes(self) -> None:
        if self.splitter.orientation() == Qt.Orientation.Horizontal:
            left = min(420, max(300, self.width() // 4))
            self.splitter.setSizes([left, max(200, self.width() - left)])
            return
        rows = self.nodes.topLevelItemCount() or 4
        row = self.nodes.sizeHintForRow(0) if self.nodes.topLevelItemCount() else 20
        header = self.nodes.header().height()
        room = max(120, self.splitter.height())
        tree = min(header + rows * max(row, 16) + 8, int(room * 0.4))
        self.splitter.setSizes([tree, room - tree])

    # -- content -------------------------------------------------------------------------
    def show_record(self, record: RunRecord | None, *, select: str | None = None) -> None:
        if record is None or self.record is None or record.run_id != self.record.run_id:
            self.node_since = {}
        self.record = record
        self.files.keep_only(record.run_id if record is not None else None)
        self.nodes.clear()
        self._items = {}
        self.order = []
        if record is None:
            self.header.setText(
                f"<span style='color:{self.theme.muted}'>{escape_html(self.empty_text)}</span>"
            )
            self.detail.clear()
            return
        whole = QTreeWidgetItem(["(whole run)", "", "", ""])
        whole.setData(0, NODE_ROLE, WHOLE_RUN)
        self.nodes.addTopLevelItem(whole)
        self._items[WHOLE_RUN] = whole
        for node_id in self._node_order(record):
            self._add_node(node_id)
        self.refresh_header()
        self._fit_sizes()
        target = select
        if target is None:
            target = record.failed_node if record.failed_node in self._items else WHOLE_RUN
        self.select_node(target)

    def _node_order(self, record: RunRecord) -> list[str]:
        def first_step(node: NodeRecord) -> int:
            return min((a.step for a in node.attempts), default=1 << 30)

        return [n.node_id for n in sorted(record.nodes.values(), key=first_step)]

    def _add_node(self, node_id: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem([node_id, "", "", ""])
        item.setData(0, NODE_ROLE, node_id)
        self.nodes.addTopLevelItem(item)
        self._items[node_id] = item
        self.order.append(node_id)
        self._fill(node_id)
        return item

    def _fill(self, node_id: str) -> None:
        if self.record is None:
            return
        node = self.record.nodes.get(node_id)
        item = self._items.get(node_id)
        if node is None or item is None:
            return
        status = node.status or ("replayed" if node.replayed else "")
        item.setText(1, status)
        item.setText(2, str(len(node.attempts)) if node.attempts else "")
        since = self.node_since.get(node_id)
        if status == "running" and since is not None:
            item.setText(3, running_duration(max(0.0, time.monotonic() - since)))
        else:
            item.setText(3, human_duration(node.duration))
        item.setForeground(1, self.theme.status_color(status) if status else QColor())
        item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight)
        item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight)
        last = node.last
        tip = f"{node.block or ''}"
        if last is not None and last.error:
            tip += f"\n{last.error_type or 'error'}: {last.error}"
        item.setToolTip(0, tip.strip())

    def refresh_running(self) -> None:
        """The time column of every node still running (a live view's clock calls it)."""
        if self.record is None:
            return
        for node_id, node in self.record.nodes.items():
            if node.status == "running" and node_id in self.node_since:
                self._fill(node_id)

    def update_nodes(self, changed: set[str]) -> None:
        """Redraw the nodes an event changed (adding nodes seen for the first time)."""
        if self.record is None:
            return
        for node_id in changed:
            if node_id in self._items:
                self._fill(node_id)
            elif node_id in self.record.nodes:
                self._add_node(node_id)
        self.refresh_header()
        current = self.current_node()
        if current is not None and (current in changed or current == WHOLE_RUN):
            self._show_detail(current)

    def refresh_header(self) -> None:
        record = self.record
        if record is None:
            return
        colour = self.theme.status_color(
            "cancelled" if record.status == "interrupted" else record.status
        ).name()
        parts = [f"<b style='color:{colour}'>● {_esc(record.status)}</b>"]
        paused = record.paused_at
        if paused is not None:  # live, from the pause event: no reload needed to see it
            tint = self.theme.status_color("paused").name()
            parts.append(f"<b style='color:{tint}'>paused before {_esc(paused)}</b>")
        parts.append(f"<b>{_esc(record.workflow or 'run')}</b>")
        parts.append(f"run <code>{_esc(record.run_id[:12])}</code>")
        if record.trigger:
            parts.append(_esc(trigger_text(record.trigger)))
        if record.started_at:
            parts.append(f"started {_esc(local_time(record.started_at))}")
        if record.duration is not None:
            parts.append(_esc(human_duration(record.duration)))
        text = " &nbsp;·&nbsp; ".join(parts)
        if record.error:
            where = f"{record.failed_node}: " if record.failed_node else ""
            text += (
                f"<br><span style='color:{self.theme.error}'>"
                f"{_esc(where)}{_esc(record.error.splitlines()[0][:400])}</span>"
            )
        self.header.setText(text)

    # -- selection -----------------------------------------------------------------------
    def current_node(self) -> str | None:
        item = self.nodes.currentItem()
        if item is None:
            return None
        value = item.data(0, NODE_ROLE)
        return str(value) if value is not None else None

    def select_node(self, node_id: str) -> None:
        item = self._items.get(node_id)
        if item is not None and item is not self.nodes.currentItem():
            self.nodes.setCurrentItem(item)
        elif item is not None:
            self._show_detail(node_id)

    def _current_changed(self, current: QTreeWidgetItem | None, _previous: object) -> None:
        if current is None:
            return
        node_id = str(current.data(0, NODE_ROLE))
        self._show_detail(node_id)
        if node_id != WHOLE_RUN:
            self.node_selected.emit(node_id)

    # -- detail --------------------------------------------------------------------------
    def _show_detail(self, node_id: str) -> None:
        record = self.record
        if record is None:
            return
        scroll = self.detail.verticalScrollBar().value()
        if node_id == WHOLE_RUN:
            self.detail.setHtml(self._run_html(record))
        elif node_id in record.nodes:
            self.detail.setHtml(self._node_html(record.nodes[node_id]))
        else:
            self.detail.setHtml(
                f"<p style='color:{self.theme.muted}'>'{_esc(node_id)}' has not run "
                "in this run.</p>"
            )
        self.detail.verticalScrollBar().setValue(scroll)

    def show_unrun(self, node_id: str) -> None:
        """The editor selected a node this run has not reached (yet)."""
        if self.record is not None and node_id not in self.record.nodes:
            self.nodes.selectionModel().clearCurrentIndex()
            self._show_detail(node_id)

    def _section(self, title: str) -> str:
        return f"<h4 style='margin:10px 0 4px 0'>{_esc(title)}</h4>"

    def _value_block(self, value: Any) -> str:
        return (
            f"<pre style='background:{self.theme.alternate};margin:2px 0;padding:4px'>"
            f"{_esc(_pretty(value))}</pre>"
        )

    def _run_html(self, record: RunRecord) -> str:
        out = [self._section("Inputs"), self._value_block(record.inputs)]
        if record.outputs:
            out += [self._section("Outputs"), self._value_block(record.outputs)]
        if record.error:
            out += [
                self._section("Error"),
                f"<pre style='color:{self.theme.error};white-space:pre-wrap'>"
                f"{_esc(record.error)}</pre>",
            ]
        for note in record.notes:
            out.append(f"<p>{_esc(note)}</p>")
        out += self._pauses_html(record.pauses, with_node=True)
        out += self._logs_html(record.all_logs(), with_node=True)
        out += self._artifacts_html(record.artifacts)
        return "".join(out)

    def _node_html(self, node: NodeRecord) -> str:
        out = [f"<h3 style='margin:2px 0'>{_esc(node.node_id)}</h3>"]
        if node.block:
            out.append(f"<p style='color:{self.theme.muted};margin:0'>{_esc(node.block)}</p>")
        if node.replayed and not node.attempts:
            out.append("<p>Reused from before the run was interrupted (not run again).</p>")
        for attempt in node.attempts:
            colour = self.theme.status_color(
                "failed" if attempt.status == "timed_out" else attempt.status
            ).name()
            line = (
                f"Attempt {attempt.attempt} (step {attempt.step}): "
                f"<b style='color:{colour}'>{_esc(attempt.status)}</b>"
            )
            if attempt.duration is not None:
                line += f" in {_esc(human_duration(attempt.duration))}"
            if attempt.started_at:
                line += (
                    f" <span style='color:{self.theme.muted}'>· "
                    f"{_esc(local_time(attempt.started_at))}</span>"
                )
            out.append(self._section("") + f"<p style='margin:0'>{line}</p>")
            if attempt.error:
                suffix = " — will retry" if attempt.will_retry else ""
                suffix += " — caught by the error link" if attempt.handled else ""
                out.append(
                    f"<pre style='color:{self.theme.error};white-space:pre-wrap;margin:2px 0'>"
                    f"{_esc(attempt.error_type or 'Error')}: {_esc(attempt.error)}{_esc(suffix)}"
                    "</pre>"
                )
            if attempt.outputs not in (None, {}, []):
                out.append("<p style='margin:4px 0 0 0'>Outputs:</p>")
                out.append(self._value_block(attempt.outputs))
        if self.record is not None:
            mine = [p for p in self.record.pauses if p.node_id == node.node_id]
            out += self._pauses_html(mine, with_node=False)
        out += self._logs_html(node.logs, with_node=False)
        out += self._artifacts_html(node.artifacts)
        return "".join(out)

    def _pauses_html(self, pauses: list[PauseReport], *, with_node: bool) -> list[str]:
        """The debugger's stops in time order: where, why, how long, how each ended."""
        if not pauses:
            return []
        rows = []
        for pause in pauses:
            when = pause.paused_at.astimezone().strftime("%H:%M:%S")
            where = f"before <b>{_esc(pause.node_id)}</b> " if with_node else ""
            why = _esc(pause.reason or "paused")
            if pause.step is not None:
                why += f", step {pause.step}"
            if pause.ended is None:
                how, colour = "not answered (the run stopped while paused)", self.theme.warning
                if not self.record or not self.record.finished:
                    how = "paused"
            else:
                how = pause.ended.replace("_", " ")
                colour = self.theme.warning if pause.ended == "timed_out" else self.theme.text
                if pause.waited is not None:
                    how += f" after {human_duration(pause.waited)}"
                if pause.edited:
                    how += f", edited {', '.join(pause.edited)}"
            rows.append(
                f"<tr><td style='color:{self.theme.muted}'>{when}</td>"
                f"<td>{where}({why})</td>"
                f"<td style='color:{colour}'>{_esc(how)}</td></tr>"
            )
        return [self._section("Pauses"), "<table cellspacing='4'>", *rows, "</table>"]

    def _logs_html(self, lines: list[Any], *, with_node: bool) -> list[str]:
        if not lines:
            return []
        rows = []
        for line in lines[-500:]:
            colour = {
                "error": self.theme.error,
                "warning": self.theme.warning,
                "debug": self.theme.muted,
            }.get(line.level, self.theme.text)
            who = f"{_esc(line.node_id)}: " if with_node and line.node_id else ""
            when = line.at.astimezone().strftime("%H:%M:%S") if line.at else ""
            rows.append(
                f"<tr><td style='color:{self.theme.muted}'>{when}</td>"
                f"<td style='color:{colour}'>{_esc(line.level)}</td>"
                f"<td>{who}{_esc(line.message)}</td></tr>"
            )
        return [self._section("Log"), "<table cellspacing='4'>", *rows, "</table>"]

    def _artifacts_html(self, artifacts: list[Artifact]) -> list[str]:
        if not artifacts or self.record is None:
            return []
        run_id = self.record.run_id
        self.files.want(run_id, artifacts)
        out = [self._section("Screenshots and files")]
        muted = self.theme.muted
        for index, artifact in enumerate(artifacts):
            caption = _esc(artifact.description or artifact.name)
            link = f"artifact:{index}"
            image = self.files.image(run_id, artifact) if artifact.is_image else None
            error = self.files.error(run_id, artifact)
            if image is not None and artifact.id is not None:
                url = QUrl(f"artifact-image:{run_id}/{artifact.id}")
                self.detail.document().addResource(
                    QTextDocument.ResourceType.ImageResource, url, image
                )
                out.append(
                    f"<p><a href='{link}'><img src='{url.toString()}'"
                    f" width='{self._thumb_width(image)}'></a><br>"
                    f"<span style='color:{muted}'>{caption}</span></p>"
                )
            elif error is not None:
                out.append(
                    f"<p>{caption}: <span style='color:{self.theme.error}'>cannot be shown: "
                    f"{_esc(error)}</span><br><span style='color:{muted}'>made as "
                    f"<code>{_esc(artifact.path)}</code> on the machine that ran the run</span></p>"
                )
            elif artifact.is_image:
                out.append(f"<p>{caption} <span style='color:{muted}'>(loading…)</span></p>")
            else:
                out.append(
                    f"<p><a href='{link}'>{caption}</a> "
                    f"<span style='color:{muted}'>{_esc(artifact.name)}</span></p>"
                )
        return out

    def _thumb_width(self, image: QImage) -> int:
        """Small enough to sit beside the text: at most THUMB_WIDTH wide, THUMB_HEIGHT high."""
        room = max(200, self.detail.viewport().width() - 40)
        width = min(image.width() or THUMB_WIDTH, THUMB_WIDTH, room)
        if image.height() and image.width():
            width = min(width, int(THUMB_HEIGHT * image.width() / image.height()))
        return width

    def _shown_artifacts(self) -> list[Artifact]:
        if self.record is None:
            return []
        node_id = self.current_node()
        if node_id in (None, WHOLE_RUN) or str(node_id) not in self.record.nodes:
            return self.record.artifacts
        return self.record.nodes[str(node_id)].artifacts

    def _anchor(self, url: QUrl) -> None:
        text = url.toString()
        if not text.startswith("artifact:") or self.record is None:
            return
        artifacts = self._shown_artifacts()
        index = int(text.split(":", 1)[1])
        if 0 <= index < len(artifacts):
            self._opening = artifacts[index]
            self._open_when_here()

    def _open_when_here(self) -> None:
        """Open the clicked artifact once its bytes are here (asked for when it was drawn)."""
        artifact, record = self._opening, self.record
        if artifact is None or record is None:
            return
        title = artifact.description or artifact.name
        if artifact.is_image:
            image = self.files.image(record.run_id, artifact)
            if image is None:
                return
            self.dialog = ImageDialog(image, title or "Screenshot", self)
        else:
            data = self.files.data(record.run_id, artifact)
            if data is None:
                self.files.want(record.run_id, [artifact])
                return
            self.dialog = TextDialog(as_text(data), title, self)
        self._opening = None
        self.dialog.open()

    def _artifacts_arrived(self) -> None:
        current = self.current_node()
        if current is not None:
            self._show_detail(current)
        self._open_when_here()

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.show_record(self.record, select=self.current_node())


class RunDetailView(QWidget):
    """A run from the history, loaded from the API."""

    loaded = Signal(str)

    def __init__(
        self,
        link: SupervisorLink,
        theme: Theme,
        parent: QWidget | None = None,
        *,
        orientation: Qt.Orientation = Qt.Orientation.Horizontal,
    ) -> None:
        super().__init__(parent)
        self.link = link
        self.pane = RunPane(theme, orientation=orientation, link=link)
        self.run_id: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pane)

    @property
    def record(self) -> RunRecord | None:
        return self.pane.record

    def show_run(self, run_id: str | None) -> None:
        self.run_id = run_id
        if run_id is None:
            self.pane.show_record(None)
            return
        client = self.link.client

        def work() -> tuple[RunDetail, list[EventInfo]]:
            return client.get_run(run_id), client.run_events(run_id, limit=10_000)

        run_job(work, lambda result: self._loaded(run_id, *result), self._failed, owner=self)

    def _loaded(self, run_id: str, detail: RunDetail, events: list[EventInfo]) -> None:
        if run_id != self.run_id:
            return
        self.pane.show_record(RunRecord.from_detail(detail, events))
        self.loaded.emit(run_id)

    def _failed(self, error: Exception) -> None:
        self.pane.show_record(None)
        self.pane.header.setText(
            f"<span style='color:{self.pane.theme.error}'>Cannot load the run: {_esc(error)}</span>"
        )
