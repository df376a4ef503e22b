"""Runs as the supervisor holds them in memory: queued, on a worker, and what they need."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from automation.blocks.registry import BlockRegistry
from automation.engine.plan import step_timeout
from automation.errors import WorkflowError
from automation.loader import LoadedWorkflow, parse_workflow
from supervisor.debugging import DebugOptions, Pause
from supervisor.store.records import SessionWait, VersionRef
from supervisor.store.store import QueuedRow, content_hash
from supervisor.workers import (
    WorkerHandle,
)

logger = logging.getLogger(__name__)


@dataclass
class QueuedRun:
    run_id: str
    workflow: str
    text: str
    path: str | None
    inputs: dict[str, Any]
    priority: int = 0
    trigger: str = "manual"
    resources: frozenset[str] = frozenset()
    #: The ids of the blocks its enabled nodes use: the fork server compiles their models
    #: before it forks the next workers (``ForkServerLauncher.warm``).
    blocks: frozenset[str] = frozenset()
    restarts: int = 0
    not_before: float = 0.0
    order: int = 0
    resume: bool = False
    deadline_seconds: float | None = None
    step_timeouts: dict[str, float] = field(default_factory=dict)
    #: When the run first started (monotonic): its time limit counts from here, across resumes.
    first_started: float | None = None
    #: The last event number its earlier attempts used: a resumed attempt numbers on from it.
    last_seq: int = 0
    #: Breakpoints, pause timeout, "run from here" (``supervisor.debugging``).
    debug: DebugOptions = field(default_factory=DebugOptions)
    #: Seconds the run spent paused by the debugger, across resumes: not counted
    #: against its time limit.
    paused_seconds: float = 0.0
    #: The machine that must run it (``route``); None: any machine sharing the database.
    target_host: str | None = None
    #: A re-run from a node (or from the failed node) replays this run's finished steps.
    checkpoint_from: str | None = None
    #: A wait for a usable session its history shows still going on (a supervisor stopped
    #: during it): the desktop gate goes on with it (``DesktopGate.holds``).
    session_wait: SessionWait | None = None

    def time_left(self, now: float) -> float | None:
        if self.deadline_seconds is None:
            return None
        started = now if self.first_started is None else self.first_started
        return self.deadline_seconds + self.paused_seconds - (now - started)


@dataclass
class ActiveRun:
    entry: QueuedRun
    worker: WorkerHandle
    started: float
    cancel_requested: bool = False
    #: Set while the debugger holds the run before a node and no command answered it yet.
    pause: Pause | None = None
    #: The pause the run's time does not count: from ``node_paused`` until ``node_resumed``,
    #: however it ended (a command clears ``pause`` at once; the run is still paused until
    #: its engine goes on), or until its worker ended.
    pause_clock: Pause | None = None

    #: When (monotonic) its engine began to hold a desktop step for a locked screen, until
    #: it says it went on: that time is not the run's either (``automation.engine.hold``).
    hold_clock: float | None = None

    def stop_hold_clock(self, now: float) -> None:
        """The hold (if any) is over: its time goes to the run's ``paused_seconds``."""
        if self.hold_clock is not None:
            self.entry.paused_seconds += max(0.0, now - self.hold_clock)
            self.hold_clock = None

    def stop_pause_clock(self, now: float) -> None:
        """The pause (if any) is over: its time goes to the run's ``paused_seconds``."""
        if self.pause_clock is not None:
            self.entry.paused_seconds += max(0.0, now - self.pause_clock.since)
            self.pause_clock = None


def resources_of(loaded: LoadedWorkflow, registry: BlockRegistry) -> frozenset[str]:
    needed: set[str] = set()
    for node in loaded.workflow.nodes.values():
        block = registry.get(node.block)
        if block is not None and not node.disabled:
            needed |= block.resources
    return frozenset(needed)


def blocks_of(loaded: LoadedWorkflow) -> frozenset[str]:
    return frozenset(node.block for node in loaded.workflow.nodes.values() if not node.disabled)


def version_key(loaded: LoadedWorkflow) -> tuple[str, str | None, str]:
    path = str(loaded.path) if loaded.path else None
    return (loaded.workflow.name, path, content_hash(loaded.text))


