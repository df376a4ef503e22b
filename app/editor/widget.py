"""One editor tab: palette | canvas | properties, a problems list, and the undo stack.

Why our own canvas and not NodeGraphQt: NodeGraphQt brings its own node
model and serialisation (a JSON session format with its own ids and
properties), so the workflow would live in two models kept in sync by hand,
and byte-identical saving, our pin type checks and forms generated from JSON
Schema would all be fighting its defaults.  Its ``NodeGraph`` class is a
single very large module mixing model, undo, menus and widgets, which is the
shape we avoid (STYLE.md).  What we need from a graph library (items, a
view, bezier links, rubber-band selection, zoom) is a few hundred lines on
``QGraphicsScene``/``QGraphicsView``, with the document as the only model.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QKeySequence,
    QShortcut,
    QUndoCommand,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.connection import SupervisorConnection
from app.editor.checking import CheckResult, check_document, problem_text
from app.editor.clipboard import copy_fragment, parse_fragment
from app.editor.commands import (
    AddNodeCommand,
    MoveNodesCommand,
    RemoveItemsCommand,
    SetNodeKeyCommand,
    connect_command,
    paste_command,
)
from app.editor.document import UNSET, WorkflowDocument
from app.editor.layout import free_spot
from app.editor.live_breakpoints import LiveBreakpoints
from app.editor.node_item import WIDTH
from app.editor.palette import BlockPalette
from app.editor.properties import PropertyPanel
from app.editor.recording import RecordingSession, recorded_fragment
from app.editor.scene import EditorScene
from app.editor.view import EditorView
from app.resources import icon as load_icon
from app.theme import Theme
from automation.blocks.registry import BlockRegistry
from automation.errors import DeskpilotError
from automation.model import Link

log = logging.getLogger(__name__)

VALIDATION_DELAY_MS = 300
Position = tuple[float, float]


class EditorWidget(QWidget):
    status_message = Signal(str)
    #: the tab title changed (name, or modified state)
    title_changed = Signal(str)
    saved = Signal(Path)
    #: validation finished: number of problems
    checked = Signal(int)
    #: the breakpoints on the canvas changed: the nodes that have one
    breakpoints_changed = Signal(list)

    def __init__(
        self,
        document: WorkflowDocument,
        registry: BlockRegistry,
        theme: Theme,
        connection: SupervisorConnection | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.registry = registry
        self.theme = theme
        self.connection = connection
        #: asks for the run's inputs before Run (None: the user cancelled); set by the runs panels
        self.ask_inputs: Callable[[WorkflowDocument], dict[str, Any] | None] | None = None
        self.undo_stack = QUndoStack(self)
        self.result = CheckResult([])
        self.scene = EditorScene(document, registry, theme, self)
        self.view = EditorView(self.scene)
        self.blocks = BlockPalette(registry, theme)
        self.properties = PropertyPanel(
            document, registry, theme, self.push, secret_names=self._secret_names
        )
        self.problems = QListWidget()
        self.problems.setAccessibleName("Problems")
        # a fixed strip, shown even when empty: the canvas does not jump as problems come and go
        self.problems.setFixedHeight(3 * self.problems.fontMetrics().lineSpacing() + 8)
        self.problems.setWordWrap(True)
        self.problems.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._build_layout()
        self._validation_timer = QTimer(self)
        self._validation_timer.setSingleShot(True)
        self._validation_timer.setInterval(VALIDATION_DELAY_MS)
        self._validation_timer.timeout.connect(self.validate_now)
        self.scene.connect_requested.connect(self._connect)
        self.scene.nodes_moved.connect(
            lambda moves: self.push(MoveNodesCommand(self.document, moves))
        )
        self.scene.message.connect(self.status_message)
        self.scene.selectionChanged.connect(self._selection_changed)
        self.view.block_dropped.connect(self.add_block)
        self.view.nudge_requested.connect(self.nudge)
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{round(z * 100)}%"))
        self.blocks.block_activated.connect(lambda block_id: self.add_block(block_id))
        self.problems.itemActivated.connect(self._problem_activated)
        self.problems.itemClicked.connect(self._problem_activated)
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        #: the runs this editor started, told when its breakpoints change
        self.live_breakpoints = LiveBreakpoints(connection, self.status_message.emit)
        self._shown_breakpoints = self._document_breakpoints()
        self.breakpoints_changed.connect(self.live_breakpoints.changed)
        document.subscribe(self._on_document)
        if connection is not None:
            connection.subscribe(self._connection_changed)
        self._connection_changed()
        self._validation_timer.start()

    def _build_layout(self) -> None:
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 0)
        self.run_button = self._tool("Run", "Run this workflow (F5)", "run")
        self.layout_button = self._tool("Tidy up", "Arrange nodes left to right (Ctrl+L)", "layout")
        self.fit_button = self._tool("Fit", "Show the whole workflow (Ctrl+0)", "fit")
        self.run_button.clicked.connect(self.run)
        self.layout_button.clicked.connect(self.auto_layout)
        self.fit_button.clicked.connect(self.view.fit_all)
        self.record_button = self._tool(
            "Record", "Record clicks and typing on the desktop into this workflow", "record"
        )
        self.record_button.clicked.connect(self.toggle_recording)
        self.breakpoint_button = self._tool(
            "Breakpoint",
            "Pause runs before the selected node, to inspect and edit its values (F9)",
            "breakpoint",
        )
        self.breakpoint_button.clicked.connect(self.toggle_breakpoint)
        QShortcut(QKeySequence("F9"), self, self.toggle_breakpoint)
        self.run_from_button = self._tool(
            "Run from here",
            "Run again from the selected node, reusing the last run's outputs "
            "of the nodes before it (Ctrl+F5)",
            "step",
        )
        self.run_from_button.clicked.connect(self.run_from_here)
        QShortcut(QKeySequence("Ctrl+F5"), self, self.run_from_here)
        self.recording = RecordingSession(self)
        self.recording.finished.connect(self._recorded)
        self.recording.failed.connect(self._recording_failed)
        self.state_label = QLabel()
        self.state_label.setObjectName("validation_state")
        self.zoom_label = QLabel("100%")
        self.zoom_label.setToolTip("Zoom: Ctrl+wheel, Ctrl++ / Ctrl+-")
        for widget in (
            self.run_button,
            self.breakpoint_button,
            self.run_from_button,
            self.record_button,
            self.layout_button,
            self.fit_button,
        ):
            bar.addWidget(widget)
        bar.addSpacing(12)
        bar.addWidget(self.state_label, 1)
        bar.addWidget(self.zoom_label)
        canvas = QSplitter(Qt.Orientation.Vertical)
        canvas.addWidget(self.view)
        canvas.addWidget(self.problems)
        canvas.setStretchFactor(0, 5)
        canvas.setStretchFactor(1, 1)
        canvas.setChildrenCollapsible(False)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("editor_splitter")
        self.splitter.addWidget(self.blocks)
        self.splitter.addWidget(canvas)
        self.splitter.addWidget(self.properties)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        # the canvas takes what the palette and the form leave (stretch 1)
        self.splitter.setSizes([170, 800, 290])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.splitter, 1)

    def _tool(self, text: str, tip: str, icon: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setIcon(load_icon(icon))
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.setAutoRaise(True)
        button.setAccessibleName(text)
        return button

    # -- state ---------------------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        return self.document.path

    def _clean_changed(self, _clean: bool) -> None:
        # the stack also reports while it is destroyed with this widget
        if shiboken6.isValid(self) and shiboken6.isValid(self.undo_stack):
            self.title_changed.emit(self.title())

    def title(self) -> str:
        return self.document.name + ("" if self.undo_stack.isClean() else " *")

    def is_dirty(self) -> bool:
        return not self.undo_stack.isClean()

    def push(self, command: QUndoCommand) -> None:
        try:
            self.undo_stack.push(command)
        except (ValueError, KeyError) as exc:  # an edit the document refused
            log.warning("edit refused: %s", exc)
            self.status_message.emit(f"Could not {command.text().lower()}: {exc}")

    def _secret_names(self) -> Sequence[str]:
        names: set[str] = set()
        if self.connection is not None and self.connection.connected:
            names.update(self.connection.secret_names())
        return sorted(names)

    def can_run(self) -> bool:
        return (
            self.connection is not None
            and self.connection.connected
            and self.document.path is not None
        )

    def _connection_changed(self) -> None:
        ok = self.connection is not None and self.connection.connected
        self.run_button.setEnabled(self.can_run())
        self.run_button.setToolTip(
            "Run this workflow (F5)" if ok else "Run needs the supervisor (not connected)"
        )

    # -- edits -----------------------------------------------------------------------------
    def add_block(self, block_id: str, position: QPointF | None = None) -> str | None:
        block = self.registry.get(block_id)
        if block is None:
            self.status_message.emit(f"Unknown block '{block_id}'")
            return None
        node_id = self.document.unique_node_id(block_id.split(".")[-1])
        where = position if position is not None else self._free_spot()
        node = {"block": block_id, "position": [round(where.x()), round(where.y())]}
        self.push(AddNodeCommand(self.document, node_id, node))
        self.scene.select_nodes([node_id])
        self.status_message.emit(f"Added '{node_id}' ({block_id})")
        return node_id

    def _free_spot(self) -> QPointF:
        """Free space beside the selected node, or else near the middle of the visible canvas.

        Never on top of a node: the nearest spot where a new node overlaps none
        (app.editor.layout.free_spot).
        """
        boxes = [
            (i.pos().x(), i.pos().y(), i.boundingRect().width(), i.height)
            for i in self.scene.node_items.values()
        ]
        selected = [self.scene.node_items[n] for n in self.scene.selected_node_ids()
                    if n in self.scene.node_items]  # fmt: skip
        if len(selected) == 1:  # to its right, where the next step of a flow goes
            item = selected[0]
            anchor = (item.pos().x() + item.boundingRect().width() + 60, item.pos().y())
        else:
            centre = self.view.mapToScene(self.view.viewport().rect().center())
            anchor = (centre.x() - WIDTH / 2, centre.y() - 40)
        x, y = free_spot(boxes, anchor)
        return QPointF(x, y)

    def _connect(self, link: Link) -> None:
        had_value = link.target_pin in self.document.node_inputs(link.target)
        self.push(connect_command(self.document, link))
        note = " (its value under 'with' was removed; undo brings it back)" if had_value else ""
        self.status_message.emit(f"Linked {link}{note}")

    def delete_selection(self) -> None:
        nodes = self.scene.selected_node_ids()
        links = self.scene.selected_links()
        if nodes or links:
            self.push(RemoveItemsCommand(self.document, nodes, links))

    def nudge(self, dx: float, dy: float) -> None:
        moves: dict[str, tuple[Position | None, Position]] = {}
        for node_id in self.scene.selected_node_ids():
            x, y = self.scene.display_position(node_id)
            old = self.document.nodes[node_id].get("position")
            before = (float(old[0]), float(old[1])) if isinstance(old, list) else None
            moves[node_id] = (before, (x + dx, y + dy))
        if moves:
            self.push(MoveNodesCommand(self.document, moves, mergeable=True))

    def auto_layout(self) -> None:
        if not self.document.nodes:
            return
        moves: dict[str, tuple[Position | None, Position]] = {}
        for node_id, new in self.scene.auto_layout_positions().items():
            old = self.document.nodes[node_id].get("position")
            before = (float(old[0]), float(old[1])) if isinstance(old, list) else None
            if before != (round(new[0]), round(new[1])):
                moves[node_id] = (before, new)
        if moves:
            command = MoveNodesCommand(self.document, moves)
            command.setText("Tidy up layout")
            self.push(command)
        self.view.fit_all()

    def select_all(self) -> None:
        self.scene.select_nodes(self.document.nodes)

    def copy(self) -> bool:
        nodes = self.scene.selected_node_ids()
        if not nodes:
            return False
        text = copy_fragment(self.document, nodes)
        # Plain text on purpose: the fragment is readable YAML, so it pastes into an editor
        # too, and a QMimeData made in Python would be a wrapper the clipboard deletes
        # after the interpreter has gone (a crash at exit).
        QGuiApplication.clipboard().setText(text)
        self.status_message.emit(f"Copied {len(nodes)} node{'s' if len(nodes) != 1 else ''}")
        return True

    def cut(self) -> None:
        if self.copy():
            self.delete_selection()

    def paste(self, text: str | None = None) -> list[str]:
        if text is None:
            text = QGuiApplication.clipboard().text()
        positions = {nid: self.scene.display_position(nid) for nid in self.document.nodes}
        parsed = parse_fragment(self.document, text, positions)
        if parsed is None:
            self.status_message.emit("Nothing to paste: the clipboard holds no nodes")
            return []
        nodes, links = parsed
        self.push(paste_command(self.document, nodes, links))
        self.scene.select_nodes(nodes)
        return list(nodes)

    # -- selection and problems ---------------------------------------------------------------
    def _selection_changed(self) -> None:
        self.properties.show_selection(self.scene.selected_node_ids())

    def _problem_activated(self, item: QListWidgetItem) -> None:
        node_id = item.data(Qt.ItemDataRole.UserRole)
        if node_id and node_id in self.scene.node_items:
            self.scene.select_nodes([node_id])
            self.view.ensureVisible(self.scene.node_items[node_id], 60, 60)

    def _on_document(self, _event: Any) -> None:
        self._validation_timer.start()
        now = self._document_breakpoints()
        if now != self._shown_breakpoints:  # toggled, or an undo/redo that touched one
            self._shown_breakpoints = now
            self.breakpoints_changed.emit(now)

    def _document_breakpoints(self) -> list[str]:
        return sorted(n for n, node in self.document.nodes.items() if node.get("break"))

    def validate_now(self) -> CheckResult:
        self._validation_timer.stop()
        self.result = check_document(self.document, self.registry, secret_names=None)
        self.scene.set_issues(self.result.by_node)
        self.properties.set_issues(self.result.by_node)
        self.problems.clear()
        for issue in self.result.errors + self.result.warnings:
            item = QListWidgetItem(problem_text(issue))
            item.setData(Qt.ItemDataRole.UserRole, issue.node)
            item.setForeground(QColor(self.theme.error if issue.is_error else self.theme.warning))
            self.problems.addItem(item)
        count = len(self.result.errors)
        warnings = len(self.result.warnings)
        if count == 0:
            noted = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
            self.state_label.setText(f"<span style='color:{self.theme.ok}'>✓ valid{noted}</span>")
        else:
            plural = "" if count == 1 else "s"
            self.state_label.setText(
                f"<span style='color:{self.theme.error}'>✗ {count} problem{plural}</span>"
            )
        self.checked.emit(count)
        return self.result

    # -- saving and running ------------------------------------------------------------------
    def save(self, path: Path | None = None) -> Path:
        """Write the file (unchanged bytes when nothing changed); raise DeskpilotError on failure."""
        target = path or self.document.path
        if target is None:
            raise DeskpilotError("choose where to save this workflow first")
        # Nodes the file does not place stay unplaced: the automatic layout puts them
        # back where they were on the next open, and a save after editing one node
        # changes that node's lines and nothing else in the person's file.
        text = self.document.to_text()
        if not _holds(target, text):  # an unchanged file is not touched (no needless reload)
            write_atomically(target, text)
        self.document.mark_saved(text, target)
        self.undo_stack.setClean()
        self.title_changed.emit(self.title())
        self._connection_changed()
        self.saved.emit(target)
        self.status_message.emit(f"Saved {target}")
        return target

    def run(self) -> str | None:
        if self.connection is None or not self.connection.connected:
            self.status_message.emit("Cannot run: the supervisor is not connected")
            return None
        if self.document.path is None:
            self.status_message.emit("Save the workflow before running it")
            return None
        if self.is_dirty():
            self.save()
        inputs: dict[str, Any] = {}
        if self.ask_inputs is not None:
            asked = self.ask_inputs(self.document)
            if asked is None:
                return None
            inputs = asked
        breakpoints = sorted(self.breakpoints())
        try:
            if breakpoints:
                run_id = self.connection.start_run(
                    self.document.path, inputs, breakpoints=breakpoints
                )
            else:
                run_id = self.connection.start_run(self.document.path, inputs)
        except DeskpilotError as exc:
            self.status_message.emit(f"Cannot run: {exc}")
            return None
        self.live_breakpoints.started(run_id)
        self.status_message.emit(f"Started run {run_id}")
        return run_id

    # -- the step debugger -------------------------------------------------------------------
    def breakpoints(self) -> set[str]:
        """Nodes with a breakpoint that are still in the document."""
        return {n for n in self.scene.breakpoints if n in self.document.nodes}

    def run_from_here(self) -> str | None:
        """Run the saved file again from the selected node, reusing the last run's upstream outputs."""
        selected = self.scene.selected_node_ids()
        if len(selected) != 1:
            self.status_message.emit("Select the one node to run from")
            return None
        if self.connection is None or not self.connection.connected:
            self.status_message.emit("Cannot run: the supervisor is not connected")
            return None
        if self.document.path is None:
            self.status_message.emit("Save the workflow before running it")
            return None
        if self.is_dirty():
            self.save()
        try:
            run_id = self.connection.run_from(
                self.document.path,
                self.document.name,
                selected[0],
                breakpoints=sorted(self.breakpoints()),
            )
        except DeskpilotError as exc:
            self.status_message.emit(f"Cannot run from '{selected[0]}': {exc}")
            return None
        self.live_breakpoints.started(run_id)
        self.status_message.emit(f"Started run {run_id} from '{selected[0]}'")
        return run_id

    def toggle_breakpoint(self) -> None:
        """Set or clear a breakpoint on each selected node; the next run pauses before them.

        A breakpoint is ``break: true`` on the node, saved with the file (and
        undone with Ctrl+Z), so ``deskpilot run`` and ``submit --wait`` pause
        there too.
        """
        selected = self.scene.selected_node_ids()
        if not selected:
            self.status_message.emit("Select a node to set a breakpoint on it")
            return
        for node_id in selected:
            on = not self.document.node(node_id).get("break")
            self.push(SetNodeKeyCommand(self.document, node_id, "break", True if on else UNSET))
            self.status_message.emit(
                f"Breakpoint {'set on' if on else 'cleared from'} '{node_id}'"
                + ("; runs started with Run (F5) pause before it" if on else "")
            )

    # -- recording ---------------------------------------------------------------------------
    def toggle_recording(self) -> None:
        """Start recording the desktop, or stop and insert what was recorded."""
        if self.recording.active:
            self.record_button.setEnabled(False)
            self.record_button.setText("Record")
            self.status_message.emit("Stopping: working out the targets of the clicks...")
            self.recording.stop()
            return
        if self.document.path is None:
            self.status_message.emit(
                "Save the workflow before recording: the recorded images go next to its file"
            )
            return
        try:
            self.recording.start()
        except DeskpilotError as exc:
            self.status_message.emit(f"Cannot record: {exc}")
            return
        self.record_button.setText("Stop")
        self.record_button.setToolTip("Stop recording and add the recorded steps")
        self.status_message.emit(
            "Recording: work in your applications, then press Stop (this window is not recorded)"
        )

    def _recording_failed(self, message: str) -> None:
        self._recording_done()
        self.status_message.emit(message)

    def _recording_done(self) -> None:
        self.record_button.setEnabled(True)
        self.record_button.setText("Record")
        self.record_button.setToolTip("Record clicks and typing on the desktop into this workflow")

    def _recorded(self, recording: Any) -> None:
        self._recording_done()
        path = self.document.path
        if path is None or not recording.steps:
            self.status_message.emit("Nothing was recorded")
            return
        selected = self.scene.selected_node_ids()
        spot = self._free_spot()
        try:
            nodes, links = recorded_fragment(
                recording,
                path,
                set(self.document.nodes),
                (round(spot.x()), round(spot.y())),
                selected[0] if len(selected) == 1 else None,
            )
        except DeskpilotError as exc:
            self.status_message.emit(f"Cannot add the recording: {exc}")
            return
        command = paste_command(self.document, nodes, links)
        command.setText(f"Record {len(nodes)} step{'s' if len(nodes) != 1 else ''}")
        self.push(command)
        self.scene.select_nodes(list(nodes))
        self.status_message.emit(f"Recorded {len(nodes)} steps")

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.scene.set_theme(theme)
        self.view.resetCachedContent()

    def close_editor(self) -> None:
        """Detach from the document and the connection (the tab is going away)."""
        self._validation_timer.stop()
        if self.recording.active:
            self.recording.stop()
        self.scene.detach()
        self.properties.detach()
        self.document.unsubscribe(self._on_document)
        if self.connection is not None:
            self.connection.unsubscribe(self._connection_changed)


def _holds(path: Path, text: str) -> bool:
    try:
        return path.read_bytes() == text.encode("utf-8")
    except OSError:
        return False


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(temp, path.stat().st_mode & 0o777)
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise DeskpilotError(f"cannot save {path}: {exc.strerror or exc}") from None
