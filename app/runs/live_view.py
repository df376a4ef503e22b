"""Watch a run as it happens: nodes light up on the editor's canvas as events arrive.

``LiveRunView`` follows one run.  Every live event of that run is folded
into a ``RunRecord``; the nodes it touched are redrawn in the pane below the
canvas and their badges on the editor's canvas change colour (queued, running,
retrying, succeeded, failed).  Selecting a node on the canvas shows its
attempts, outputs, errors and logs here, and the other way round.

A run that is already under way when the view starts following it (from
the history, or after a reconnect) is first loaded from the API, then the
live events the link kept for it are applied on top, so nothing is missed
and nothing is counted twice (attempts are keyed by step and attempt).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from app.editor.widget import EditorWidget
from app.runs.debug_panel import DebugPanel
from app.runs.records import RunRecord, human_duration, running_duration
from app.runs.run_detail import RunPane
from app.supervisor_link import SupervisorLink, run_job
from app.theme import Theme
from supervisor.api.models import EventInfo, RunDetail

log = logging.getLogger(__name__)


class LiveRunView(QWidget):
    """The run being watched, drawn on its editor and in a pane of its own."""

    #: the run being followed changed status ('running', 'failed'...)
    status_changed = Signal(str, str)
    #: a sentence for the status bar
    message = Signal(str)

    def __init__(self, link: SupervisorLink, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self.theme = theme
        self.record: RunRecord | None = None
        self.workflow_path: Path | None = None
        self.editor: EditorWidget | None = None
        self._syncing = False
        self._loading = False
        self._buffer: list[dict[str, Any]] = []
        #: When the run started, on this process's monotonic clock (``_tick``); None: not known.
        self._running_since: float | None = None
        self.elapsed = QLabel()
        self.elapsed.setObjectName("live_elapsed")
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.setToolTip("Stop the run: the running step is cancelled (Shift+F5)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda _c=False: self.cancel())
        self.pane = RunPane(
            theme,
            empty_text="No run yet: press Run (F5) in an editor, or open one from History.",
            link=link,
        )
        self.pane.header_bar.addWidget(self.elapsed)
        self.pane.header_bar.addSpacing(8)
        self.pane.header_bar.addWidget(self.cancel_button)
        self.pane.node_selected.connect(self._pane_selected)
        self.debug = DebugPanel(link, self)
        self.debug.message.connect(self.message)
        self.debug.pause_shown.connect(self._tick)
        # beside the run, not above it: a pause must not take height from the canvas
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("live_splitter")
        self.splitter.addWidget(self.pane)
        self.splitter.addWidget(self.debug)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter, 1)
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)
        link.signals.received.connect(self.apply_event)
        link.signals.stream_opened.connect(self._stream_opened)

    # -- following -------------------------------------------------------------------------
    @property
    def run_id(self) -> str | None:
        return self.record.run_id if self.record else None

    def follow(
        self,
        run_id: str,
        *,
        workflow_path: Path | None = None,
        editor: EditorWidget | None = None,
        load: bool = False,
    ) -> None:
        """Watch ``run_id``; with ``load``, first read what already happened from the API."""
        self.record = RunRecord(run_id=run_id)
        self._running_since = None
        self.debug.clear()
        self.workflow_path = workflow_path
        self.attach_editor(editor)
        if editor is not None:
            self.record.workflow = editor.document.name
            for node_id in editor.document.nodes:
                editor.scene.set_node_status(node_id, "queued")
        self.pane.show_record(self.record)
        self._update_title()
        self._clock.start()
        if load:
            self._load(run_id)
        else:
            for item in self.link.recent_events(run_id):
                self._apply(item)

    def _stream_opened(self) -> None:
        """Events may have been missed while the stream was down: read the run again."""
        record = self.record
        if record is not None and not record.finished and not self._loading:
            self._load(record.run_id)

    def _load(self, run_id: str) -> None:
        self._loading = True
        self._buffer = []
        client = self.link.client

        def work() -> tuple[RunDetail, list[EventInfo]]:
            return client.get_run(run_id), client.run_events(run_id, limit=10_000)

        run_job(work, lambda result: self._loaded(run_id, *result), self._load_failed, owner=self)

    def _loaded(self, run_id: str, detail: RunDetail, events: list[EventInfo]) -> None:
        if self.run_id != run_id:
            return
        self._loading = False
        self.record = RunRecord.from_detail(detail, events)
        if detail.run.running_for is not None:  # counted by the supervisor, on the store's clock
            self._running_since = time.monotonic() - detail.run.running_for
        seen = self.record.last_seq
        pending = self.link.recent_events(run_id) + self._buffer
        self._buffer = []
        self.pane.show_record(self.record)
        for item in pending:
            seq = item.get("seq")
            if not isinstance(seq, int) or seq > seen:
                self._apply(item, redraw=False)
        self.pane.show_record(self.record, select=self.pane.current_node())
        self._light_all()
        self._update_title()
        if not self.record.finished:
            self.debug.refresh(run_id)  # opened while paused: the pause is not in the events

    def _load_failed(self, error: Exception) -> None:
        self._loading = False
        self.message.emit(f"Cannot load the run: {error}")

    def apply_event(self, item: dict[str, Any]) -> None:
        """A live event from the link (events of other runs are ignored)."""
        if self.record is None or item.get("run_id") != self.record.run_id:
            return
        if self._loading:
            self._buffer.append(item)
            return
        self._apply(item)

    def _apply(self, item: dict[str, Any], *, redraw: bool = True) -> None:
        record = self.record
        if record is None:
            return
        before = record.status
        if item.get("kind") == "run_started" and self._running_since is None:
            self._running_since = time.monotonic()  # seen as it happens: no clock to trust
        if item.get("kind") == "node_started" and isinstance(item.get("node_id"), str):
            self.pane.node_since[item["node_id"]] = time.monotonic()
        self._debugger_event(item)
        changed = record.apply(item)
        if redraw:
            self.pane.update_nodes(changed)
            self._light(changed)
        if record.status != before:
            self._update_title()
            self.status_changed.emit(record.run_id, record.status)
            if record.finished:
                self._finish()

    def _debugger_event(self, item: dict[str, Any]) -> None:
        """A pause shows in the debug panel and on the canvas; its end takes it away."""
        kind = item.get("kind")
        node_id = item.get("node_id")
        if kind == "node_paused" and isinstance(node_id, str) and self.record is not None:
            self.debug.show_pause(self.record.run_id, item)
            editor = self._live_editor()
            if editor is not None and node_id in editor.scene.node_items:
                editor.scene.set_node_status(node_id, "paused")
                editor.view.ensureVisible(editor.scene.node_items[node_id], 60, 60)
            self.message.emit(f"Paused before '{node_id}': inspect, edit, then Continue or Step")
        elif kind == "node_resumed" and isinstance(node_id, str) and node_id == self.debug.node_id:
            self.debug.clear()
            self._light({node_id})
        elif kind in ("run_finished", "run_cancelled"):
            self.debug.clear()

    def _finish(self) -> None:
        self._clock.stop()
        self._light_all()
        editor = self._live_editor()
        if editor is not None and self.record is not None:
            # nodes the run never reached lose their 'queued' badge
            for node_id in editor.document.nodes:
                if node_id not in self.record.nodes:
                    editor.scene.set_node_status(node_id, None)
        self.pane.refresh_header()
        record = self.record
        if record is not None and record.failed_node and self.pane.current_node() in (None, ""):
            self.pane.select_node(record.failed_node)  # why it failed, without a click

    # -- the editor ------------------------------------------------------------------------
    def _live_editor(self) -> EditorWidget | None:
        editor = self.editor
        if editor is None or not shiboken6.isValid(editor):
            self.editor = None
            return None
        return editor

    def attach_editor(self, editor: EditorWidget | None) -> None:
        """Light ``editor``'s canvas for this run (and stop lighting the previous one)."""
        previous = self._live_editor()
        if previous is not None and previous is not editor:
            previous.scene.clear_statuses()
            previous.scene.selectionChanged.disconnect(self._canvas_selected)
            previous.document.unsubscribe(self._document_changed)
        if editor is not None and editor is not previous:
            editor.scene.selectionChanged.connect(self._canvas_selected)
            editor.document.subscribe(self._document_changed)
            editor.destroyed.connect(self._editor_gone)
        self.editor = editor
        self._light_all()

    def _editor_gone(self) -> None:
        self.editor = None

    def _document_changed(self, _event: object) -> None:
        # a reset rebuilds the node items without their badges: put them back afterwards
        QTimer.singleShot(0, self._light_all)

    def _light(self, node_ids: set[str]) -> None:
        editor = self._live_editor()
        if editor is None or self.record is None:
            return
        for node_id in node_ids:
            node = self.record.nodes.get(node_id)
            if node is not None:
                editor.scene.set_node_status(node_id, node.status)

    def _light_all(self) -> None:
        editor = self._live_editor()
        if editor is None or self.record is None:
            return
        badges = self.record.badges()
        for node_id in editor.document.nodes:
            if node_id in badges:
                editor.scene.set_node_status(node_id, badges[node_id])
            elif self.record.finished:
                editor.scene.set_node_status(node_id, None)
            else:
                editor.scene.set_node_status(node_id, "queued")

    def _canvas_selected(self) -> None:
        editor = self._live_editor()
        if editor is None or self._syncing:
            return
        selected = editor.scene.selected_node_ids()
        if len(selected) != 1:
            return
        self._syncing = True
        try:
            if self.record is not None and selected[0] in self.record.nodes:
                self.pane.select_node(selected[0])
            else:
                self.pane.show_unrun(selected[0])
        finally:
            self._syncing = False

    def _pane_selected(self, node_id: str) -> None:
        editor = self._live_editor()
        if editor is None or self._syncing or node_id not in editor.scene.node_items:
            return
        self._syncing = True
        try:
            editor.scene.select_nodes([node_id])
            editor.view.ensureVisible(editor.scene.node_items[node_id], 60, 60)
        finally:
            self._syncing = False

    # -- cancelling and the title ------------------------------------------------------------
    def cancel(self) -> None:
        record = self.record
        if record is None or record.finished:
            return
        run_id = record.run_id
        self.cancel_button.setEnabled(False)
        self.message.emit(f"Cancelling run {run_id[:12]}…")
        run_job(
            lambda: self.link.cancel_run(run_id),
            lambda _ok: self.message.emit(f"Run {run_id[:12]} cancelled"),
            lambda error: self._cancel_failed(error),
            owner=self,
        )

    def _cancel_failed(self, error: Exception) -> None:
        self.message.emit(f"Cannot cancel: {error}")
        self._update_title()

    @property
    def can_cancel(self) -> bool:
        return self.record is not None and not self.record.finished

    def _update_title(self) -> None:
        record = self.record
        if record is None:
            return
        self.pane.refresh_header()
        self.cancel_button.setEnabled(not record.finished)
        self._tick()

    def _tick(self) -> None:
        record = self.record
        if record is None:
            self.elapsed.clear()
            return
        if record.finished:
            self.elapsed.setText(human_duration(record.duration))
            return
        if self.debug.node_id is not None:  # not "running for ..." while it waits for the user
            self.elapsed.setText(f"paused before '{self.debug.node_id}'")
            return
        if self._running_since is not None:
            # Not this machine's "now" less ``started_at``: that stamp is on the clock of the
            # database or of the machine running it, and this one's may be minutes off.
            seconds = max(0.0, time.monotonic() - self._running_since)
            self.elapsed.setText(f"running for {running_duration(seconds)}")
            self.pane.refresh_running()
            # the next tick on the run's next whole second: a once-a-second tick out of step
            # with the run showed "1.64 s" when it had run for 2.5
            if self._clock.isActive():
                self._clock.start(1000 - int((seconds % 1.0) * 1000) + 5)
        elif record.started_at is not None:
            self.elapsed.setText("running")
        else:
            self.elapsed.setText("waiting for a worker…")

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.pane.set_theme(theme)
        self._update_title()