def step_timeouts(loaded: LoadedWorkflow, registry: BlockRegistry) -> dict[str, float]:
    workflow = loaded.workflow
    result = {}
    for node_id, node in workflow.nodes.items():
        timeout = step_timeout(workflow, node_id, registry.get(node.block))
        if timeout is not None:
            result[node_id] = timeout
    return result


def checked_debug(loaded: LoadedWorkflow, debug: DebugOptions | None) -> DebugOptions:
    """``debug`` with its node names checked against the workflow: a typo is refused."""
    if debug is None:
        return DebugOptions()
    nodes = loaded.workflow.nodes
    named = [*debug.breakpoints, *([debug.run_from] if debug.run_from else [])]
    unknown = [node for node in named if node not in nodes]
    if unknown:
        raise WorkflowError(
            f"workflow '{loaded.workflow.name}' has no node {', '.join(map(repr, unknown))} "
            f"(its nodes: {', '.join(sorted(nodes))})"
        )
    return debug


def node_ids(text: str) -> frozenset[str]:
    return frozenset(parse_workflow(text).workflow.nodes)


@dataclass
class BehindBatch:
    """What ``Supervisor.batch_behind`` queued: trigger states saved with its runs, its outcome."""

    #: ``triggers`` rows saved in the runs' transaction (``TriggerStateStore.rows_of``).
    trigger_rows: list[Mapping[str, Any]] = field(default_factory=list)
    #: Resolves once the write is done (raises its error if it failed); set as the block ends.
    written: asyncio.Future[tuple[list[VersionRef], set[str]]] | None = None

    def save_with_runs(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Save these trigger rows in the transaction of the batch's runs: both or neither."""
        self.trigger_rows.extend(rows)


def route(on: str | None, *, desktop: bool, here: str) -> str | None:
    """The machine a run must run on: the one named, else here for a desktop run, else any.

    A run that drives the desktop drives a particular screen: the one of the
    machine it was submitted on, unless the submit named another (``--on``,
    a trigger's ``on:``).  Other runs go to whichever machine claims them.
    """
    if on is not None:
        return on
    return here if desktop else None


def run_options(entry: QueuedRun) -> dict[str, Any] | None:
    """What the history keeps of how ``entry`` runs, so any supervisor can claim it.

    Node ids, seconds and a run id: never a value.  "Run from here" reuses
    the outputs the earlier run recorded, which the history holds already
    (masked of secrets, like all of it); only that run's id is kept here.
    """
    debug = entry.debug
    options: dict[str, Any] = {}
    if debug.breakpoints:
        options["breakpoints"] = list(debug.breakpoints)
    if debug.pause_timeout is not None:
        options["pause_timeout"] = debug.pause_timeout
    if debug.run_from is not None:
        options["run_from"] = debug.run_from
    if entry.deadline_seconds is not None:
        options["deadline_seconds"] = entry.deadline_seconds
    if entry.checkpoint_from is not None:
        options["checkpoint_from"] = entry.checkpoint_from
    return options or None


def apply_options(entry: QueuedRun, options: dict[str, Any] | None) -> None:
    """Give ``entry`` the options its run was stored with (``run_options``)."""
    options = options or {}
    timeout = options.get("pause_timeout")
    try:
        entry.debug = DebugOptions(
            breakpoints=tuple(str(node) for node in options.get("breakpoints") or ()),
            pause_timeout=None if timeout is None else float(timeout),
            run_from=None if options.get("run_from") is None else str(options["run_from"]),
        )
    except (TypeError, ValueError) as exc:  # written by a newer or damaged supervisor
        logger.warning("run %s: ignoring its stored debugger options: %s", entry.run_id, exc)
    deadline = options.get("deadline_seconds")
    entry.deadline_seconds = float(deadline) if isinstance(deadline, int | float) else None
    source = options.get("checkpoint_from")
    entry.checkpoint_from = str(source) if source else None
    if entry.checkpoint_from is not None:
        entry.resume = True


def queued_row(entry: QueuedRun, version: VersionRef) -> QueuedRow:
    """The history's row for a run about to be queued (``HistoryStore.create_runs``)."""
    return QueuedRow(
        entry.run_id,
        entry.workflow,
        version,
        entry.trigger,
        entry.priority,
        entry.inputs,
        target_host=entry.target_host,
        needs_desktop="desktop" in entry.resources,
        options=run_options(entry),
    )
