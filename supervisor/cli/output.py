"""The CLI's output layer: the only place in Deskpilot that prints.

Live progress comes from engine events, shown only after the history store
committed them, so what the terminal reports finished is already durable.
On a terminal we draw a live table (rich); otherwise one plain line per
event, which reads well in logs and CI.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # rich takes a fifth of a second to import: only when something is drawn
    from rich.live import Live
    from rich.table import Table

    # and the engine's events, imported by the view that draws them: every subcommand's
    # module imports this one, and its --help must not pay for them
    from automation.engine.events import Event

STATUS_STYLE = {
    "pending": "dim",
    "running": "cyan",
    "retrying": "yellow",
    "succeeded": "green",
    "replayed": "green",
    "failed": "red",
    "timed_out": "red",
    "cancelled": "magenta",
    "interrupted": "yellow",
    "queued": "dim",
}


def error(message: str) -> None:
    """One clear line on stderr; never a traceback (``--debug`` shows those)."""
    print(f"error: {message}", file=sys.stderr)


def emit_json(data: Any, stream: TextIO | None = None) -> None:
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False), file=stream or sys.stdout)


def line(text: str = "", stream: TextIO | None = None) -> None:
    print(text, file=stream or sys.stdout)


def emit_bytes(data: bytes) -> None:
    """A file's bytes as they are, for a pipe (an artifact: a screenshot, evidence)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@dataclass
class _NodeRow:
    node_id: str
    block: str = ""
    status: str = "pending"
    attempts: int = 0
    executions: int = 0
    duration: float = 0.0
    note: str = ""


@dataclass
class ProgressView:
    """Consumes committed events and shows them, as a live table or as plain lines."""

    live: bool
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    rows: dict[str, _NodeRow] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    _live: Live | None = None
    _run_id: str | None = None

    def start(self, node_ids: Iterable[str]) -> None:
        for node_id in node_ids:
            self.rows.setdefault(node_id, _NodeRow(node_id))
        if self.live:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream)
            self._live = Live(self._table(), console=console, refresh_per_second=8, transient=False)
            self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()
            self._live = None
            for message in self.messages:  # logs and artifacts, after the table
                print(message, file=self.stream)

    def __call__(self, events: Sequence[Event]) -> None:
        for event in events:
            self._apply(event)
        if self._live is not None:
            self._live.update(self._table())

    def _row(self, node_id: str) -> _NodeRow:
        return self.rows.setdefault(node_id, _NodeRow(node_id))

    def _apply(self, event: Event) -> None:
        from automation.engine.events import (
            ArtifactSaved,
            LogEmitted,
            NodeFailed,
            NodeFinished,
            NodeReplayed,
            NodeRetrying,
            NodeStarted,
            RunFinished,
            RunStarted,
        )

        text: str | None = None
        if isinstance(event, RunStarted):
            if event.parent_run_id is None:
                self._run_id = event.run_id
            text = f"run {event.run_id} of '{event.workflow}' started ({event.trigger})"
        elif isinstance(event, NodeStarted):
            row = self._row(event.node_id)
            row.block, row.status, row.attempts = event.block, "running", event.attempt
            if event.attempt == 1:
                row.executions += 1
            text = f"{event.node_id} started" + (
                f" (attempt {event.attempt})" if event.attempt > 1 else ""
            )
        elif isinstance(event, NodeFinished):
            row = self._row(event.node_id)
            row.status, row.duration = "succeeded", row.duration + event.duration
            text = f"{event.node_id} succeeded in {_seconds(event.duration)}"
        elif isinstance(event, NodeReplayed):
            row = self._row(event.node_id)
            row.status, row.executions = "replayed", row.executions + 1
            text = f"{event.node_id} already done in an earlier attempt or run: reused its outputs"
        elif isinstance(event, NodeFailed):
            row = self._row(event.node_id)
            row.status = (
                "retrying"
                if event.will_retry
                else ("timed_out" if event.failure == "timeout" else "failed")
            )
            row.duration += event.duration
            row.note = event.message
            suffix = (
                " — will retry"
                if event.will_retry
                else (" — handled by its error link" if event.handled else "")
            )
            text = f"{event.node_id} failed (attempt {event.attempt}): {event.message}{suffix}"
        elif isinstance(event, NodeRetrying):
            text = f"{event.node_id} retrying in {_seconds(event.delay)} (attempt {event.next_attempt})"
        elif isinstance(event, LogEmitted):
            where = f"{event.node_id}: " if event.node_id else ""
            text = f"[{event.level}] {where}{event.message}"
            if self._live is not None:
                self.messages.append(text)
        elif isinstance(event, ArtifactSaved):
            text = f"{event.node_id} saved {event.artifact_kind}: {event.path}"
            self.messages.append(text)
        elif isinstance(event, RunFinished) and event.run_id == self._run_id:
            text = f"run {event.status} in {_seconds(event.duration)} ({event.steps} steps)"
            if event.error:
                text += f": {event.error}"
        if text is not None and self._live is None:
            print(text, file=self.stream, flush=True)

    def _table(self) -> Table:
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("node")
        table.add_column("block", style="dim")
        table.add_column("status")
        table.add_column("runs", justify="right")
        table.add_column("time", justify="right")
        table.add_column("note", overflow="ellipsis", max_width=60)
        for row in self.rows.values():
            table.add_row(
                row.node_id,
                row.block,
                Text(row.status, style=STATUS_STYLE.get(row.status, "")),
                str(row.executions) + (f" ×{row.attempts}" if row.attempts > 1 else ""),
                _seconds(row.duration) if row.executions else "",
                row.note,
            )
        return table


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 120:
        return f"{value:.2f}s"
    return f"{value / 60:.1f}m"


#: Columns holding ids: never folded, so a run id can be copied (or cut out of a pipe) whole.
ID_COLUMNS = frozenset({"run", "id", "run id"})
#: Piped output has no width to fit: a line per row, however long, so ``grep`` and ``cut`` work.
PIPE_WIDTH = 100_000


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """A plain table on stdout: fitted to a terminal, one unwrapped line per row in a pipe."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = Table(box=None, pad_edge=False, header_style="bold")
    for header in headers:
        if header in ID_COLUMNS:
            out.add_column(header, no_wrap=True, overflow="ignore")
        else:
            out.add_column(header, overflow="fold")
    for row in rows:
        out.add_row(*[Text(str(cell)) if cell is not None else Text("") for cell in row])
    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(soft_wrap=False, width=PIPE_WIDTH)
    console.print(out)
