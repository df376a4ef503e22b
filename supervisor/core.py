"""The supervisor: a durable run queue, worker processes, and what to do when they fail.

It runs on one asyncio loop.  Runs wait in the ``runs`` table (status
``queued``) and in memory, ordered by priority then arrival; the dispatcher
starts them on warm spare workers, respecting the worker limit, the
``desktop`` resource (one run at a time drives mouse and keyboard) and each
workflow's circuit breaker.

Faults and what follows (DESIGN.md's table):

* worker exits or is killed → the run is ``interrupted`` and re-queued with a
  checkpoint of its finished steps, after a restart delay that grows with
  each restart; past ``max_restarts`` it fails for good;
* no heartbeat within the lease → stack dump requested, process tree and log
  tail saved as evidence, the whole tree killed; then as above, as ``hung``;
* a step or the run outlives its deadline plus grace (the engine failed to
  stop it) → killed, as ``timed_out``;
* the supervisor itself died → on start, runs still ``running`` are
  interrupted and resumed the same way.

Only this process writes the database; worker events arrive over pipes and
are group-committed by a ``Recorder`` before clients see them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from automation.blocks.registry import BlockRegistry
from automation.engine.debugger import resume_from
from automation.engine.engine import coerce_inputs, step_timeout
from automation.engine.events import (
    Event,
    LogEmitted,
    NodePaused,
    NodeResumed,
    NodeStarted,
    RunFinished,
    RunStatus,
)
from automation.errors import DeskpilotError, WorkflowError, WorkflowInvalid
from automation.loader import LoadedWorkflow, parse_workflow, read_workflow_file
from automation.redaction import Redactor
from automation.validation import validate
from supervisor.breaker import BreakerState, CircuitBreaker, OpenedFor
from supervisor.bus import (
    BreakerClosed,
    BreakerOpened,
    EventBus,
    HeartbeatMissed,
    HistoryWriteFailed,
    RunCancelled,
    RunInterrupted,
    RunQueued,
    SupervisorEvent,
    WorkerExited,
    WorkerStarted,
)
from supervisor.config import SupervisorConfig
from supervisor.debugging import DebugOptions, Pause, cut_checkpoint, start_fields
from supervisor.desktop_gate import DesktopGate
from supervisor.errors import SupervisorError as SupervisorError  # re-exported: older imports
from supervisor.masking import evidence_redactor
from supervisor.protocol import EVENT_MESSAGES, ProtocolError, decode, message_event
from supervisor.resume import interrupted_step
from supervisor.stacks import python_stacks
from supervisor.store.errors import DatabaseGone
from supervisor.store.recorder import Recorder
from supervisor.store.records import VersionRef
from supervisor.store.store import HistoryStore, QueuedRow, content_hash
from supervisor.workers import (
    ExitReason,
    WorkerHandle,
    WorkerLauncher,
    WorkerState,
    display_available,
    grab_screen_png,
    kill_tree,
    request_stack_dump,
    save_evidence,
    tail,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: After the history refused a write (disk full, database locked), try again this much later.
STORE_RETRY_SECONDS = 2.0
#: A lease timer that fires this much later than due means the supervisor itself was stalled
#: (a long write on its loop), not that the worker was silent: heartbeats may be waiting unread.
STALL_TOLERANCE = 0.5


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
    #: Set while the debugger holds the run before a node.
    pause: Pause | None = None


def resources_of(loaded: LoadedWorkflow, registry: BlockRegistry) -> frozenset[str]:
    needed: set[str] = set()
    for node in loaded.workflow.nodes.values():
        block = registry.get(node.block)
        if block is not None and not node.disabled:
            needed |= block.resources
    return frozenset(needed)


class Supervisor:
    def __init__(
        self,
        *,
        store: HistoryStore,
        launcher: WorkerLauncher,
        registry: BlockRegistry,
        config: SupervisorConfig | None = None,
        artifacts_dir: Path,
        worker_log: Callable[[int], Path] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.launcher = launcher
        self.registry = registry
        self.config = config or SupervisorConfig()
        self.artifacts_dir = artifacts_dir
        self.worker_log = worker_log
        self.clock = clock
        self.rng = rng or random.Random()
        self.bus = EventBus()
        self.queue: dict[str, QueuedRun] = {}
        self.active: dict[str, ActiveRun] = {}
        self.workers: dict[int, WorkerHandle] = {}
        self.breakers: dict[str, CircuitBreaker] = {}
        self.counters: dict[str, int] = {
            "restarts": 0,
            "heartbeat_misses": 0,
            "workers_started": 0,
            "runs_finished": 0,
        }
        #: Called with (workflow name, status) when a run ends (chained triggers listen here).
        self.on_run_finished: list[Callable[[str, str, str], None]] = []
        #: Called with a workflow name when its breaker opens or closes.
        self.on_breaker: list[Callable[[str, BreakerState], None]] = []
        #: Where a re-run from a failed node takes its finished steps from.
        self._checkpoint_sources: dict[str, str] = {}
        #: Runs whose end is waiting to be committed: run id -> (workflow, status).
        self._finishing: dict[str, tuple[str, RunStatus]] = {}
        self.accepting = False
        #: A new worker that has not said hello after this long is killed (as hung).
        self.worker_start_timeout = 10.0
        self._order = 0
        #: Submits waiting for the end of ``batch()``: their rows and queue entries.
        self._batch: list[tuple[QueuedRow, QueuedRun]] | None = None
        #: Submits waiting for the end of ``batch_behind()``: their queue entries and workflows.
        self._behind: list[tuple[QueuedRun, LoadedWorkflow]] | None = None
        self._behind_batch: BehindBatch | None = None
        #: Saved workflow versions by (name, path, content hash): a submit of an unchanged
        #: file needs no write for its version.
        self._versions: dict[tuple[str, str | None, str], VersionRef] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._spawning = 0
        #: Runs being handed to a reserved worker while the history marks them running.
        self._starting: dict[str, tuple[QueuedRun, WorkerHandle]] = {}
        #: Interrupted runs whose settlement is being written to the history.
        self._settling: dict[str, QueuedRun] = {}
        #: Runs to cancel once they are on a worker or back in the queue.
        self._cancel_pending: set[str] = set()
        #: Why the history last refused a write, while it still does (shown by ``health``).
        self.store_trouble: str | None = None
        self._strays: asyncio.TimerHandle | None = None
        #: Holds queued desktop runs while the screen is locked or the machine goes to sleep
        #: (``supervisor/desktop_gate.py``); None lets them start whenever the desktop is free.
        self.desktop_gate: DesktopGate | None = None
        self.recorder = Recorder(store, on_committed=self._committed)
        #: The one thread that runs the loop's store calls, in the order they were made: a
        #: locked or slow database delays them, never the loop (health, heartbeats, the API).
        self._store_lane = concurrent.futures.ThreadPoolExecutor(1, "history-calls")

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        reap = getattr(self.launcher, "reap_strays", None)
        if callable(reap):
            stray = reap()
            if stray:
                logger.warning(
                    "killed %d worker processes a previous supervisor left behind", len(stray)
                )
        self._reconcile()
        self.accepting = True
        self._ensure_spares()
        self._dispatch()

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking work, let running runs finish within ``grace``, then interrupt them.

        If the history file was deleted or replaced meanwhile, everything from here
        on (and everything waiting in memory) is written to a recovery file that
        the next start imports (``HistoryStore.divert``).
        """
        self.accepting = False
        if self.store.problem() is not None:
            try:
                target = await self._in_store(self.store.divert)
            except (OSError, DeskpilotError) as exc:
                logger.error("could not save what is pending to a recovery file: %s", exc)
            else:
                logger.warning(
                    "the history database is gone; what this run of the supervisor could not "
                    "write is saved in %s and imported at the next start",
                    target,
                )
        grace = self.config.shutdown_grace if grace is None else grace
        deadline = self.clock() + grace
        # Running steps may finish; no run starts another.  A run held between two steps
        # (drained) is interrupted there and resumed at the next start.
        for active in list(self.active.values()):
            self._spawn_task(active.worker.send({"type": "drain"}))
        while self.clock() < deadline and any(
            not active.worker.drained for active in self.active.values()
        ):
            await asyncio.sleep(0.05)
        for active in list(self.active.values()):
            active.worker.kill_reason = ExitReason.SHUTDOWN
            kill_tree(active.worker.pid)
        for worker in list(self.workers.values()):
            if worker.state is not WorkerState.BUSY:
                worker.kill_reason = ExitReason.SHUTDOWN
                kill_tree(worker.pid)
        waiting = [w.process.wait() for w in self.workers.values()]
        if waiting:
            await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), timeout=5)
        # Tasks may start more (a worker's exit settles its run): wait until none is left.
        for _ in range(5):
            if not self._tasks:
                break
            for task in list(self._tasks):
                try:
                    await asyncio.wait_for(task, timeout=2)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()
        if self._wake is not None:
            self._wake.cancel()
        if self._strays is not None:
            self._strays.cancel()
        try:
            self.recorder.close()
        finally:
            self._store_lane.shutdown(wait=True)

    async def _in_store(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call (or other file work) on the store lane, off the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._store_lane, functools.partial(function, *args, **kwargs)
        )

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("supervisor task failed", exc_info=task.exception())

    def publish(self, event: SupervisorEvent) -> None:
        self.bus.publish(event.to_dict())

    def _committed(self, events: Sequence[Event]) -> None:
        """Recorder thread: events are durable now; hand them to live clients."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        payload = [event.to_dict() for event in events]
        with contextlib.suppress(RuntimeError):  # the loop closed while we were committing
            loop.call_soon_threadsafe(self._publish_many, payload)

    def _publish_many(self, payload: list[dict[str, Any]]) -> None:
        ended = False
        for item in payload:
            self.bus.publish(item)
            if item.get("kind") == "run_finished":
                pending = self._finishing.pop(str(item.get("run_id")), None)
                if pending is not None:
                    self._finished(pending[0], str(item["run_id"]), pending[1])
                    ended = True
        if ended:
            self._dispatch()  # a breaker may have closed

    # -- start-up reconciliation ----------------------------------------------------
    def _reconcile(self) -> None:
        """Runs left ``running`` by a dead supervisor are interrupted and resumed; queued ones reload.

        Runs at start, before the API serves: nothing waits on the loop yet.
        """
        for record in self.store.list_runs(status=RunStatus.RUNNING, limit=None):
            detail = "the supervisor stopped while this run was in progress"
            self._hold(
                self._resume_lost(record.id, detail, "supervisor_lost", "supervisor restarted")
            )
        for record in self.store.list_runs(status=RunStatus.INTERRUPTED, limit=None):
            logger.info("run %s was interrupted by the last shutdown; resuming it", record.id)
            self._hold(
                self._requeue_from_store(record.id, reason="interrupted before the last shutdown")
            )
        for record in reversed(self.store.list_runs(status=RunStatus.QUEUED, limit=None)):
            if record.id not in self.queue:
                self._hold(self._load_queued(record.id))

    def _hold(self, entry: QueuedRun | None) -> None:
        if entry is not None:
            self.queue[entry.run_id] = entry

    def _resume_lost(self, run_id: str, detail: str, tag: str, reason: str) -> QueuedRun | None:
        """A run the history shows running that no worker runs: note why, interrupt, resume."""
        seq = self.store.last_seq(run_id) + 1
        self._note(run_id, seq, detail, {"reason": tag})
        self.store.set_run_status(run_id, RunStatus.INTERRUPTED, error=detail)
        logger.warning("run %s: %s; resuming it", run_id, detail)
        return self._requeue_from_store(run_id, reason=reason, last_seq=seq)

    # -- when the history refuses a write ---------------------------------------------
    def _store_failed(self, doing: str, exc: DeskpilotError) -> None:
        """A write failed (disk full, database locked): say so once, and try again later.

        Nothing is dropped: the run that could not start stays queued, and a run
        whose end could not be recorded is found again by ``_settle_strays``.
        """
        if self.store_trouble != str(exc):
            logger.error("could not %s: %s", doing, exc)
            self.publish(HistoryWriteFailed(doing=doing, error=str(exc)))
        self.store_trouble = str(exc)
        loop = self._loop
        if loop is not None and self._strays is None and self.accepting:
            self._strays = loop.call_later(STORE_RETRY_SECONDS, self._settle_strays)

    def _store_ok(self) -> None:
        if self.store_trouble is not None:
            logger.info("the history accepts writes again")
            self.store_trouble = None

    def _settle_strays(self) -> None:
        self._strays = None
        if self.accepting:
            self._spawn_task(self._resume_strays())

    async def _resume_strays(self) -> None:
        """Resume runs the history shows running or interrupted that nothing here holds.

        They are runs whose status change failed to save; resuming them is what
        a restart would do, without the restart.
        """
        held = (
            self.active.keys()
            | self.queue.keys()
            | self._finishing.keys()
            | self._starting.keys()
            | self._settling.keys()
        )
        try:
            found = await self._in_store(self._find_strays, held)
        except DeskpilotError as exc:
            self._store_failed("resume runs whose status was not saved", exc)
            return
        for entry in found:
            self._hold(entry)
        self._store_ok()
        self._dispatch()

    def _find_strays(self, held: set[str]) -> list[QueuedRun]:
        """Store lane: requeue the runs nothing holds; returns their queue entries."""
        found: list[QueuedRun | None] = []
        for record in self.store.list_runs(status=RunStatus.RUNNING, limit=None):
            if record.id not in held:
                detail = "the supervisor could not save how this run's worker ended"
                found.append(
                    self._resume_lost(record.id, detail, "status_not_saved", "status not saved")
                )
        for record in self.store.list_runs(status=RunStatus.INTERRUPTED, limit=None):
            if record.id not in held:
                found.append(self._requeue_from_store(record.id, reason="status not saved"))
        return [entry for entry in found if entry is not None]

    def _entry_from_record(self, run_id: str) -> QueuedRun | None:
        record = self.store.get_run(run_id)
        if record is None or record.version_id is None:
            return None
        text = self.store.version_content(record.version_id)
        if text is None:
            return None
        # The file's path gives relative paths in the workflow their meaning: a resumed run
        # must resolve them where its first attempt did.
        path = self.store.workflow_path(record.workflow_id)
        try:
            loaded = parse_workflow(text, path=Path(path) if path else None)
        except WorkflowError:
            return None
        self._order += 1
        return QueuedRun(
            run_id=record.id,
            workflow=record.workflow_name,
            text=text,
            path=path,
            inputs=dict(record.inputs or {}),
            priority=record.priority,
            trigger=record.trigger,
            resources=resources_of(loaded, self.registry),
            restarts=record.resumes,
            order=self._order,
            step_timeouts=_step_timeouts(loaded, self.registry),
        )

    def _load_queued(self, run_id: str) -> QueuedRun | None:
        entry = self._entry_from_record(run_id)
        if entry is None:
            self.store.set_run_status(
                run_id, RunStatus.CANCELLED, error="its workflow version is missing"
            )
            return None
        entry.resume = bool(self.store.checkpoint(run_id))
        return entry

    def _requeue_from_store(self, run_id: str, reason: str, last_seq: int = 0) -> QueuedRun | None:
        entry = self._entry_from_record(run_id)
        if entry is None:
            self.store.set_run_status(
                run_id,
                RunStatus.FAILED,
                error=f"cannot resume ({reason}): workflow version missing",
            )
            return None
        entry.restarts += 1
        entry.resume = True
        entry.last_seq = last_seq
        self.store.set_run_status(run_id, RunStatus.QUEUED)
        return entry

    # -- submitting -------------------------------------------------------------------
    def load(self, path: Path) -> LoadedWorkflow:
        loaded = read_workflow_file(path)
        issues = validate(loaded, self.registry)
        if issues:
            raise WorkflowInvalid(issues)
        return loaded

    def submit(
        self,
        loaded: LoadedWorkflow,
        inputs: dict[str, Any] | None = None,
        *,
        priority: int = 0,
        trigger: str = "manual",
        run_id: str | None = None,
        deadline_seconds: float | None = None,
        checkpoint_from: str | None = None,
        debug: DebugOptions | None = None,
    ) -> str:
        """Queue a run of a validated workflow; returns its id once it is durable.

        Writes on the calling thread (the loop): triggers batch their submits
        (``batch()``); the API uses ``submit_off_loop``.
        """
        entry = self._new_entry(
            loaded, inputs, priority, trigger, run_id, deadline_seconds, checkpoint_from
        )
        entry.debug = _checked_debug(loaded, debug)
        if self._behind is not None:
            if checkpoint_from is not None:
                self._checkpoint_sources[entry.run_id] = checkpoint_from
            self._behind.append((entry, loaded))
            return entry.run_id
        if self._batch is not None:
            if checkpoint_from is not None:
                self._checkpoint_sources[entry.run_id] = checkpoint_from
            version = self._version_of(loaded)
            row = QueuedRow(entry.run_id, entry.workflow, version, trigger, priority, entry.inputs)
            self._batch.append((row, entry))
            return entry.run_id
        self._remember_version(loaded, self._write_new_run(loaded, entry, self._known(loaded)))
        return self._accepted(entry, checkpoint_from)

    async def submit_off_loop(
        self,
        loaded: LoadedWorkflow,
        inputs: dict[str, Any] | None = None,
        *,
        priority: int = 0,
        trigger: str = "manual",
        run_id: str | None = None,
        deadline_seconds: float | None = None,
        checkpoint_from: str | None = None,
        debug: DebugOptions | None = None,
    ) -> str:
        """``submit`` whose history writes wait on the store lane, not on the loop.

        A locked database delays this submit (up to the busy timeout, then a
        ``DatabaseLocked``), never ``/health``, ``/workers`` or heartbeats.
        """
        entry = self._new_entry(
            loaded, inputs, priority, trigger, run_id, deadline_seconds, checkpoint_from
        )
        entry.debug = _checked_debug(loaded, debug)
        version = await self._in_store(self._write_new_run, loaded, entry, self._known(loaded))
        self._remember_version(loaded, version)
        if not self.accepting:
            raise SupervisorError("the supervisor is shutting down; try again when it is back")
        return self._accepted(entry, checkpoint_from)

    def _new_entry(
        self,
        loaded: LoadedWorkflow,
        inputs: dict[str, Any] | None,
        priority: int,
        trigger: str,
        run_id: str | None,
        deadline_seconds: float | None,
        checkpoint_from: str | None,
    ) -> QueuedRun:
        if not self.accepting:
            raise SupervisorError("the supervisor is shutting down; try again when it is back")
        problem = self.store.problem()
        if problem is not None:
            # nothing is written into a vanished file: refuse rather than accept and lose it
            raise DatabaseGone(f"{problem} New runs are refused until it is back.")
        values = coerce_inputs(loaded.workflow, inputs or {})
        self._order += 1
        entry = QueuedRun(
            run_id=run_id or uuid.uuid4().hex,
            workflow=loaded.workflow.name,
            text=loaded.text,
            path=str(loaded.path) if loaded.path else None,
            inputs=values,
            priority=priority,
            trigger=trigger,
            resources=resources_of(loaded, self.registry),
            order=self._order,
            deadline_seconds=deadline_seconds,
            step_timeouts=_step_timeouts(loaded, self.registry),
        )
        if checkpoint_from is not None:
            entry.resume = True
        return entry

    def _write_new_run(
        self, loaded: LoadedWorkflow, entry: QueuedRun, version: VersionRef | None
    ) -> VersionRef:
        """The run's version (unless already known) and queued row: blocking store writes."""
        if version is None:
            version = self.store.save_workflow_version(entry.workflow, entry.path, loaded.text)
        self.store.create_run(
            entry.run_id,
            entry.workflow,
            trigger=entry.trigger,
            inputs=entry.inputs,
            priority=entry.priority,
            version=version,
        )
        return version

    def _accepted(self, entry: QueuedRun, checkpoint_from: str | None) -> str:
        if checkpoint_from is not None:
            self._checkpoint_sources[entry.run_id] = checkpoint_from
        self._enqueue(entry)
        self._dispatch()
        return entry.run_id

    def _enqueue(self, entry: QueuedRun) -> None:
        self.queue[entry.run_id] = entry
        self.publish(
            RunQueued(
                run_id=entry.run_id,
                workflow=entry.workflow,
                priority=entry.priority,
                trigger=entry.trigger,
            )
        )

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Submits inside are written in one transaction when the block ends, then dispatched.

        For triggers that fire together (schedules on a common grid): one
        commit for all their runs, so the last is not late by the others'
        writes.  The ids ``submit`` returns inside are durable only once the
        block has ended without an error; if the write fails, none of the runs
        exists and the error propagates (the caller must not count them as run).
        """
        if self._batch is not None:  # nested: the outermost block writes
            yield
            return
        self._batch = []
        try:
            yield
        finally:
            pending, self._batch = self._batch, None
            if pending:
                # A schedule fire another supervisor already ran is not ours to run.
                lost = set(self.store.create_runs([row for row, _ in pending]))
                for _, entry in pending:
                    if entry.run_id not in lost:
                        self._enqueue(entry)
                self._dispatch()

    @contextlib.contextmanager
    def batch_behind(self) -> Iterator[BehindBatch]:
        """``batch`` whose one transaction is queued on the store lane as the block ends.

        The loop never waits for the database: the block's submits return their
        ids at once, and the runs are queued (and dispatched) once the write
        has committed.  Calls added with ``BehindBatch.then`` run on the lane
        right after that commit, and only if it succeeded.  ``written`` (set
        as the block ends) tells the caller how the write went; if it failed,
        none of the runs exists.  Later store-lane calls run after this write.
        """
        if self._behind_batch is not None:  # nested: the outermost block writes
            yield self._behind_batch
            return
        batch = self._behind_batch = BehindBatch()
        self._behind = []
        try:
            yield batch
        finally:
            pending, self._behind, self._behind_batch = self._behind, None, None
            items = [(entry, loaded, self._known(loaded)) for entry, loaded in pending]
            batch.written = self.store_behind(self._write_behind, items, batch.after)
            batch.written.add_done_callback(functools.partial(self._behind_written, pending))

    def _write_behind(
        self,
        items: list[tuple[QueuedRun, LoadedWorkflow, VersionRef | None]],
        after: list[Callable[[], object]],
    ) -> tuple[list[VersionRef], set[str]]:
        """Store lane: the versions not saved yet, all the runs in one transaction, then ``after``.

        Returns the versions, and the runs not written because another
        supervisor already ran their schedule fire (``HistoryStore.create_runs``).
        """
        versions: list[VersionRef] = []
        saved: dict[tuple[str, str | None, str], VersionRef] = {}
        for entry, loaded, known in items:
            version = known or saved.get(_version_key(loaded))
            if version is None:
                version = self.store.save_workflow_version(entry.workflow, entry.path, loaded.text)
                saved[_version_key(loaded)] = version
            versions.append(version)
        lost = self.store.create_runs(
            [
                QueuedRow(e.run_id, e.workflow, v, e.trigger, e.priority, e.inputs)
                for (e, _, _), v in zip(items, versions, strict=True)
            ]
        )
        for call in after:
            call()
        return versions, set(lost)

    def _behind_written(
        self,
        pending: list[tuple[QueuedRun, LoadedWorkflow]],
        written: asyncio.Future[tuple[list[VersionRef], set[str]]],
    ) -> None:
        if written.cancelled() or written.exception() is not None:
            for entry, _ in pending:
                self._checkpoint_sources.pop(entry.run_id, None)
            return  # the caller reports it (see ``BehindBatch.written``)
        versions, lost = written.result()
        for (entry, loaded), version in zip(pending, versions, strict=True):
            self._remember_version(loaded, version)
            if entry.run_id in lost:
                self._checkpoint_sources.pop(entry.run_id, None)
                continue  # another supervisor ran this schedule fire
            self._enqueue(entry)
        if pending:
            self._dispatch()

    def store_behind(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue a blocking store call on the store lane and return at once, on the loop.

        The lane runs its calls one at a time in the order they were queued
        (``_in_store``'s among them): a write queued after another lands after it.
        """
        loop = self._loop or asyncio.get_running_loop()
        return loop.run_in_executor(self._store_lane, functools.partial(function, *args))

    def prepare(self, loaded: LoadedWorkflow) -> None:
        """Record ``loaded``'s version ahead of its first run, off the path of a timed fire."""
        self._version_of(loaded)

    async def prepare_off_loop(self, loaded: LoadedWorkflow) -> None:
        """``prepare`` with the write on the store lane: a locked database does not stop the loop."""
        if self._known(loaded) is None:
            path = str(loaded.path) if loaded.path else None
            version = await self._in_store(
                self.store.save_workflow_version, loaded.workflow.name, path, loaded.text
            )
            self._remember_version(loaded, version)

    def _version_of(self, loaded: LoadedWorkflow) -> VersionRef:
        version = self._known(loaded)
        if version is None:
            path = str(loaded.path) if loaded.path else None
            version = self.store.save_workflow_version(loaded.workflow.name, path, loaded.text)
            self._remember_version(loaded, version)
        return version

    def _known(self, loaded: LoadedWorkflow) -> VersionRef | None:
        """The saved version of ``loaded`` if this supervisor saved it before (no write needed)."""
        return self._versions.get(_version_key(loaded))

    def _remember_version(self, loaded: LoadedWorkflow, version: VersionRef) -> None:
        if len(self._versions) >= 512:
            self._versions.clear()  # a crude bound; misses only cost one write
        self._versions[_version_key(loaded)] = version

    def rerun(
        self,
        run_id: str,
        *,
        mode: str = "start",
        current_path: Path | None = None,
        debug: DebugOptions | None = None,
    ) -> str:
        """Run a finished run again: from the start, from its failed node, or on the current file.

        Mode ``from_node`` ("run from here") reuses the outputs of the steps
        before ``debug.run_from``, which must be given.
        """
        loaded, options = self._rerun_of(run_id, mode, current_path, debug)
        return self.submit(loaded, **options)

    async def rerun_off_loop(
        self,
        run_id: str,
        *,
        mode: str = "start",
        current_path: Path | None = None,
        debug: DebugOptions | None = None,
    ) -> str:
        """``rerun`` whose history reads and writes wait on the store lane, not on the loop."""
        loaded, options = await self._in_store(self._rerun_of, run_id, mode, current_path, debug)
        return await self.submit_off_loop(loaded, **options)

    def _rerun_of(
        self, run_id: str, mode: str, current_path: Path | None, debug: DebugOptions | None = None
    ) -> tuple[LoadedWorkflow, dict[str, Any]]:
        """What to submit to run ``run_id`` again (blocking: reads the history and files)."""
        if mode == "from_node" and (debug is None or debug.run_from is None):
            raise SupervisorError("running from a node needs the node's id")
        record = self.store.get_run(run_id)
        if record is None:
            raise SupervisorError(f"no run with id '{run_id}'")
        if not record.status.terminal:
            raise SupervisorError(
                f"run {run_id} is {record.status}; only finished runs can be re-run"
            )
        if mode == "current" or (mode == "from_node" and current_path is not None):
            # "run from here" on the file as it is now: the node just fixed runs as edited
            if current_path is None:
                raise SupervisorError(
                    "re-running on the current version needs the workflow file's path"
                )
            loaded = self.load(current_path)
        else:
            text = self.store.version_content(record.version_id) if record.version_id else None
            if text is None:
                raise SupervisorError(f"run {run_id}'s workflow version is no longer stored")
            path = self.store.workflow_path(record.workflow_id)
            loaded = parse_workflow(text, path=Path(path) if path else None)
        return loaded, {
            "inputs": dict(record.inputs or {}),
            "priority": record.priority,
            "trigger": f"rerun:{run_id}",
            "checkpoint_from": run_id if mode in ("failed_node", "from_node") else None,
            "debug": debug,
        }

    def cancel(self, run_id: str) -> bool:
        """Cancel a queued or running run; False if it already ended."""
        entry = self.queue.get(run_id)
        if entry is not None:
            # saved first: if the history refuses, the run stays queued and the caller hears why
            self.store.set_run_status(
                run_id, RunStatus.CANCELLED, error="cancelled before it started"
            )
            del self.queue[run_id]
            self._cancelled_queued(entry)
            return True
        return self._cancel_elsewhere(run_id)

    async def cancel_off_loop(self, run_id: str) -> bool:
        """``cancel`` whose history write waits on the store lane, not on the loop."""
        entry = self.queue.pop(run_id, None)
        if entry is None:
            return self._cancel_elsewhere(run_id)
        try:
            await self._in_store(
                self.store.set_run_status,
                run_id,
                RunStatus.CANCELLED,
                error="cancelled before it started",
            )
        except BaseException:
            self.queue[run_id] = (
                entry  # the history refused: still queued, and the caller hears why
            )
            self._dispatch()
            raise
        self._cancelled_queued(entry)
        return True

    def _cancelled_queued(self, entry: QueuedRun) -> None:
        self.publish(RunCancelled(run_id=entry.run_id))
        self._finished(entry.workflow, entry.run_id, RunStatus.CANCELLED)

    def _cancel_elsewhere(self, run_id: str) -> bool:
        """A run on a worker, being handed to one, or being settled; False if it ended."""
        active = self.active.get(run_id)
        if active is not None:
            self._cancel_active(active)
            return True
        if run_id in self._starting or run_id in self._settling:
            self._cancel_pending.add(run_id)  # done as soon as it is on a worker or queued
            return True
        return False

    def _cancel_active(self, active: ActiveRun) -> None:
        active.cancel_requested = True
        worker = active.worker
        self._spawn_task(worker.send({"type": "cancel", "reason": "cancelled"}))
        worker.hard_deadline = min(worker.hard_deadline, self.clock() + self.config.kill_grace)
        worker.hard_deadline_reason = ExitReason.CANCELLED
        self._arm(worker)

    # -- workers ---------------------------------------------------------------------
    def _ensure_spares(self) -> None:
        if not self.accepting:
            return
        # A worker reserved for a run being handed over counts as busy, not as a spare.
        reserved = {worker.id for _, worker in self._starting.values()}
        idle = sum(
            1
            for w in self.workers.values()
            if w.state in (WorkerState.STARTING, WorkerState.IDLE) and w.id not in reserved
        )
        want = self.config.spare_workers + max(
            0, min(len(self.queue), self.config.worker_limit) - idle
        )
        busy = sum(
            1 for w in self.workers.values() if w.state is WorkerState.BUSY or w.id in reserved
        )
        want = min(want, self.config.worker_limit + self.config.spare_workers - busy)
        for _ in range(max(0, want - idle - self._spawning)):
            self._spawning += 1
            self._spawn_task(self._start_worker())

    async def _start_worker(self) -> None:
        try:
            from supervisor.workers import _ids

            worker_id = next(_ids)
            process = await self.launcher.spawn(worker_id)
        except OSError as exc:
            logger.error("could not start a worker: %s", exc)
            self._spawning -= 1
            self._wake_in(1.0)
            return
        self._spawning -= 1
        if not self.accepting:
            # stop() began while this worker started: nobody would ever stop it
            kill_tree(process.pid)
            await process.wait()
            return
        worker = WorkerHandle(process=process, id=worker_id)
        worker.lease_expires = self.clock() + self._start_timeout()
        self.workers[worker.id] = worker
        self.counters["workers_started"] += 1
        self.publish(WorkerStarted(worker_id=worker.id, pid=worker.pid))
        self._spawn_task(self._read(worker))
        self._arm(worker)

    def _start_timeout(self) -> float:
        """How long a new worker may take to say hello (imports can be slow on a busy machine)."""
        return self.worker_start_timeout

    async def _read(self, worker: WorkerHandle) -> None:
        stdout = worker.process.stdout
        assert stdout is not None
        while True:
            try:
                line = await stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                logger.error("worker %s sent an over-long line; stopping it", worker.pid)
                kill_tree(worker.pid)
                break
            if not line:
                break
            try:
                message = decode(line)
            except ProtocolError as exc:
                logger.warning("worker %s: %s", worker.pid, exc)
                continue
            try:
                self._on_message(worker, message)
            except Exception:
                # This task is the only one that notices the worker's exit: whatever went
                # wrong with one message, it must go on reading.
                logger.exception(
                    "worker %s: could not handle a %r message", worker.pid, message.get("type")
                )
        returncode = await worker.process.wait()
        try:
            self._on_exit(worker, returncode)
        except Exception:
            logger.exception("worker %s: could not handle its exit", worker.pid)
            self._dispatch()

    def _on_message(self, worker: WorkerHandle, message: dict[str, Any]) -> None:
        kind = message["type"]
        now = self.clock()
        if worker.state is WorkerState.BUSY:
            worker.lease_expires = now + self.config.lease
        if kind == "hello":
            if worker.state is WorkerState.STARTING:
                if worker.timer is not None:  # the start-up deadline is met
                    worker.timer.cancel()
                    worker.timer = None
                worker.move(WorkerState.IDLE)
                worker.ready.set()
                self._dispatch()
        elif kind == "heartbeat":
            worker.heartbeats += 1
            worker.last_heartbeat = datetime.now(UTC)
        elif kind in EVENT_MESSAGES:
            try:
                event = message_event(message)
            except ProtocolError as exc:
                logger.warning("worker %s: %s", worker.pid, exc)
                return
            self.recorder(event)
            worker.last_seq = max(worker.last_seq, event.seq)
            if isinstance(event, NodeStarted):
                self._watch_step(worker, event)
            elif isinstance(event, NodePaused | NodeResumed):
                self._paused_or_resumed(worker, event)
            elif kind in ("step_finished", "step_failed"):
                self._unwatch_step(worker)
            if isinstance(event, RunFinished) and event.run_id == worker.run_id:
                worker.finished_run = True
                self._run_ended(worker, event)
        elif kind == "fatal":
            self._fatal(worker, str(message.get("message") or "the worker gave no reason"))
        elif kind == "drained":
            worker.drained = True

    def _fatal(self, worker: WorkerHandle, reason: str) -> None:
        """The worker could not run its run at all: the run fails, as if its engine had said so.

        Its end goes through the recorder like any engine's ``run_finished``, so
        the history, the live stream (API, GUI), chained triggers and the breaker
        all learn of it the one way they learn of every other end.
        """
        run_id = worker.run_id
        logger.error("worker %s could not run %s: %s", worker.pid, run_id, reason)
        if run_id is None:
            return
        active = self.active.get(run_id)
        started = active.started if active is not None else self.clock()
        event = RunFinished(
            run_id=run_id,
            seq=worker.last_seq + 1,
            at=datetime.now(UTC),
            status=RunStatus.FAILED,
            duration=max(0.0, self.clock() - started),
            error=reason,
        )
        worker.last_seq = event.seq
        self.recorder(event)
        worker.finished_run = True
        self._run_ended(worker, event)

    def _watch_step(self, worker: WorkerHandle, event: NodeStarted) -> None:
        active = self.active.get(event.run_id)
        if active is None:
            return
        timeout = active.entry.step_timeouts.get(event.node_id)
        if timeout is not None and not active.cancel_requested:
            # a step's deadline never extends the run's, nor a cancel's kill deadline
            step_deadline = self.clock() + timeout + 2 * self.config.kill_grace + 1.0
            worker.hard_deadline = min(step_deadline, self._run_deadline(active))
            worker.hard_deadline_reason = ExitReason.TIMED_OUT
            self._arm(worker)

    def _unwatch_step(self, worker: WorkerHandle) -> None:
        active = self.active.get(worker.run_id or "")
        if active is not None and not active.cancel_requested:
            worker.hard_deadline = self._run_deadline(active)
            worker.hard_deadline_reason = ExitReason.TIMED_OUT

    def _run_deadline(self, active: ActiveRun) -> float:
        entry = active.entry
        if entry.deadline_seconds is None:
            return float("inf")
        started = active.started if entry.first_started is None else entry.first_started
        limit = started + entry.deadline_seconds + entry.paused_seconds
        if active.pause is not None:
            # the engine stops its clock while paused; the pause itself ends by its timeout
            limit += max(0.0, self.clock() - active.pause.since) + active.pause.event.timeout
        return limit + 2 * self.config.kill_grace + 1.0

    # -- the step debugger ---------------------------------------------------------
    def _paused_or_resumed(self, worker: WorkerHandle, event: NodePaused | NodeResumed) -> None:
        active = self.active.get(event.run_id)
        if active is None:
            return
        if isinstance(event, NodePaused):
            active.pause = Pause(
                event=event, since=self.clock(), breakpoints=active.entry.debug.breakpoints
            )
        else:
            if active.pause is not None:
                active.entry.paused_seconds += max(0.0, self.clock() - active.pause.since)
            active.pause = None
        if not active.cancel_requested:
            worker.hard_deadline = self._run_deadline(active)
            worker.hard_deadline_reason = ExitReason.TIMED_OUT
            self._arm(worker)

    def paused(self, run_id: str) -> Pause | None:
        """The run's pause, if the debugger holds it before a node now."""
        active = self.active.get(run_id)
        return None if active is None else active.pause

    def breakpoints(self, run_id: str) -> tuple[str, ...] | None:
        """The breakpoints of a queued or running run; None if it is neither."""
        entry = self.queue.get(run_id)
        if entry is None:
            active = self.active.get(run_id)
            entry = active.entry if active is not None else None
        return None if entry is None else entry.debug.breakpoints

    async def debug_command(self, run_id: str, command: Mapping[str, Any]) -> None:
        """Send a paused run's command (continue, step, abort; edits) to its worker."""
        active = self.active.get(run_id)
        if active is None or active.pause is None:
            raise SupervisorError(
                f"run {run_id} is not paused; commands are for a run stopped at a breakpoint"
            )
        resume_from(command)  # refuse a bad command here, with its reason, not in the worker
        active.pause = None  # one command per pause: the next pause event sets it again
        if not await active.worker.send({**command, "type": "debug"}):
            raise SupervisorError(f"run {run_id}'s worker went away")

    async def set_breakpoints(self, run_id: str, nodes: Sequence[str]) -> tuple[str, ...]:
        """Replace a queued or running run's breakpoints; what it has now."""
        entry = self.queue.get(run_id)
        active = self.active.get(run_id)
        if active is not None:
            entry = active.entry
        if entry is None:
            raise SupervisorError(f"run {run_id} is not queued or running")
        loaded_nodes = _node_ids(entry.text)
        unknown = [node for node in nodes if node not in loaded_nodes]
        if unknown:
            raise SupervisorError(
                f"no node {', '.join(map(repr, unknown))} in workflow '{entry.workflow}'"
            )
        entry.debug = replace(entry.debug, breakpoints=tuple(dict.fromkeys(nodes)))
        if active is not None:
            await active.worker.send(
                {"type": "breakpoints", "nodes": list(entry.debug.breakpoints)}
            )
        return entry.debug.breakpoints

    def _run_ended(self, worker: WorkerHandle, event: RunFinished) -> None:
        active = self.active.pop(event.run_id, None)
        worker.run_id = None
        if worker.state is WorkerState.BUSY:
            worker.move(WorkerState.STOPPING)
        self.counters["runs_finished"] += 1
        if active is not None:
            # Listeners read the final status from history: they hear of the end once it is
            # committed (_publish_many), rather than the loop waiting here for the disk.
            self._finishing[event.run_id] = (active.entry.workflow, event.status)
        self._ensure_spares()
        self._dispatch()

    def _on_exit(self, worker: WorkerHandle, returncode: int | None) -> None:
        self.workers.pop(worker.id, None)
        if worker.state is not WorkerState.EXITED:
            worker.move(WorkerState.EXITED)
        run_id = worker.run_id
        reason = worker.kill_reason or (
            ExitReason.FINISHED if worker.finished_run or run_id is None else ExitReason.CRASHED
        )
        self.publish(
            WorkerExited(
                worker_id=worker.id,
                pid=worker.pid,
                run_id=run_id,
                reason=str(reason),
                returncode=returncode,
            )
        )
        if run_id is not None and not worker.finished_run:
            self._interrupted(run_id, reason, returncode, pid=worker.pid, seq=worker.last_seq + 1)
        self._ensure_spares()
        self._dispatch()

    def _interrupted(
        self, run_id: str, reason: ExitReason, returncode: int | None, *, pid: int, seq: int
    ) -> None:
        active = self.active.pop(run_id, None)
        if active is None:
            return
        entry = active.entry
        detail = _describe_exit(reason, returncode)
        entry.last_seq = max(entry.last_seq, seq)
        # The run's error is cleared when it resumes; this note keeps what happened to the
        # worker (crashed, hung, timed out) in the run's history for good.
        self._note(
            run_id,
            seq,
            detail,
            {"reason": str(reason), "returncode": returncode, "pid": pid},
        )
        self._spawn_task(self._settle(active, reason, detail))

    async def _settle(self, active: ActiveRun, reason: ExitReason, detail: str) -> None:
        """Record how an interrupted run ends or resumes: on the store lane, then here.

        Until it is settled the run is held in ``_settling``, so that neither
        ``_settle_strays`` nor a cancel takes it for lost.
        """
        entry = active.entry
        run_id = entry.run_id
        self._settling[run_id] = entry
        run_limit_hit = (
            reason is ExitReason.TIMED_OUT and self.clock() >= self._run_deadline(active) - 1e-6
        )
        plan = settlement(
            reason,
            cancelled=active.cancel_requested,
            restarts=entry.restarts,
            max_restarts=self.config.max_restarts,
            run_limit_hit=run_limit_hit,
            detail=detail,
        )
        try:
            await self._in_store(self._write_settlement, run_id, plan)
        except DeskpilotError as exc:
            # The run is still 'running' (or 'interrupted') in the history and nowhere here:
            # _settle_strays resumes it once the history takes writes again.
            self._store_failed(f"record how run {run_id} stopped", exc)
            return
        finally:
            self._settling.pop(run_id, None)
        self._store_ok()
        if plan.statuses[-1][0] is RunStatus.INTERRUPTED:  # a shutdown: the next start resumes it
            self._cancel_pending.discard(run_id)
            return
        if plan.outcome is RunStatus.CANCELLED:
            self._cancel_pending.discard(run_id)
            self._finished(entry.workflow, run_id, RunStatus.CANCELLED)
            return
        entry.restarts = plan.restarts
        self.counters["restarts"] += 1
        self.publish(
            RunInterrupted(
                run_id=run_id,
                workflow=entry.workflow,
                reason=str(reason),
                detail=detail,
                restarts=entry.restarts,
                will_resume=plan.outcome is None,
            )
        )
        if plan.outcome is not None:
            self._cancel_pending.discard(run_id)
            self._finished(entry.workflow, run_id, plan.outcome)
            return
        delay = self.config.restart_backoff(entry.restarts, self.rng.random())
        entry.not_before = self.clock() + delay
        entry.resume = True
        self.queue[run_id] = entry
        logger.warning("run %s interrupted (%s); resuming in %.2fs", run_id, detail, delay)
        if run_id in self._cancel_pending:
            self._cancel_pending.discard(run_id)
            self._spawn_task(self.cancel_off_loop(run_id))
        self._dispatch()

    def _write_settlement(self, run_id: str, plan: Settlement) -> None:
        """Store lane: the run's last events first (in order), then its status changes."""
        try:
            self.recorder.flush(timeout=10)
        except (DeskpilotError, TimeoutError) as exc:
            logger.error("could not record the last events of run %s: %s", run_id, exc)
        for status, error in plan.statuses:
            self.store.set_run_status(run_id, status, error=error)

    def _note(self, run_id: str, seq: int, message: str, data: dict[str, Any]) -> None:
        """Add a warning to a run's event log, written in order with the worker's events."""
        event = LogEmitted(
            run_id=run_id,
            seq=seq,
            at=datetime.now(UTC),
            node_id=None,
            level="warning",
            message=message,
            data=data,
        )
        try:
            self.recorder(event)
        except DeskpilotError as exc:
            logger.error("could not record why run %s stopped: %s", run_id, exc)

    # -- leases and deadlines ---------------------------------------------------------------
    def _arm(self, worker: WorkerHandle) -> None:
        """Wake up at the worker's next deadline (lease or hard deadline)."""
        loop = self._loop
        if loop is None:
            return
        when = min(worker.lease_expires, worker.hard_deadline)
        if when == float("inf"):
            return
        # One timer per worker: an earlier one re-arms itself when it fires, so arming on
        # every step must not pile up timers that each wake the loop for the whole run.
        if worker.timer is not None:
            if worker.timer_due <= when:
                return
            worker.timer.cancel()
        worker.timer_due = when
        worker.timer = loop.call_later(max(0.0, when - self.clock()), self._check_worker, worker)

    def _check_worker(self, worker: WorkerHandle) -> None:
        worker.timer = None
        if worker.kill_reason is not None:
            return
        now = self.clock()
        if now - worker.timer_due > STALL_TOLERANCE and now >= worker.lease_expires:
            # We woke up late: the loop was stalled (a write waiting on a locked database),
            # so the worker's heartbeats may be sitting unread in its pipe.  Read them first;
            # a worker that really is silent is caught one lease later.
            logger.warning(
                "the supervisor was stalled for %.1fs; giving worker %s a fresh lease",
                now - worker.timer_due,
                worker.pid,
            )
            worker.lease_expires = now + (
                self.config.lease if worker.state is WorkerState.BUSY else self._start_timeout()
            )
            self._arm(worker)
            return
        if worker.state is WorkerState.STARTING:
            if now < worker.lease_expires:
                self._arm(worker)
                return
            # Never said hello (frozen, or stuck importing).  Counted as a coming spare, it
            # would hold back the workers the queue needs for ever.
            logger.warning("worker %s did not start within its time; killing it", worker.pid)
            self._kill(worker, ExitReason.HUNG)
            return
        if worker.state is not WorkerState.BUSY:
            return
        if now >= worker.hard_deadline:
            self._kill(worker, worker.hard_deadline_reason)
        elif now >= worker.lease_expires:
            self.counters["heartbeat_misses"] += 1
            silent = now - (worker.lease_expires - self.config.lease)
            self.publish(
                HeartbeatMissed(
                    worker_id=worker.id, pid=worker.pid, run_id=worker.run_id, silent_for=silent
                )
            )
            self._kill(worker, ExitReason.HUNG)
        else:
            self._arm(worker)

    def _kill(self, worker: WorkerHandle, reason: ExitReason) -> None:
        worker.kill_reason = reason
        if worker.state is WorkerState.BUSY:
            worker.move(WorkerState.STOPPING)
        if reason is ExitReason.HUNG:
            request_stack_dump(worker.pid)
        self._spawn_task(self._collect_and_kill(worker, reason))

    async def _collect_and_kill(self, worker: WorkerHandle, reason: ExitReason) -> None:
        run_id = worker.run_id
        if run_id:
            stuck = reason in (ExitReason.HUNG, ExitReason.TIMED_OUT)
            path = self.artifacts_dir / run_id / f"worker-{worker.id}-{reason}.json"
            log_path = self.worker_log(worker.id) if self.worker_log else None
            extra = {"worker_id": worker.id, "heartbeats": worker.heartbeats}
            redactor = await self._evidence_redactor(run_id)
            try:
                await self._in_store(
                    _collect_evidence, path, worker.pid, reason, log_path, extra, stuck, redactor
                )
                await self._in_store(
                    self.store.add_artifact,
                    run_id,
                    str(path),
                    kind="evidence",
                    description=f"worker {reason}",
                )
            except (OSError, DeskpilotError) as exc:
                logger.warning("could not save evidence for worker %s: %s", worker.pid, exc)
            if stuck:
                await self._screen_evidence(worker, reason)
        kill_tree(worker.pid)

    async def _evidence_redactor(self, run_id: str) -> Redactor | None:
        """The secrets this run can read, from the keyring, to mask its evidence with.

        In a thread with a deadline: a keyring that does not answer must not
        stall the loop; then what may carry a secret is withheld.
        """
        active = self.active.get(run_id)
        text = active.entry.text if active is not None else None
        try:
            return await asyncio.wait_for(asyncio.to_thread(evidence_redactor, text), timeout=5.0)
        except TimeoutError:
            logger.warning("the keyring did not answer; evidence of run %s is withheld", run_id)
            return None

    async def _screen_evidence(self, worker: WorkerHandle, reason: ExitReason) -> None:
        """A screenshot before the kill, for runs holding the desktop: the screen is evidence.

        Taken in a thread with a deadline, so a wedged X server cannot stall the loop
        that watches every other worker.
        """
        run_id = worker.run_id
        active = self.active.get(run_id) if run_id else None
        if run_id is None or active is None or "desktop" not in active.entry.resources:
            return
        if not display_available():
            return
        path = self.artifacts_dir / run_id / f"worker-{worker.id}-{reason}-screen.png"
        try:
            await asyncio.wait_for(asyncio.to_thread(grab_screen_png, path), timeout=3.0)
            await self._in_store(
                self.store.add_artifact,
                run_id,
                str(path),
                kind="screenshot",
                description=f"the screen when the worker was found {reason}",
            )
        except Exception as exc:  # no display, a refused grab, a full disk: evidence is optional
            logger.warning("could not take a screenshot for worker %s: %s", worker.pid, exc)

    # -- dispatching -------------------------------------------------------------------------
    def _wake_in(self, delay: float) -> None:
        loop = self._loop
        if loop is None:
            return
        if self._wake is not None:
            if self._wake.when() <= loop.time() + delay:
                return
            self._wake.cancel()
        self._wake = loop.call_later(delay, self._woken)

    def _woken(self) -> None:
        self._wake = None
        self._dispatch()

    def reset_breaker(self, workflow: str) -> bool:
        """Close a workflow's breaker by hand; False if it was not open."""
        breaker = self.breakers.get(workflow)
        if breaker is None or breaker.opened_at is None:
            return False
        breaker.reset()
        self.publish(BreakerClosed(workflow=workflow))
        self._breaker_changed(workflow, BreakerState.CLOSED)
        self._dispatch()
        return True

    def breaker(self, workflow: str) -> CircuitBreaker:
        breaker = self.breakers.get(workflow)
        if breaker is None:
            breaker = self.breakers[workflow] = CircuitBreaker(self.config.breaker)
        return breaker

    def _dispatch(self) -> None:
        if not self.accepting:
            return
        now = self.clock()
        desktop_busy = any("desktop" in e.resources for e in self._holding())
        next_wake: float | None = None
        for entry in sorted(self.queue.values(), key=lambda e: (-e.priority, e.order)):
            if len(self.active) + len(self._starting) >= self.config.worker_limit:
                break
            if entry.not_before > now:
                next_wake = min(next_wake or entry.not_before, entry.not_before)
                continue
            if "desktop" in entry.resources and desktop_busy:
                continue
            if (
                "desktop" in entry.resources
                and self.desktop_gate
                and self.desktop_gate.holds(entry)
            ):
                continue  # the gate wakes the dispatch when the session is usable again
            breaker = self.breaker(entry.workflow)
            if not breaker.allows(now):
                reopen = breaker.reopens_at()
                if reopen is not None:
                    next_wake = min(next_wake or reopen, reopen)
                continue
            worker = next(self._idle_workers(), None)
            if worker is None:
                self._ensure_spares()
                break
            self._start_run(entry, worker)
            if breaker.started(now):
                self._breaker_opened(entry.workflow, now)
            if "desktop" in entry.resources:
                desktop_busy = True
        if next_wake is not None:
            self._wake_in(max(0.0, next_wake - now))
        self._ensure_spares()

    def _holding(self) -> Iterator[QueuedRun]:
        """Runs on workers, and runs being handed to one."""
        yield from (active.entry for active in self.active.values())
        yield from (entry for entry, _ in self._starting.values())

    def _idle_workers(self) -> Iterator[WorkerHandle]:
        reserved = {worker.id for _, worker in self._starting.values()}
        return (
            w for w in self.workers.values() if w.state is WorkerState.IDLE and w.id not in reserved
        )

    def _start_run(self, entry: QueuedRun, worker: WorkerHandle) -> None:
        """Hand a queued run to an idle worker, once the history has it running.

        The worker is reserved and the history's part (the checkpoint, the
        ``running`` status) is queued on the store lane at once, so that any
        later write about this run comes after it; the loop goes on meanwhile.
        If the write fails (disk full, database locked) the run goes back to
        the queue, to be tried again, rather than half-started on a worker
        that never hears of it.
        """
        del self.queue[entry.run_id]
        self._starting[entry.run_id] = (entry, worker)
        source = self._checkpoint_sources.get(entry.run_id, entry.run_id)
        loop = asyncio.get_running_loop()
        written = loop.run_in_executor(self._store_lane, self._mark_running, entry, source)
        self._spawn_task(self._hand_over(entry, worker, written))

    def _mark_running(self, entry: QueuedRun, source: str) -> Handover:
        """Store lane: what the run resumes from, then its ``running`` status."""
        checkpoint: dict[str, Any] = {}
        attempts_used: dict[str, int] = {}
        interrupted: dict[str, Any] | None = None
        seq_after = entry.last_seq  # notes written while it waited (``desktop_gate``)
        if entry.resume:
            checkpoint = {
                str(step): {
                    "node_id": rec.node_id,
                    "emissions": rec.emissions or [],
                    "vars_set": rec.vars_set or {},
                }
                for step, rec in self.store.checkpoint(source).items()
            }
            if source == entry.run_id:
                # Its events number on after the earlier attempts' (and the notes about
                # why they stopped), so the run's log stays one ordered, unique sequence.
                seq_after = max(entry.last_seq, self.store.last_seq(entry.run_id))
                records = self.store.steps(entry.run_id)
                for record in records:
                    if str(record.step) not in checkpoint:
                        attempts_used[str(record.step)] = max(
                            attempts_used.get(str(record.step), 0), record.attempt
                        )
                interrupted = interrupted_step(records, {int(s) for s in checkpoint})
            if entry.debug.run_from is not None and source != entry.run_id:
                checkpoint = cut_checkpoint(checkpoint, entry.debug.run_from)
        self.store.set_run_status(entry.run_id, RunStatus.RUNNING)
        return Handover(checkpoint, attempts_used, seq_after, interrupted)

    async def _hand_over(
        self, entry: QueuedRun, worker: WorkerHandle, written: asyncio.Future[Handover]
    ) -> None:
        run_id = entry.run_id
        try:
            handover = await written
        except DeskpilotError as exc:
            self._starting.pop(run_id, None)
            self.queue[run_id] = entry  # still queued in the history: it waits its turn again
            self._store_failed(f"start run {run_id}", exc)
            self._wake_in(STORE_RETRY_SECONDS)
            return
        self._starting.pop(run_id, None)
        self._store_ok()
        if worker.state is not WorkerState.IDLE or worker.id not in self.workers:
            # The worker died while the history was written: the run is 'running' with no
            # worker, so it goes back through the interruption path, as after a crash.
            reason = ExitReason.CRASHED if self.accepting else ExitReason.SHUTDOWN
            self._spawn_task(
                self._settle(
                    ActiveRun(entry=entry, worker=worker, started=self.clock()),
                    reason,
                    "its worker exited before the run reached it",
                )
            )
            return
        self._checkpoint_sources.pop(run_id, None)
        worker.move(WorkerState.BUSY)
        worker.run_id = run_id
        worker.last_seq = handover.seq_after  # a note on how this attempt ends numbers on from here
        now = self.clock()
        if entry.first_started is None:
            entry.first_started = now
        time_left = entry.time_left(now)
        worker.lease_expires = now + self.config.lease
        active = ActiveRun(entry=entry, worker=worker, started=now)
        self.active[run_id] = active
        worker.hard_deadline = self._run_deadline(active)
        message = {
            "type": "start",
            "run_id": run_id,
            "workflow_path": entry.path,
            "workflow_text": entry.text,
            "inputs": entry.inputs,
            "checkpoint": handover.checkpoint,
            "attempts_used": handover.attempts_used,
            "interrupted": handover.interrupted,
            "seq_after": handover.seq_after,
            "trigger": entry.trigger,
            "artifacts_dir": str(self.artifacts_dir),
            # what is left of the run's time limit (a resumed run does not get it afresh)
            "deadline_seconds": None if time_left is None else max(time_left, 0.001),
            **start_fields(entry.debug, self.config.pause_timeout),
        }
        self._spawn_task(self._send_start(worker, message))
        self._arm(worker)
        if run_id in self._cancel_pending:
            self._cancel_pending.discard(run_id)
            self._cancel_active(active)

    async def _send_start(self, worker: WorkerHandle, message: dict[str, Any]) -> None:
        if not await worker.send(message):
            logger.warning("worker %s went away before its start message", worker.pid)

    # -- outcomes ------------------------------------------------------------------------------
    def _breaker_opened(self, workflow: str, now: float) -> None:
        """A breaker opened, on failures or on run rate: pause, tell, and wake at half-open."""
        breaker = self.breaker(workflow)
        self.publish(
            BreakerOpened(
                workflow=workflow,
                failures=len(breaker.failures),
                reason=str(breaker.opened_for or OpenedFor.FAILURES),
            )
        )
        if breaker.opened_for is OpenedFor.RUN_RATE:
            policy = breaker.policy
            logger.warning(
                "workflow %s started more than %d runs in %g s: circuit breaker opened",
                workflow,
                policy.max_starts,
                policy.rate_window,
            )
        else:
            logger.warning("workflow %s keeps failing: circuit breaker opened", workflow)
        self._breaker_changed(workflow, BreakerState.OPEN)
        reopen = breaker.reopens_at()
        if reopen is not None:
            self._wake_in(max(0.0, reopen - now))
            if self._loop is not None:
                self._loop.call_later(
                    max(0.0, reopen - now), self._breaker_half_open, workflow, reopen
                )

    def _finished(self, workflow: str, run_id: str, status: RunStatus) -> None:
        now = self.clock()
        breaker = self.breaker(workflow)
        if status is RunStatus.SUCCEEDED:
            if breaker.record_success(now):
                self.publish(BreakerClosed(workflow=workflow))
                self._breaker_changed(workflow, BreakerState.CLOSED)
        elif status is RunStatus.FAILED and breaker.record_failure(now):
            self._breaker_opened(workflow, now)
        for listener in self.on_run_finished:
            try:
                listener(workflow, run_id, str(status))
            except Exception:
                logger.exception("run-finished callback failed")

    def _breaker_changed(self, workflow: str, state: BreakerState) -> None:
        for listener in self.on_breaker:
            try:
                listener(workflow, state)
            except Exception:
                logger.exception("breaker callback failed")

    def _breaker_half_open(self, workflow: str, reopen: float) -> None:
        """The cool-down ended: let listeners (paused triggers) send the probe run."""
        breaker = self.breaker(workflow)
        if breaker.reopens_at() == reopen and breaker.state(self.clock()) is BreakerState.HALF_OPEN:
            self._breaker_changed(workflow, BreakerState.HALF_OPEN)
            self._dispatch()

    # -- reading state ---------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """What ``/health`` reports; it reads no table, so a locked database cannot stall it.

        The database's state is what the last writes met (each commit batch checks
        the file is still the one opened), plus one ``stat`` of the file now.
        """
        problem = self.store.problem()
        failure = self.recorder.failure
        trouble = problem or self.store_trouble or (str(failure) if failure is not None else None)
        database = "ok" if trouble is None else f"error: {trouble}"
        return {
            "status": "ok" if database == "ok" else "degraded",
            "accepting": self.accepting,
            "queue_depth": len(self.queue),
            "running": len(self.active),
            "workers": [w.info() for w in self.workers.values()],
            "database": database,
            "breakers": {
                name: str(b.state(self.clock()))
                for name, b in self.breakers.items()
                if b.opened_at is not None
            },
        }


def _collect_evidence(
    path: Path,
    pid: int,
    reason: ExitReason,
    log_path: Path | None,
    extra: dict[str, Any],
    stuck: bool,
    redactor: Redactor | None,
) -> Path:
    """Write what is known of a worker about to be killed (blocking: runs off the loop).

    A stuck worker's stacks come from py-spy, read from outside (it works on a
    stopped process, which cannot run its own faulthandler); the faulthandler
    dump that ``_kill`` asked for lands in the log tail, read a moment later.
    All of it is masked with ``redactor`` (``supervisor.masking``).
    """
    asked = time.monotonic()
    if stuck:
        extra = {**extra, "python_stacks": python_stacks(pid)}
        # give faulthandler a moment to write its dump into the log
        time.sleep(max(0.0, 0.05 - (time.monotonic() - asked)))
    return save_evidence(
        path,
        pid=pid,
        reason=str(reason),
        log_tail=tail(log_path, redactor=redactor) if log_path else "",
        extra=extra,
        redactor=redactor,
    )


@dataclass
class BehindBatch:
    """What ``Supervisor.batch_behind`` queued: calls to run after its commit, and its outcome."""

    #: Store-lane calls run after the runs are written, only if they were.
    after: list[Callable[[], object]] = field(default_factory=list)
    #: Resolves once the write is done (raises its error if it failed); set as the block ends.
    written: asyncio.Future[tuple[list[VersionRef], set[str]]] | None = None

    def then(self, call: Callable[[], object]) -> None:
        self.after.append(call)


@dataclass(frozen=True)
class Handover:
    """What the history says a starting run resumes from (read on the store lane)."""

    checkpoint: dict[str, Any]
    attempts_used: dict[str, int]
    seq_after: int
    interrupted: dict[str, Any] | None


@dataclass(frozen=True)
class Settlement:
    """How an interrupted run's history changes, and how it ends (None: it resumes)."""

    statuses: tuple[tuple[RunStatus, str | None], ...]
    outcome: RunStatus | None
    restarts: int


