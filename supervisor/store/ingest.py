"""Turn a batch of engine events into rows, inside one transaction.

A batch is applied as a few ``executemany`` calls rather than one statement
per event: this is what lets the recorder keep up with a 10,000-node run.
Inside a segment of the batch, every step insert runs before every step
update, and events rows after both; that order is only safe while no step
attempt is touched twice, so a segment ends whenever one would be (a resumed
run restarting an attempt in flight when its worker died), and around run
events, which other rows depend on.

Events describe what already happened, so they are applied as facts: the
lifecycle guard in ``HistoryStore.set_run_status`` is for commands, not here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, literal, select, update

from automation.engine.events import (
    ArtifactSaved,
    Event,
    LogEmitted,
    NodeFailed,
    NodeFinished,
    NodePaused,
    NodeReplayed,
    NodeResumed,
    NodeRetrying,
    NodeStarted,
    RunFinished,
    RunStarted,
    RunStatus,
    StepStatus,
)
from supervisor.store.artifacts import ArtifactContent, insert_contents, read_content
from supervisor.store.chain_fires import add_chain_fire, goes_to_outbox
from supervisor.store.records import whole_span
from supervisor.store.schema import runs, workflow_versions, workflows
from supervisor.store.statements import (
    FAIL_COLUMNS,
    FAIL_STEP,
    FINISH_COLUMNS,
    FINISH_STEP,
    INSERT_ARTIFACT,
    INSERT_EVENT,
    STEP_COLUMNS,
    UPSERT_STEP,
    HotStatement,
)
from supervisor.store.types import UTCDateTime, dump_json, to_micros

logger = logging.getLogger(__name__)

#: Strings in a step's outputs summary are cut to this many characters.
SUMMARY_STRING_LIMIT = 2048
#: Lists in a step's outputs summary keep this many items.
SUMMARY_LIST_LIMIT = 100

FAILURE_STATUS = {
    "error": StepStatus.FAILED.value,
    "timeout": StepStatus.TIMED_OUT.value,
    "cancelled": StepStatus.CANCELLED.value,
}
_RUNNING = StepStatus.RUNNING.value
_SUCCEEDED = StepStatus.SUCCEEDED.value
_FAILED = StepStatus.FAILED.value

_COMMON_FIELDS = frozenset({"run_id", "seq", "at", "kind"})

StepKey = tuple[str, int, int]

# Where the values an ending writes go in a step row, for folding it into its start.
_FOLD_FINISHED = slice(
    STEP_COLUMNS.index(FINISH_COLUMNS[0]),
    STEP_COLUMNS.index(FINISH_COLUMNS[0]) + len(FINISH_COLUMNS),
)
_FOLD_FAILED = tuple(STEP_COLUMNS.index(column) for column in FAIL_COLUMNS)


def summarise(value: Any, depth: int = 0) -> Any:
    """A display copy of an emission: long strings and long lists cut short."""
    if isinstance(value, str):
        if len(value) > SUMMARY_STRING_LIMIT:
            return value[:SUMMARY_STRING_LIMIT] + f"… ({len(value)} characters)"
        return value
    if depth > 32:
        return str(value)[:SUMMARY_STRING_LIMIT]
    if isinstance(value, dict):
        return {key: summarise(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        head = [summarise(item, depth + 1) for item in value[:SUMMARY_LIST_LIMIT]]
        if len(value) > SUMMARY_LIST_LIMIT:
            head.append(f"… {len(value) - SUMMARY_LIST_LIMIT} more items")
        return head
    return value


def _emission_columns(emissions: list[dict[str, Any]]) -> tuple[str | None, str]:
    """(display summary of the last emission, every emission), as JSON text."""
    full = dump_json(emissions)
    if not emissions:
        return None, full
    if len(emissions) == 1 and len(full) <= SUMMARY_STRING_LIMIT:
        # The usual step: one short emission, whose JSON is the list's without brackets.
        return full[1:-1], full
    return dump_json(summarise(emissions[-1])), full


def _step_row(event: NodeStarted) -> list[Any]:
    """A step row in ``STEP_COLUMNS`` order."""
    return [
        event.run_id,
        event.step,
        event.node_id,
        event.block,
        event.attempt,
        to_micros(event.at),
        _RUNNING,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    ]


@dataclass
class _Segment:
    #: Step attempts started in this segment; an ending seen in the same segment is folded in.
    started: dict[StepKey, list[Any]] = field(default_factory=dict)
    finished: list[tuple[Any, ...]] = field(default_factory=list)
    failed: list[tuple[Any, ...]] = field(default_factory=list)
    event_rows: list[tuple[Any, ...]] = field(default_factory=list)
    artifact_rows: list[tuple[Any, ...]] = field(default_factory=list)
    #: Copies of those artifacts' bytes: (run id, path) -> content (the newest row gets it).
    artifact_contents: dict[tuple[str, str], ArtifactContent] = field(default_factory=dict)
    ended: dict[StepKey, NodeFinished | NodeFailed] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.started or self.finished or self.failed or self.event_rows or self.artifact_rows
        )


class Ingest:
    """Applies batches of events on one connection; build one per transaction."""

    def __init__(
        self,
        connection: Connection,
        chain_sources: frozenset[str] = frozenset(),
        chains_in_store: bool = False,
    ) -> None:
        self.connection = connection
        #: Workflows ``after`` triggers chain from: their runs' ends go to the chain outbox.
        self.chain_sources = chain_sources
        self.chains_in_store = chains_in_store
        self._segment = _Segment()
        self._handlers: dict[type[Event], Callable[[Any], None]] = {
            NodeStarted: self._node_started,
            NodeFinished: self._node_finished,
            NodeFailed: self._node_failed,
            LogEmitted: self._log,
            ArtifactSaved: self._artifact,
            RunStarted: self._run_started,
            RunFinished: self._run_finished,
        }

    def apply(self, batch: Sequence[Event]) -> None:
        handlers = self._handlers
        for event in batch:
            handler = handlers.get(type(event))
            if handler is None:
                self._other(event)
            else:
                handler(event)
        self._flush()

    # -- step attempts -------------------------------------------------------------

    def _node_started(self, event: NodeStarted) -> None:
        key = (event.run_id, event.step, event.attempt)
        segment = self._segment
        if key in segment.started or key in segment.ended:
            segment = self._flush()
        segment.started[key] = _step_row(event)

    def _node_finished(self, event: NodeFinished) -> None:
        outputs, emissions = _emission_columns(event.emissions)
        values = (
            _SUCCEEDED,
            to_micros(event.at),
            event.duration,
            outputs,
            emissions,
            dump_json(event.vars_set) if event.vars_set else "{}",
        )
        self._end(event, values, _FOLD_FINISHED, finished=True)

    def _node_failed(self, event: NodeFailed) -> None:
        values = (
            FAILURE_STATUS.get(event.failure, _FAILED),
            to_micros(event.at),
            event.duration,
            event.error_type,
            event.message,
            event.failure,
        )
        self._end(event, values, _FOLD_FAILED, finished=False)

    def _end(
        self,
        event: NodeFinished | NodeFailed,
        values: tuple[Any, ...],
        fold: slice | tuple[int, ...],
        *,
        finished: bool,
    ) -> None:
        key = (event.run_id, event.step, event.attempt)
        segment = self._segment
        if key in segment.ended:
            segment = self._flush()
        segment.ended[key] = event
        row = segment.started.get(key)
        if row is not None:
            # Started in this same transaction: write the ended row once, no update.
            if isinstance(fold, slice):
                row[fold] = values
            else:
                for index, value in zip(fold, values, strict=True):
                    row[index] = value
            return
        (segment.finished if finished else segment.failed).append((*values, *key))

    # -- events and artifacts ---------------------------------------------------------

    def _log(self, event: LogEmitted) -> None:
        self._segment.event_rows.append(
            (
                event.run_id,
                event.seq,
                event.kind,
                to_micros(event.at),
                event.node_id,
                event.step,
                event.level,
                event.message,
                dump_json(event.data) if event.data else None,
            )
        )

    def _other(self, event: Event) -> None:
        """Retries, replays, and any event kind added later: kept in the run's event log."""
        data = {k: v for k, v in event.to_dict().items() if k not in _COMMON_FIELDS}
        if isinstance(event, NodeRetrying):
            level = "warning"
            message = f"retrying in {event.delay:g} s (attempt {event.next_attempt})"
        elif isinstance(event, NodeReplayed):
            level = "info"
            message = "reused the outputs this step recorded before the run was interrupted"
        elif isinstance(event, NodePaused):
            level = "info"
            message = f"paused before this node ({event.reason}); waits {event.timeout:g} s"
        elif isinstance(event, NodeResumed):
            level = "warning" if event.timed_out else "info"
            message = (
                f"nobody answered the pause in {event.waited:.0f} s: the run continues "
                "without its breakpoints"
                if event.timed_out
                else f"resumed ({event.action}) after {event.waited:.1f} s"
                + (f", edited {', '.join(event.edited)}" if event.edited else "")
            )
        else:
            level = "info"
            message = event.kind.replace("_", " ")
        node_id = data.pop("node_id", None)
        step = data.pop("step", None)
        self._segment.event_rows.append(
            (
                event.run_id,
                event.seq,
                event.kind,
                to_micros(event.at),
                node_id,
                step,
                level,
                message,
                dump_json(data) if data else None,
            )
        )

    def _artifact(self, event: ArtifactSaved) -> None:
        self._segment.artifact_rows.append(
            (
                event.run_id,
                event.step,
                event.node_id,
                event.path,
                event.artifact_kind,
                event.description,
                to_micros(event.at),
            )
        )
        content = read_content(event.path)
        if content is not None:
            self._segment.artifact_contents[(event.run_id, event.path)] = content

    # -- runs -----------------------------------------------------------------------

    def _run_started(self, event: RunStarted) -> None:
        self._flush()
        connection = self.connection
        workflow_id, version_id = self._workflow_ids(event.workflow, event.version_hash)
        existing = connection.execute(
            select(runs.c.inputs).where(runs.c.id == event.run_id)
        ).first()
        if existing is None:
            connection.execute(
                insert(runs).values(
                    id=event.run_id,
                    workflow_id=workflow_id,
                    version_id=version_id,
                    workflow_name=event.workflow,
                    parent_run_id=event.parent_run_id,
                    status=RunStatus.RUNNING.value,
                    trigger=event.trigger,
                    inputs=event.inputs,
                    queued_at=event.at,
                    started_at=event.at,
                )
            )
            return
        values: dict[str, Any] = {
            "status": RunStatus.RUNNING.value,
            "started_at": func.coalesce(runs.c.started_at, literal(event.at, UTCDateTime())),
            "finished_at": None,
            "duration": None,
            "error": None,
            "failed_node": None,
            "stopped_reason": None,
            "parent_run_id": func.coalesce(runs.c.parent_run_id, event.parent_run_id),
        }
        if event.inputs or existing.inputs is None:
            values["inputs"] = event.inputs
        if workflow_id is not None:
            values["workflow_id"] = workflow_id
        if version_id is not None:
            values["version_id"] = version_id
        connection.execute(update(runs).where(runs.c.id == event.run_id).values(**values))

    def _workflow_ids(self, name: str, content_hash: str | None) -> tuple[int | None, int | None]:
        if content_hash:
            row = self.connection.execute(
                select(workflow_versions.c.workflow_id, workflow_versions.c.id)
                .join(workflows, workflows.c.id == workflow_versions.c.workflow_id)
                .where(workflows.c.name == name, workflow_versions.c.content_hash == content_hash)
            ).first()
            if row is not None:
                return row.workflow_id, row.id
        workflow_id = self.connection.execute(
            select(workflows.c.id).where(workflows.c.name == name)
        ).scalar()
        return workflow_id, None

    def _run_finished(self, event: RunFinished) -> None:
        self._flush()
        status = RunStatus(event.status)
        # The event's duration is the last attempt's; the run's covers every attempt.
        found = self.connection.execute(
            select(runs.c.started_at, runs.c.workflow_name).where(runs.c.id == event.run_id)
        ).first()
        started_at = None if found is None else found.started_at
        duration = (
            event.duration
            if started_at is None
            else whole_span(started_at, event.at, at_least=event.duration)
        )
        self.connection.execute(
            update(runs)
            .where(runs.c.id == event.run_id)
            .values(
                status=status.value,
                duration=duration,
                error=event.error,
                failed_node=event.failed_node,
                outputs=event.outputs,
                steps=event.steps,
                stopped_reason=event.stopped_reason,
                finished_at=event.at if status.terminal else None,
            )
        )
        if (
            status.terminal
            and found is not None
            and goes_to_outbox(
                self.connection, found.workflow_name, self.chain_sources, self.chains_in_store
            )
        ):
            # In this transaction: the end and the chain that waits on it commit together.
            add_chain_fire(self.connection, event.run_id, found.workflow_name, status, event.at)

    # -- writing ----------------------------------------------------------------------

    def _flush(self) -> _Segment:
        """Write the pending segment and start a new one."""
        segment = self._segment
        if segment:
            connection = self.connection
            if segment.started:
                UPSERT_STEP.executemany(
                    connection, [tuple(row) for row in segment.started.values()]
                )
            if segment.finished:
                self._update_steps(FINISH_STEP, segment.finished, segment)
            if segment.failed:
                self._update_steps(FAIL_STEP, segment.failed, segment)
            if segment.event_rows:
                INSERT_EVENT.executemany(connection, segment.event_rows)
            if segment.artifact_rows:
                INSERT_ARTIFACT.executemany(connection, segment.artifact_rows)
                insert_contents(connection, segment.artifact_contents)
            self._segment = _Segment()
        return self._segment

    def _update_steps(
        self, statement: HotStatement, rows: list[tuple[Any, ...]], segment: _Segment
    ) -> None:
        connection = self.connection
        if statement.executemany(connection, rows) == len(rows):
            return
        # Some attempt has no row (its start was never recorded): insert what we know.
        for row in rows:
            if statement.executemany(connection, [row]):
                continue
            ended = segment.ended[row[-3:]]
            logger.warning(
                "run %s: step %d (node '%s') ended without a recorded start",
                ended.run_id,
                ended.step,
                ended.node_id,
            )
            start = ended.at - timedelta(seconds=max(ended.duration, 0.0))
            placeholder = NodeStarted(
                run_id=ended.run_id,
                seq=ended.seq,
                at=start,
                node_id=ended.node_id,
                block="",
                step=ended.step,
                attempt=ended.attempt,
            )
            started = _step_row(placeholder)
            started[STEP_COLUMNS.index("block")] = None
            UPSERT_STEP.executemany(connection, [tuple(started)])
            statement.executemany(connection, [row])


def apply_events(
    connection: Connection,
    batch: Sequence[Event],
    chain_sources: frozenset[str] = frozenset(),
    chains_in_store: bool = False,
) -> None:
    """Apply ``batch`` in order on ``connection`` (the caller owns the transaction)."""
    Ingest(connection, chain_sources, chains_in_store).apply(batch)
