"""What the runs views show about one run, built from live events or from its stored history.

The live view folds events into a ``RunRecord`` as they arrive; the run
detail builds the same record from ``GET /runs/{id}`` and the run's stored
log.  Both then draw the same thing (steps, attempts, outputs, errors, logs,
screenshots), so a finished run reads the same whichever way it was reached.

No Qt here: the folding is tested on recorded event sequences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from supervisor.api.models import EventInfo, RunDetail
from supervisor.run_report import PauseReport, pauses_from_events

#: Step statuses (``StepStatus``) as the editor's badges name them.
BADGE = {
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "retrying": "retrying",
    "timed_out": "failed",
    "cancelled": "cancelled",
}
FINAL_RUN = {"succeeded", "failed", "cancelled"}


def human_duration(seconds: float | None) -> str:
    """Durations as people read them: '42 ms', '1.25 s', '12.3 s', '4 min 05 s', '2 h 03 min'."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    if seconds < 0.001:
        return "< 1 ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def running_duration(seconds: float) -> str:
    """A run still going, in whole seconds: '0 s', '42 s', '4 min 05 s'.

    A clock that ticks once a second showing hundredths ('1.64 s') reads as
    stale between ticks; whole seconds are exact for the whole second shown.
    """
    if seconds < 60:
        return f"{int(seconds)} s"
    return human_duration(float(int(seconds)))


def local_time(value: datetime | str | None, *, seconds: bool = True) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        when = value
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def trigger_kind(label: str | None) -> str:
    """'manual', 'schedule', 'file', 'webhook', 'after' or 'hotkey' for a run's trigger label."""
    if not label:
        return "manual"
    head = label.split(":", 1)[0]
    if head in ("schedule", "file", "webhook", "after", "hotkey"):
        return head
    return "manual"


def trigger_text(label: str | None) -> str:
    """A trigger label made short enough for a table cell."""
    kind = trigger_kind(label)
    if not label or kind == "manual":
        if label and label.startswith("rerun:"):
            return "re-run"
        return "manual"
    rest = label.split(":", 1)[1]
    if kind == "schedule":
        return "schedule " + rest.split("@", 1)[0]
    if kind == "file":
        parts = rest.split(":")
        return f"file {parts[-1]}" if parts else "file"
    if kind == "after":
        return "after " + rest.rsplit(":", 1)[0]
    return f"{kind} {rest}"


@dataclass
class Attempt:
    step: int
    attempt: int
    status: str
    block: str | None = None
    started_at: datetime | None = None
    duration: float | None = None
    outputs: dict[str, Any] | list[Any] | None = None
    error_type: str | None = None
    error: str | None = None
    will_retry: bool = False
    handled: bool = False


@dataclass
class LogLine:
    at: datetime | None
    level: str
    message: str
    node_id: str | None = None
    step: int | None = None


@dataclass
class Artifact:
    #: where the file was made, on the machine that ran the run: a label, never opened here
    path: str
    kind: str
    description: str = ""
    node_id: str | None = None
    step: int | None = None
    #: the history's id, by which the API serves the bytes (None until the row is read)
    id: int | None = None

    @property
    def name(self) -> str:
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def is_image(self) -> bool:
        return self.kind == "screenshot" or self.path.lower().endswith((".png", ".jpg", ".jpeg"))


@dataclass
class NodeRecord:
    node_id: str
    block: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    replayed: bool = False
    #: the run is paused before this node now (live ``node_paused``, not yet resumed)
    paused: bool = False

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def status(self) -> str | None:
        """The node's state as a badge: its last attempt's, 'retrying' between attempts."""
        if self.paused:
            return "paused"
        last = self.last
        if last is None:
            return "succeeded" if self.replayed else None
        return BADGE.get(last.status, last.status)

    @property
    def duration(self) -> float | None:
        known = [a.duration for a in self.attempts if a.duration is not None]
        return sum(known) if known else None

    def attempt(self, step: int, attempt: int) -> Attempt:
        for existing in self.attempts:
            if existing.step == step and existing.attempt == attempt:
                return existing
        made = Attempt(step=step, attempt=attempt, status="running", block=self.block)
        self.attempts.append(made)
        return made


