"""New runs: submitting, batching, re-running and cancelling."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automation.engine.events import (
    RunStatus,
)
from automation.errors import WorkflowInvalid
from automation.inputs import coerce_inputs, read_text_inputs
from automation.loader import LoadedWorkflow, parse_workflow, read_workflow_file
from automation.validation import validate
from supervisor.bus import (
    RunCancelled,
    RunQueued,
)
from supervisor.debugging import DebugOptions
from supervisor.dispatch import DESKTOP
from supervisor.errors import IllegalTransition, SupervisorError
from supervisor.protocol import Cancel
from supervisor.runqueue import (
    ActiveRun,
    BehindBatch,
    QueuedRun,
    blocks_of,
    checked_debug,
    queued_row,
    resources_of,
    route,
    step_timeouts,
    version_key,
)
from supervisor.runtime import SupervisorBase, T
from supervisor.store.errors import DatabaseGone
from supervisor.store.records import VersionRef
from supervisor.workers import (
    ExitReason,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RerunChanges:
    """What a re-run changes of the earlier run; left empty, the earlier run's values hold.

    ``inputs`` and ``text_inputs`` (written as text, read by each input's declared
    type) replace those inputs only; ``priority`` replaces the earlier run's;
    ``deadline_seconds`` sets the new run's time limit; ``on`` names the machine.
    """

    inputs: dict[str, Any] = field(default_factory=dict)
    text_inputs: dict[str, str] = field(default_factory=dict)
    priority: int | None = None
    deadline_seconds: float | None = None
    #: The machine that must run it (``runqueue.route``); None: as a submit would route it.
    on: str | None = None


class Submitting(SupervisorBase):
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
        on: str | None = None,
    ) -> str:
        """Queue a run of a validated workflow; returns its id once it is durable.

        ``on`` names the machine that must run it (``route``).  Writes on the
        calling thread (the loop): triggers batch their submits (``batch()``);
        the API uses ``submit_off_loop``.
        """
        entry = self._new_entry(
            loaded, inputs, priority, trigger, run_id, deadline_seconds, checkpoint_from
        )
        entry.debug = checked_debug(loaded, debug)
        entry.target_host = self._routed(entry, on)
        if entry.target_host not in (None, self.membership.host):
            self._check_host(entry.target_host)
        if self._behind is not None:
            self._behind.append((entry, loaded))
            return entry.run_id
        if self._batch is not None:
            version = self._version_of(loaded)
            self._batch.append((queued_row(entry, version), entry))
            return entry.run_id
        self._remember_version(loaded, self._write_new_run(loaded, entry, self._known(loaded)))
        return self._accepted(entry)

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
        on: str | None = None,
    ) -> str:
        """``submit`` whose history writes wait on the store lane, not on the loop.

        A locked database delays this submit (up to the busy timeout, then a
        ``DatabaseLocked``), never ``/health``, ``/workers`` or heartbeats.
        """
        entry = self._new_entry(
            loaded, inputs, priority, trigger, run_id, deadline_seconds, checkpoint_from
        )
        entry.debug = checked_debug(loaded, debug)
        entry.target_host = self._routed(entry, on)
        if entry.target_host not in (None, self.membership.host):
            await self._in_store(self._check_host, entry.target_host)
        version = await self._in_store(self._write_new_run, loaded, entry, self._known(loaded))
        self._remember_version(loaded, version)
        if not self.accepting:
            raise SupervisorError("the supervisor is shutting down; try again when it is back")
        return self._accepted(entry)

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
            blocks=blocks_of(loaded),
            order=self._order,
            deadline_seconds=deadline_seconds,
            step_timeouts=step_timeouts(loaded, self.registry),
        )
        if checkpoint_from is not None:
            entry.resume = True
            entry.checkpoint_from = checkpoint_from
        return entry

    def _write_new_run(
        self, loaded: LoadedWorkflow, entry: QueuedRun, version: VersionRef | None
    ) -> VersionRef:
        """The run's version (unless already known) and queued row: blocking store writes."""
        if version is None:
            version = self.store.save_workflow_version(entry.workflow, entry.path, loaded.text)
        # the fleet's queue is in order of this clock
        self.store.queue_run(queued_row(entry, version), at=self.store_now())
        return version

    def _accepted(self, entry: QueuedRun) -> str:
        self._enqueue(entry)
        self._dispatch()
        return entry.run_id

    def _routed(self, entry: QueuedRun, on: str | None) -> str | None:
        """Where ``entry`` must run (``runqueue.route``).

        Breakpoints, a time limit and "run from here" are stored with the run
        (``runqueue.run_options``), so such runs go wherever the route allows.
        """
        return route(on, desktop=DESKTOP in entry.resources, here=self.membership.host)

    def _check_host(self, host: str) -> None:
        """Refuse a run routed to a machine no supervisor of this database ever ran on."""
        known = {record.host for record in self.store.list_supervisors()}
        if host not in known:
            raise SupervisorError(
                f"no supervisor on a machine named {host!r} shares this database "
                f"(known machines: {', '.join(sorted(known)) or 'none'}); "
                "'deskpilot machines' lists them"
            )

    def _enqueue(self, entry: QueuedRun) -> None:
        if entry.target_host in (None, self.membership.host):
            self.queue[entry.run_id] = entry
        else:
            self.poke()  # the store announces it to its machine; nothing to dispatch here
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
                # Queued "now" on the clock the fleet orders its queue by (``store_now``).
                lost = set(self.store.create_runs([row for row, _ in pending], at=self.store_now()))
                for _, entry in pending:
                    if entry.run_id not in lost:
                        self._enqueue(entry)
                self._dispatch()

    @contextlib.contextmanager
    def batch_behind(self) -> Iterator[BehindBatch]:
        """``batch`` whose one transaction is queued on the store lane as the block ends.

        The loop never waits for the database: the block's submits return their
        ids at once, and the runs are queued (and dispatched) once the write
        has committed.  Trigger states added with ``BehindBatch.save_with_runs``
        are saved in that transaction: they commit with the runs, or neither does.  ``written`` (set
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
            batch.written = self.store_behind(self._write_behind, items, batch.trigger_rows)
            batch.written.add_done_callback(functools.partial(self._behind_written, pending))

    def _write_behind(
        self,
        items: list[tuple[QueuedRun, LoadedWorkflow, VersionRef | None]],
        trigger_rows: list[Mapping[str, Any]],
    ) -> tuple[list[VersionRef], set[str]]:
        """Store lane: the versions not saved yet, then the runs and ``trigger_rows`` in one
        transaction.

        Returns the versions, and the runs not written because another
        supervisor already ran their schedule fire (``HistoryStore.create_runs``).
        """
        versions: list[VersionRef] = []
        saved: dict[tuple[str, str | None, str], VersionRef] = {}
        for entry, loaded, known in items:
            version = known or saved.get(version_key(loaded))
            if version is None:
                version = self.store.save_workflow_version(entry.workflow, entry.path, loaded.text)
                saved[version_key(loaded)] = version
            versions.append(version)
        lost = self.store.create_runs(
            [queued_row(e, v) for (e, _, _), v in zip(items, versions, strict=True)],
            self.store_now(),
            trigger_rows=trigger_rows,
        )
        return versions, set(lost)

    def _behind_written(
        self,
        pending: list[tuple[QueuedRun, LoadedWorkflow]],
        written: asyncio.Future[tuple[list[VersionRef], set[str]]],
    ) -> None:
        if written.cancelled() or written.exception() is not None:
            return  # the caller reports it (see ``BehindBatch.written``)
        versions, lost = written.result()
        for (entry, loaded), version in zip(pending, versions, strict=True):
            self._remember_version(loaded, version)
            if entry.run_id in lost:
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
        return self._versions.get(version_key(loaded))

    def _remember_version(self, loaded: LoadedWorkflow, version: VersionRef) -> None:
        if len(self._versions) >= 512:
            self._versions.clear()  # a crude bound; misses only cost one write
        self._versions[version_key(loaded)] = version

    def rerun(
        self,
        run_id: str,
        *,
        mode: str = "start",
        current_path: Path | None = None,
        debug: DebugOptions | None = None,
        changes: RerunChanges | None = None,
    ) -> str:
        """Run a finished run again: from the start, from its failed node, or on the current file.

        Mode ``from_node`` ("run from here") reuses the outputs of the steps
        before ``debug.run_from``, which must be given.  ``changes`` replaces
        some of the earlier run's inputs, its priority or its time limit.
        """
        loaded, options = self._rerun_of(run_id, mode, current_path, debug, changes)
        return self.submit(loaded, **options)

    async def rerun_off_loop(
        self,
        run_id: str,
        *,
        mode: str = "start",
        current_path: Path | None = None,
        debug: DebugOptions | None = None,
        changes: RerunChanges | None = None,
    ) -> str:
        """``rerun`` whose history reads and writes wait on the store lane, not on the loop."""
        loaded, options = await self._in_store(
            self._rerun_of, run_id, mode, current_path, debug, changes
        )
        return await self.submit_off_loop(loaded, **options)

    def _rerun_of(
        self,
        run_id: str,
        mode: str,
        current_path: Path | None,
        debug: DebugOptions | None = None,
        changes: RerunChanges | None = None,
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
        changes = changes or RerunChanges()
        inputs = {
            **(record.inputs or {}),
            **changes.inputs,
            **read_text_inputs(loaded.workflow, changes.text_inputs),
        }
        return loaded, {
            "inputs": inputs,
            "priority": record.priority if changes.priority is None else changes.priority,
            "trigger": f"rerun:{run_id}",
            "checkpoint_from": run_id if mode in ("failed_node", "from_node") else None,
            "debug": debug,
            "deadline_seconds": changes.deadline_seconds,
            "on": changes.on,
        }

    def cancel(self, run_id: str) -> bool:
        """Cancel a queued or running run, wherever it is; False if it already ended."""
        entry = self.queue.get(run_id)
        if entry is not None:
            # saved first: if the history refuses, the run stays queued and the caller hears why
            try:
                self.store.set_run_status(
                    run_id,
                    RunStatus.CANCELLED,
                    error="cancelled before it started",
                    expected=RunStatus.QUEUED,
                )
            except IllegalTransition:  # another supervisor claimed it meanwhile
                self.queue.pop(run_id, None)
                return self._request_cancel(run_id)
            del self.queue[run_id]
            self._cancelled_queued(entry)
            return True
        return self._cancel_elsewhere(run_id) or self._request_cancel(run_id)

    async def cancel_off_loop(self, run_id: str) -> bool:
        """``cancel`` whose history writes wait on the store lane, not on the loop."""
        entry = self.queue.pop(run_id, None)
        if entry is None:
            if self._cancel_elsewhere(run_id):
                return True
            return bool(await self._in_store(self._request_cancel, run_id))
        try:
            await self._in_store(
                self.store.set_run_status,
                run_id,
                RunStatus.CANCELLED,
                error="cancelled before it started",
                expected=RunStatus.QUEUED,
            )
        except IllegalTransition:  # another supervisor claimed it meanwhile
            return bool(await self._in_store(self._request_cancel, run_id))
        except BaseException:
            self.queue[run_id] = (
                entry  # the history refused: still queued, and the caller hears why
            )
            self._dispatch()
            raise
        self._cancelled_queued(entry)
        return True

    def _request_cancel(self, run_id: str) -> bool:
        """A run this supervisor does not hold: ask its owner through the store (blocking).

        A queued one is cancelled at once; a running one stops when its
        supervisor renews its lease.  False if it already ended, or is unknown.
        """
        record = self.store.get_run(run_id)
        if record is None or record.status.terminal:
            return False
        self.store.request_cancel(run_id)
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
        self._spawn_task(worker.send(Cancel(reason="cancelled")))
        worker.hard_deadline = min(worker.hard_deadline, self.clock() + self.config.kill_grace)
        worker.hard_deadline_reason = ExitReason.CANCELLED
        self._arm(worker)
