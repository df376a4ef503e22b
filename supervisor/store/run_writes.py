"""The queue's writes: new runs, and every change of a run's status, fenced by its claim.

Split from ``HistoryStore`` along the queue's seam: what puts a run in the
queue (``create_run``, ``queue_run``, and ``create_runs`` for a batch of
fires with their triggers' state) and what moves it along its lifecycle
(``set_run_status``, a compare-and-set fenced by the claimant's lease).
In a fleet every one of them is fenced on the writer's ``supervisors`` row
or its claim (``supervisor.store.fires``, ``supervisor.store.claims``): a
supervisor that lost its place writes nothing.  The claims themselves are
``FleetMethods``'; reads of the history are ``RunDetails``'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, func, insert, literal, or_, select, update

from automation.clock import Clock
from automation.engine.events import (
    IllegalTransition,
    RunStatus,
    StepStatus,
    check_run_transition,
)
from supervisor.errors import RunStatusChanged
from supervisor.store.chain_fires import add_chain_fire, goes_to_outbox
from supervisor.store.errors import RunNotFound
from supervisor.store.fires import Unwritten, insert_runs_once, registered, require_registered
from supervisor.store.leasing import lease_micros
from supervisor.store.records import QueuedRow, RunRecord, VersionRef, run_record, whole_span
from supervisor.store.schema import runs, step_runs, workflows
from supervisor.store.trigger_upsert import Rows, upsert_trigger_rows
from supervisor.store.types import UTCDateTime
from supervisor.store.writer import BatchWriter

T = TypeVar("T")


class RunWrites:
    """New runs and their status changes (mixed into HistoryStore)."""

    clock: Clock
    #: What judges leases (``supervisor.store.leasing``): None, the database's clock.
    lease_clock: Clock | None
    fired_by: str
    fire_keys: bool
    fire_fenced: bool
    _writer: BatchWriter

    def _transaction(
        self, work: Callable[[Connection], T], what: str, *, idempotent: bool = False
    ) -> T:  # pragma: no cover - HistoryStore's
        raise NotImplementedError

    def create_run(
        self,
        run_id: str,
        workflow_name: str,
        *,
        status: RunStatus | str = RunStatus.QUEUED,
        trigger: str = "manual",
        priority: int = 0,
        inputs: dict[str, Any] | None = None,
        parent_run_id: str | None = None,
        version: VersionRef | None = None,
        at: datetime | None = None,
        target_host: str | None = None,
        needs_desktop: bool = False,
        options: dict[str, Any] | None = None,
    ) -> RunRecord:
        """Record a run before a worker starts it (the queue's view of it).

        ``target_host`` routes it to one machine, ``needs_desktop`` makes it
        wait for that machine's desktop (see ``claim_queued``); ``options``
        are how whichever supervisor claims it runs it (breakpoints, time
        limit, "run from here").  A fleet's supervisor no longer registered (forgotten,
        stopped) takes none: ``SupervisorNotRegistered`` (``supervisor.store.fires``).
        """
        at = at or self.clock.now()
        status = RunStatus(status)

        def create(connection: Connection) -> RunRecord:
            if self.fire_fenced and self.fire_keys:
                require_registered(connection, self.fired_by)
            workflow_id = (
                version.workflow_id
                if version is not None
                else connection.execute(
                    select(workflows.c.id).where(workflows.c.name == workflow_name)
                ).scalar()
            )
            connection.execute(
                insert(runs).values(
                    id=run_id,
                    workflow_id=workflow_id,
                    version_id=version.version_id if version is not None else None,
                    workflow_name=workflow_name,
                    parent_run_id=parent_run_id,
                    status=status.value,
                    trigger=trigger,
                    priority=priority,
                    inputs=inputs if inputs is not None else {},
                    queued_at=at,
                    started_at=at if status is not RunStatus.QUEUED else None,
                    finished_at=at if status.terminal else None,
                    target_host=target_host,
                    needs_desktop=needs_desktop,
                    options=options or None,
                )
            )
            return self._run_row(connection, run_id)

        return self._transaction(create, "recording a new run")

    def queue_run(self, row: QueuedRow, at: datetime | None = None) -> None:
        """``create_run`` of a queued run, fenced alike, without reading its row back:
        a submit needs none, and the read was a third of the write's time."""

        def insert_row(connection: Connection) -> None:
            if self.fire_fenced and self.fire_keys:
                require_registered(connection, self.fired_by)
            connection.execute(insert(runs).values(row.values(at or self.clock.now())))

        self._transaction(insert_row, "recording a new run")

    def create_runs(
        self, queued: Sequence[QueuedRow], at: datetime | None = None, *, trigger_rows: Rows = ()
    ) -> list[str]:
        """Record several queued runs in one transaction: all of them are durable, or none.

        Schedules on a common grid fire together; one commit for all their runs
        instead of one each keeps the last of them from being late by the others.
        A schedule fire another supervisor already ran (its fire key is taken,
        see ``supervisor.store.fires``) is not recorded: returns those run ids,
        which the caller must not run.  ``trigger_rows`` (the states of the
        triggers that fired, ``TriggerStateStore.rows_of``) are saved in the
        same transaction: a fire's run and its trigger's state commit together,
        with one commit instead of two on the path of every fire.  A fleet's
        supervisor no longer registered writes neither: its runs come back
        ``fenced_out``, and its triggers' state stays as the fleet has it.
        """
        if not queued and not trigger_rows:
            return []
        at = at or self.clock.now()
        # a microsecond apart: the history lists them in the order submitted
        rows = [row.values(at + timedelta(microseconds=index)) for index, row in enumerate(queued)]

        def write(connection: Connection) -> Unwritten:
            if self.fire_fenced and self.fire_keys and not registered(connection, self.fired_by):
                # Fenced out (``fires``): it writes nothing, its triggers' state neither,
                # even in a batch with no run (a pass that only recorded its mark).
                return Unwritten([str(row["id"]) for row in rows], fenced_out=True)
            lost = insert_runs_once(connection, rows, self.fired_by, at, keys=self.fire_keys)
            # after the fire keys: one lock order
            upsert_trigger_rows(connection, trigger_rows, self.lease_clock)
            return lost

        lost = self._transaction(write, "recording queued runs")
        lost.report(self.fired_by)
        return lost.ids

    def set_run_status(
        self,
        run_id: str,
        status: RunStatus | str,
        *,
        error: str | None = None,
        stopped_reason: str | None = None,
        at: datetime | None = None,
        expected: RunStatus | str | None = None,
        owner: str | None = None,
        not_before: datetime | None = None,
    ) -> RunRecord:
        """Move a run along its lifecycle; an illegal change raises ``IllegalTransition``.

        A compare-and-set on the status just read: a row another process
        changed meanwhile raises ``RunStatusChanged``, as does a status other
        than ``expected``.  With ``owner`` (the claimant's id) it is fenced
        too: the run must still be claimed by ``owner`` under a lease that has
        not expired, or ``RunStatusChanged`` says so and nothing is written.
        A supervisor whose lease ran out can no longer record a result.  The
        lease is judged by the database's clock (``leasing``), in the UPDATE
        itself: after any wait for the row's lock, whatever this machine's
        clock says.

        A run that stops here (interrupted, failed or cancelled by the
        supervisor, not by its engine) also closes the step attempts it left
        running, so they do not show as running forever.

        A run queued again may be given ``not_before``, the end of its restart
        delay: no claim takes it earlier, whichever supervisor tries.
        """
        new = RunStatus(status)
        want = None if expected is None else RunStatus(expected)
        at = at or self.clock.now()

        def change(connection: Connection) -> RunRecord:
            lease_now = lease_micros(connection.dialect.name, self.lease_clock)
            row = connection.execute(
                select(
                    runs.c.status,
                    runs.c.started_at,
                    runs.c.claimed_by,
                    runs.c.lease_expires_at,
                    runs.c.workflow_name,
                    (runs.c.lease_expires_at <= lease_now).label("lease_expired"),
                ).where(runs.c.id == run_id)
            ).first()
            if row is None:
                raise RunNotFound(run_id)
            current = RunStatus(row.status)
            if want is not None and current is not want:
                raise RunStatusChanged(run_id, want.value, current.value)
            if owner is not None and row.claimed_by != owner:
                raise RunStatusChanged(
                    run_id, current.value, current.value, f"claimed by {row.claimed_by or 'nobody'}"
                )
            if owner is not None and row.lease_expires_at is not None and row.lease_expired:
                raise RunStatusChanged(
                    run_id,
                    current.value,
                    current.value,
                    f"the lease of {owner} expired at {row.lease_expires_at.isoformat()}",
                )
            try:
                check_run_transition(current, new)
            except IllegalTransition as exc:
                raise IllegalTransition(f"run {run_id}: {exc}") from None
            values: dict[str, Any] = {"status": new.value}
            if new is not RunStatus.RUNNING:
                values["desktop_claim"] = None  # only a claim takes a machine's desktop
            if new is RunStatus.QUEUED:
                values.update(
                    finished_at=None,
                    duration=None,
                    claimed_by=None,
                    claimed_at=None,
                    lease_expires_at=None,
                    not_before=not_before,
                )
                if current is RunStatus.INTERRUPTED:
                    # Counted where the resume is decided: a run interrupted before its
                    # first step finished resumes too, though its engine sees no checkpoint.
                    values["resumes"] = runs.c.resumes + 1
            elif new is RunStatus.RUNNING:
                values["started_at"] = func.coalesce(runs.c.started_at, literal(at, UTCDateTime()))
            elif new.terminal:
                values["finished_at"] = at
                values["lease_expires_at"] = None
                if row.started_at is not None:
                    values["duration"] = whole_span(row.started_at, at)
            if error is not None:
                values["error"] = error
            if stopped_reason is not None:
                values["stopped_reason"] = stopped_reason
            fence = [runs.c.id == run_id, runs.c.status == current.value]
            if owner is not None:
                fence.append(runs.c.claimed_by == owner)
                fence.append(
                    or_(runs.c.lease_expires_at.is_(None), runs.c.lease_expires_at > lease_now)
                )
            changed = connection.execute(update(runs).where(*fence).values(**values)).rowcount
            if changed != 1:  # another process committed a change since the read
                found = connection.execute(
                    select(runs.c.status).where(runs.c.id == run_id)
                ).scalar()
                raise RunStatusChanged(run_id, current.value, found)
            if new in (RunStatus.INTERRUPTED, RunStatus.FAILED, RunStatus.CANCELLED):
                self._close_running_steps(connection, run_id, new, at)
            writer = self._writer
            if new.terminal and goes_to_outbox(
                connection, row.workflow_name, writer.chain_sources, writer.chains_in_store
            ):
                add_chain_fire(connection, run_id, row.workflow_name, new, at)
            return self._run_row(connection, run_id)

        return self._transaction(change, f"changing the status of run {run_id}")

    @staticmethod
    def _close_running_steps(
        connection: Connection, run_id: str, status: RunStatus, at: datetime
    ) -> None:
        cancelled = status is RunStatus.CANCELLED
        connection.execute(
            update(step_runs)
            .where(step_runs.c.run_id == run_id, step_runs.c.status == StepStatus.RUNNING.value)
            .values(
                status=(StepStatus.CANCELLED if cancelled else StepStatus.FAILED).value,
                failure="cancelled" if cancelled else "interrupted",
                error=(
                    "the run was cancelled while this step ran"
                    if cancelled
                    else "the worker stopped while this step ran; on resume it runs again "
                    "unless its postcondition shows it took effect"
                ),
                finished_at=at,
            )
        )

    def _run_row(self, connection: Connection, run_id: str) -> RunRecord:
        row = connection.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise RunNotFound(run_id)
        return run_record(row)