@dataclass
class RunRecord:
    """One run as the views show it."""

    run_id: str
    workflow: str = ""
    status: str = "queued"
    trigger: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None
    error: str | None = None
    failed_node: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    run_logs: list[LogLine] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    last_seq: int = 0
    notes: list[str] = field(default_factory=list)
    #: the debugger's stops, from the stored history (``deskpilot runs show`` lists the same)
    #: and, for a run being watched, from its live events as they arrive
    pauses: list[PauseReport] = field(default_factory=list)
    _pause_events: dict[int, _PauseEvent] = field(default_factory=dict, repr=False)

    @property
    def paused_at(self) -> str | None:
        """The node the run is paused before now, if it is paused."""
        if self.finished:
            return None
        return next((p.node_id for p in reversed(self.pauses) if p.ended is None), None)

    @property
    def finished(self) -> bool:
        return self.status in FINAL_RUN

    def node(self, node_id: str) -> NodeRecord:
        record = self.nodes.get(node_id)
        if record is None:
            record = self.nodes[node_id] = NodeRecord(node_id)
        return record

    def badges(self) -> dict[str, str | None]:
        return {node_id: record.status for node_id, record in self.nodes.items()}

    # -- live events -------------------------------------------------------------------
    def apply(self, item: dict[str, Any]) -> set[str]:
        """Fold one live event in; return the nodes whose display changed."""
        if item.get("run_id") != self.run_id:
            return set()
        seq = item.get("seq")
        if isinstance(seq, int):
            self.last_seq = max(self.last_seq, seq)
        kind = item.get("kind")
        node_id = item.get("node_id")
        at = _when(item.get("at"))
        if kind == "run_queued":
            self.workflow = str(item.get("workflow") or self.workflow)
            self.trigger = str(item.get("trigger") or self.trigger or "")
            if not self.finished:
                self.status = "queued"
            return set()
        if kind == "run_started":
            self.workflow = str(item.get("workflow") or self.workflow)
            self.trigger = item.get("trigger") or self.trigger
            self.inputs = dict(item.get("inputs") or {})
            self.status = "running"
            self.started_at = self.started_at or at
            if item.get("resumed"):
                self.notes.append(f"{local_time(at)} resumed after an interruption")
            return set()
        if kind in ("run_finished", "run_status"):
            self.status = str(item.get("status") or self.status)
            self.error = item.get("error") or self.error
            self.failed_node = item.get("failed_node") or self.failed_node
            self.outputs = dict(item.get("outputs") or self.outputs)
            if isinstance(item.get("duration"), (int, float)):
                self.duration = float(item["duration"])
            self.finished_at = at or self.finished_at
            return self._close_running()
        if kind == "run_cancelled":
            self.status = "cancelled"
            return self._close_running()
        if kind == "run_interrupted":
            self.notes.append(
                f"{local_time(at)} interrupted: {item.get('detail') or item.get('reason')}"
            )
            self.status = "queued" if item.get("will_resume") else "failed"
            return self._close_running()
        if not isinstance(node_id, str):
            if kind == "log":
                self.run_logs.append(_log_line(item, at))
            return set()
        if kind in _PAUSE_KINDS:
            return self._apply_pause(item, node_id, at)
        node = self.node(node_id)
        if kind == "node_started":
            node.paused = False
            node.block = item.get("block") or node.block
            attempt = node.attempt(int(item.get("step") or 0), int(item.get("attempt") or 1))
            attempt.status, attempt.started_at, attempt.block = "running", at, node.block
        elif kind == "node_finished":
            attempt = node.attempt(int(item.get("step") or 0), int(item.get("attempt") or 1))
            attempt.status = "succeeded"
            attempt.duration = _number(item.get("duration"))
            emissions = item.get("emissions") or []
            attempt.outputs = emissions[-1] if len(emissions) == 1 else emissions or None
        elif kind == "node_failed":
            attempt = node.attempt(int(item.get("step") or 0), int(item.get("attempt") or 1))
            failure = str(item.get("failure") or "error")
            attempt.status = {"timeout": "timed_out", "cancelled": "cancelled"}.get(
                failure, "failed"
            )
            attempt.duration = _number(item.get("duration"))
            attempt.error_type = item.get("error_type")
            attempt.error = item.get("message")
            attempt.will_retry = bool(item.get("will_retry"))
            attempt.handled = bool(item.get("handled"))
            if attempt.will_retry:
                attempt.status = "retrying"
        elif kind == "node_retrying":
            last = node.last
            if last is not None:
                last.status = "retrying"
        elif kind == "node_replayed":
            node.replayed = True
        elif kind == "log":
            node.logs.append(_log_line(item, at))
        elif kind == "artifact":
            artifact = Artifact(
                path=str(item.get("path") or ""),
                kind=str(item.get("artifact_kind") or "file"),
                description=str(item.get("description") or ""),
                node_id=node_id,
                step=item.get("step"),
            )
            node.artifacts.append(artifact)
            self.artifacts.append(artifact)
        else:
            return set()
        return {node_id}

    def _apply_pause(self, item: dict[str, Any], node_id: str, at: datetime | None) -> set[str]:
        """A live pause or its end: the Pauses list and the node's badge follow at once.

        Read by ``pauses_from_events``, as the stored history is, so a pause
        looks the same live and after a reload; the node shows in the list
        while paused (before it ever ran) and goes back to its own state after.
        """
        seq = item.get("seq")
        key = seq if isinstance(seq, int) else -1 - len(self._pause_events)
        data = {k: v for k, v in item.items() if k not in _EVENT_FIELDS}
        self._pause_events[key] = _PauseEvent(
            seq=key if key >= 0 else 1 << 62,
            kind=str(item.get("kind")),
            at=at or datetime.now(UTC),
            node_id=node_id,
            step=item.get("step") if isinstance(item.get("step"), int) else None,
            data=data,
        )
        self.pauses = pauses_from_events(self._pause_events.values())
        node = self.node(node_id)
        # from the joined pauses, not the event's kind: an old pause event seen again
        # (a reconnect replays recent events) does not pause a node that went on
        node.paused = any(p.node_id == node_id and p.ended is None for p in self.pauses)
        return {node_id}

    def _close_running(self) -> set[str]:
        """A run that ended leaves no attempt 'running' (a killed worker reports none)."""
        changed: set[str] = set()
        if not self.finished:
            return changed
        for node_id, node in self.nodes.items():
            if node.paused:
                node.paused = False
                changed.add(node_id)
            for attempt in node.attempts:
                if attempt.status in ("running", "retrying"):
                    attempt.status = "cancelled" if self.status == "cancelled" else "failed"
                    changed.add(node_id)
        return changed

    # -- stored history ------------------------------------------------------------------
    @classmethod
    def from_detail(cls, detail: RunDetail, events: list[EventInfo] | None = None) -> RunRecord:
        run = detail.run
        record = cls(
            run_id=run.id,
            workflow=run.workflow_name,
            status=str(run.status),
            trigger=run.trigger,
            started_at=run.started_at,
            finished_at=run.finished_at,
            duration=run.duration,
            error=run.error,
            failed_node=run.failed_node,
            inputs=dict(run.inputs or {}),
            outputs=dict(run.outputs or {}),
        )
        for step in detail.steps:
            node = record.node(step.node_id)
            node.block = step.block or node.block
            attempt = node.attempt(step.step, step.attempt)
            attempt.status = str(step.status)
            attempt.block = step.block
            attempt.started_at = step.started_at
            attempt.duration = step.duration
            attempt.outputs = step.outputs
            attempt.error_type = step.error_type
            attempt.error = step.error
        for info in detail.artifacts:
            artifact = Artifact(
                id=info.id,
                path=info.path,
                kind=info.kind,
                description=info.description or "",
                node_id=info.node_id,
                step=info.step,
            )
            record.artifacts.append(artifact)
            if info.node_id:
                record.node(info.node_id).artifacts.append(artifact)
        record._pause_events = {
            event.seq: _PauseEvent(
                seq=event.seq,
                kind=event.kind,
                at=event.at,
                node_id=event.node_id,
                step=event.step,
                data=event.data,
            )
            for event in events or []
            if event.kind in _PAUSE_KINDS
        }
        record.pauses = pauses_from_events(events or [])
        for event in events or []:
            record.last_seq = max(record.last_seq, event.seq)
            if event.kind != "log":
                if event.kind == "node_replayed" and event.node_id:
                    record.node(event.node_id).replayed = True
                continue
            line = LogLine(
                event.at, event.level or "info", event.message or "", event.node_id, event.step
            )
            if event.node_id:
                record.node(event.node_id).logs.append(line)
            else:
                record.run_logs.append(line)
        return record

    def all_logs(self) -> list[LogLine]:
        lines = list(self.run_logs)
        for node in self.nodes.values():
            lines.extend(node.logs)
        return sorted(lines, key=lambda line: (line.at is None, line.at or datetime.min))


_PAUSE_KINDS = ("node_paused", "node_resumed")
#: fields every live event has; the rest is the event's own data (as the history stores it)
_EVENT_FIELDS = {"kind", "run_id", "seq", "at", "node_id", "step", "level", "message"}


@dataclass(frozen=True)
class _PauseEvent:
    """A pause event, live or stored, in the shape ``pauses_from_events`` reads."""

    seq: int
    kind: str
    at: datetime
    node_id: str | None
    step: int | None
    data: dict[str, Any] | None
    level: str | None = None
    message: str | None = None


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def _log_line(item: dict[str, Any], at: datetime | None) -> LogLine:
    return LogLine(
        at,
        str(item.get("level") or "info"),
        str(item.get("message") or ""),
        item.get("node_id"),
        item.get("step"),
    )