def settlement(
    reason: ExitReason,
    *,
    cancelled: bool,
    restarts: int,
    max_restarts: int,
    run_limit_hit: bool,
    detail: str,
) -> Settlement:
    """Decide what follows a run's interruption: a pure function of what is known.

    A shutdown leaves it interrupted (the next start resumes it); a cancel ends
    it cancelled; otherwise it resumes, unless it was interrupted more than
    ``max_restarts`` times or its time limit passed, and then it fails.
    """
    interrupted = (RunStatus.INTERRUPTED, detail)
    if reason is ExitReason.SHUTDOWN:
        return Settlement((interrupted,), None, restarts)
    if cancelled or reason is ExitReason.CANCELLED:
        stop = (RunStatus.CANCELLED, "cancelled; the worker was stopped")
        return Settlement((interrupted, stop), RunStatus.CANCELLED, restarts)
    restarts += 1
    if restarts <= max_restarts and not run_limit_hit:
        return Settlement((interrupted, (RunStatus.QUEUED, None)), None, restarts)
    why = "its time limit passed" if run_limit_hit else f"it was interrupted {restarts} times"
    failed = (RunStatus.FAILED, f"{detail}; gave up because {why}")
    return Settlement((interrupted, failed), RunStatus.FAILED, restarts)


def _version_key(loaded: LoadedWorkflow) -> tuple[str, str | None, str]:
    path = str(loaded.path) if loaded.path else None
    return (loaded.workflow.name, path, content_hash(loaded.text))


def _step_timeouts(loaded: LoadedWorkflow, registry: BlockRegistry) -> dict[str, float]:
    workflow = loaded.workflow
    result = {}
    for node_id, node in workflow.nodes.items():
        timeout = step_timeout(workflow, node_id, registry.get(node.block))
        if timeout is not None:
            result[node_id] = timeout
    return result


def _describe_exit(reason: ExitReason, returncode: int | None) -> str:
    if reason is ExitReason.HUNG:
        return "worker hung: no heartbeat within its lease; evidence saved, process tree killed"
    if reason is ExitReason.TIMED_OUT:
        return "worker timed out: a step or the run outlived its deadline and did not stop; killed"
    if reason is ExitReason.SHUTDOWN:
        return "the supervisor shut down while the run was in progress"
    if reason is ExitReason.CANCELLED:
        return "cancelled; the worker did not stop in time and was killed"
    if returncode is not None and returncode < 0:
        import signal

        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"worker crashed: killed by {name}"
    return f"worker crashed: exited with code {returncode} before the run finished"


def _checked_debug(loaded: LoadedWorkflow, debug: DebugOptions | None) -> DebugOptions:
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


def _node_ids(text: str) -> frozenset[str]:
    return frozenset(parse_workflow(text).workflow.nodes)
