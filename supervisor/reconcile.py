"""Runs the history holds that nothing here does: after a restart, or a refused write."""

from __future__ import annotations

import logging
from pathlib import Path

from automation.engine.events import (
    RunStatus,
)
from automation.errors import DeskpilotError, WorkflowError
from automation.loader import parse_workflow
from supervisor.desktop_gate import DESKTOP
from supervisor.runqueue import (
    QueuedRun,
    apply_options,
    blocks_of,
    resources_of,
    step_timeouts,
)
from supervisor.runtime import ParsedVersion, SupervisorBase
from supervisor.store.records import RunRecord

logger = logging.getLogger(__name__)


class Reconciling(SupervisorBase):
    # -- start-up reconciliation ----------------------------------------------------
    def _reconcile(self) -> None:
        """This supervisor's runs left ``running`` are interrupted and resumed; queued ones reload.

        Only its own (``_mine``): runs it claimed before it stopped (or that
        nobody claimed, from before claims were recorded; on SQLite, any).  Another supervisor's live
        runs are left alone; those whose lease expired were reaped at
        ``_join`` and are queued again, so they reload here like any queued
        run routed to this machine.  Runs at start, before the API serves:
        nothing waits on the loop yet.
        """
        for record in self.store.list_runs(status=RunStatus.RUNNING, limit=None):
            if not self._mine(record):
                continue
            detail = "the supervisor stopped while this run was in progress"
            self._hold(self._resume_lost(record, detail, "supervisor_lost", "supervisor restarted"))
        for record in self.store.list_runs(status=RunStatus.INTERRUPTED, limit=None):
            if not self._mine(record):
                continue
            logger.info("run %s was interrupted by the last shutdown; resuming it", record.id)
            self._hold(
                self._requeue_from_store(
                    record.id,
                    reason="interrupted before the last shutdown",
                    owner=self._owner(record),
                )
            )
        host = self.membership.host
        for record in reversed(self.store.list_runs(status=RunStatus.QUEUED, limit=None)):
            if record.id not in self.queue and record.target_host in (None, host):
                self._hold(self._load_queued(record.id))

    def _mine(self, record: RunRecord) -> bool:
        """Whether a run the history shows running or interrupted is this supervisor's to resume.

        Without leases (a SQLite file) every such run is: the daemon holds the
        file's history lock (``supervisor.instance_lock.HistoryLock``), so no
        other supervisor is alive on it, and a run another home's supervisor
        left running was lost with it (killed, or the machine went down).
        """
        if self.membership.lease_seconds is None:
            return True
        return record.claimed_by in (None, self.membership.id)

    def _owner(self, record: RunRecord) -> str | None:
        """The fence for writes about ``record``: this supervisor's id, if it claimed the run."""
        return self.membership.id if record.claimed_by == self.membership.id else None

    def _hold(self, entry: QueuedRun | None) -> None:
        if entry is not None:
            self.queue[entry.run_id] = entry

    def _resume_lost(
        self, record: RunRecord, detail: str, tag: str, reason: str
    ) -> QueuedRun | None:
        """A run the history shows running that no worker runs: note why, interrupt, resume."""
        run_id = record.id
        owner = self._owner(record)
        seq = self.store.last_seq(run_id) + 1
        self._note(run_id, seq, detail, {"reason": tag})
        self.store.set_run_status(run_id, RunStatus.INTERRUPTED, error=detail, owner=owner)
        logger.warning("run %s: %s; resuming it", run_id, detail)
        return self._requeue_from_store(run_id, reason=reason, last_seq=seq, owner=owner)

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
            if record.id not in held and self._mine(record):
                detail = "the supervisor could not save how this run's worker ended"
                found.append(
                    self._resume_lost(record, detail, "status_not_saved", "status not saved")
                )
        for record in self.store.list_runs(status=RunStatus.INTERRUPTED, limit=None):
            if record.id not in held and self._mine(record):
                found.append(
                    self._requeue_from_store(
                        record.id, reason="status not saved", owner=self._owner(record)
                    )
                )
        return [entry for entry in found if entry is not None]

    def _entry_from_record(self, run_id: str, record: RunRecord | None = None) -> QueuedRun | None:
        """A queue entry for a run of the history (blocking: store lane, or at start)."""
        record = record or self.store.get_run(run_id)
        if record is None or record.version_id is None:
            return None
        version = self._parsed_version(record)
        if version is None:
            return None
        text, path, resources, timeouts, blocks = version
        self._order += 1
        entry = QueuedRun(
            run_id=record.id,
            workflow=record.workflow_name,
            text=text,
            path=path,
            inputs=dict(record.inputs or {}),
            priority=record.priority,
            trigger=record.trigger,
            resources=resources,
            blocks=blocks,
            restarts=record.resumes,
            order=self._order,
            step_timeouts=dict(timeouts),
            target_host=record.target_host,
        )
        entry.not_before = self._local_time(record.not_before)
        if DESKTOP in resources:
            # A wait for a usable session it was in when its supervisor stopped goes on.
            entry.session_wait = self.store.session_wait(record.id)
        # Breakpoints, time limit, "run from here": as submitted, on whichever machine.
        apply_options(entry, record.options)
        if entry.deadline_seconds is not None and record.started_at is not None:
            # Its time limit counts from its first start, on any machine, less its pauses.
            # (its first start is on the store's clock, as every claim stamps it in a fleet)
            ran = (self.store_now() - record.started_at).total_seconds()
            entry.first_started = self.clock() - max(0.0, ran)
            entry.paused_seconds = self.store.paused_seconds(record.id)
        return entry

    def _parsed_version(self, record: RunRecord) -> ParsedVersion | None:
        """The run's workflow version: its text and path, what it needs, its step timeouts.

        Kept by version id: a fleet's supervisors load many runs of the same
        few versions, and parsing each again would cost more than running it.
        """
        version_id = record.version_id
        if version_id is None:
            return None
        known = self._parsed.get(version_id)
        if known is not None:
            return known
        text = self.store.version_content(version_id)
        if text is None:
            return None
        # The file's path gives relative paths in the workflow their meaning: a resumed run
        # must resolve them where its first attempt did.
        path = self.store.workflow_path(record.workflow_id)
        try:
            loaded = parse_workflow(text, path=Path(path) if path else None)
        except WorkflowError:
            return None
        parsed = (
            text,
            path,
            resources_of(loaded, self.registry),
            step_timeouts(loaded, self.registry),
            blocks_of(loaded),
        )
        if len(self._parsed) >= 256:
            self._parsed.clear()  # a crude bound; a miss costs one parse
        self._parsed[version_id] = parsed
        return parsed

    def _load_queued(self, run_id: str) -> QueuedRun | None:
        entry = self._entry_from_record(run_id)
        if entry is None:
            self.store.set_run_status(
                run_id, RunStatus.CANCELLED, error="its workflow version is missing"
            )
            return None
        # Interrupted before (here or on another machine): its events number on.
        entry.resume = entry.resume or entry.restarts > 0 or bool(self.store.checkpoint(run_id))
        return entry

    def _requeue_from_store(
        self, run_id: str, reason: str, last_seq: int = 0, owner: str | None = None
    ) -> QueuedRun | None:
        entry = self._entry_from_record(run_id)
        if entry is None:
            self.store.set_run_status(
                run_id,
                RunStatus.FAILED,
                error=f"cannot resume ({reason}): workflow version missing",
                owner=owner,
            )
            return None
        entry.restarts += 1
        entry.resume = True
        entry.last_seq = last_seq
        self.store.set_run_status(run_id, RunStatus.QUEUED, owner=owner)
        return entry
