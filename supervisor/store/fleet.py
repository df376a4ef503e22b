"""The store's side of many supervisors on one database: claims, leases, cancels, fire keys.

Each supervisor registers itself (``register_supervisor``) and renews a
heartbeat (``supervisor_heartbeat``) every few seconds.  The heartbeat also
extends the lease of every run it holds, and answers with the cancels asked
for them through any machine's API.  A supervisor that stops renewing (killed,
frozen, cut off) loses its runs when any other supervisor calls
``reap_expired_leases``: they are queued again to resume, and every later
write of the old owner, fenced by ``owner=``, is refused.  ``claim_fire``
makes each schedule slot run once, whichever supervisor gets there first.

``HistoryStore`` takes these methods from ``FleetMethods``; they use its
``_write``/``_read`` transactions and its clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, func, select, update
from sqlalchemy import exc as sa_exc

from automation.clock import Clock
from automation.engine.events import RunStatus, StepStatus
from supervisor.store.claims import (
    ClaimRequest,
    claim_miss,
    claim_rows,
    count_first_starts,
    insert_or_ignore,
    upsert,
)
from supervisor.store.errors import ConstraintViolated, RunNotFound
from supervisor.store.fires import registered
from supervisor.store.leasing import lease_now, split_renewals
from supervisor.store.records import (
    ClaimMiss,
    CountedClaim,
    LeaseRenewal,
    RunRecord,
    SupervisorRecord,
    run_record,
    supervisor_record,
    whole_span,
)
from supervisor.store.retry import retrying
from supervisor.store.schema import events, fires, runs, step_runs, supervisors

logger = logging.getLogger(__name__)

#: What ``_reap`` reads of a run it takes back; every caller selects (and locks) these.
TAKE_BACK_COLUMNS = (
    runs.c.id,
    runs.c.claimed_by,
    runs.c.started_at,
    runs.c.cancel_requested_at,
    runs.c.lease_expires_at,
)

_CLAIM_ATTEMPTS = 3
T = TypeVar("T")
_SUPERVISOR_COLUMNS = ["host", "pid", "api_url", "version", "resources", "started_at"]


def _check_id(kind: str, value: str, longest: int) -> None:
    if not value or len(value) > longest:
        raise ValueError(f"a {kind} is 1 to {longest} characters, got {value!r}")


class _PastCeiling(Exception):
    """Undoes a claim whose workflow already passed its run-rate ceiling (``claim_counted``)."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} first starts in the window")
        self.count = count


class FleetMethods:
    """Claims, leases, supervisors, cancel requests and fire keys (mixed into HistoryStore)."""

    clock: Clock
    #: What judges leases (``supervisor.store.leasing``): None, the database's clock.
    lease_clock: Clock | None
    fired_by: str
    fire_fenced: bool
    #: The supervisor that has this history to itself (alone on SQLite: ``HistoryLock``), in
    #: whose process this store is open.  It is alive while it answers, so readers see its
    #: heartbeat as now, and its renewals write none (``supervisor_heartbeat(beat=False)``).
    alone_as: str | None = None

    def _write(self) -> AbstractContextManager[Connection]:  # pragma: no cover - HistoryStore's
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Connection]:  # pragma: no cover - HistoryStore's
        raise NotImplementedError

    def _claiming(self) -> AbstractContextManager[Connection]:  # pragma: no cover - HistoryStore's
        raise NotImplementedError

    def _fence_events(self, owner: str) -> None:  # pragma: no cover - HistoryStore's
        raise NotImplementedError

    def _transaction(
        self, work: Callable[[Connection], T], what: str, *, idempotent: bool = False
    ) -> T:
        """``work`` in one write transaction, run again after a deadlock and the like (``retry``)."""

        def attempt() -> T:
            with self._write() as connection:
                return work(connection)

        return retrying(attempt, what, idempotent=idempotent)

    # -- claims -----------------------------------------------------------------------

    def claim_queued(
        self,
        claimant: str,
        *,
        limit: int = 1,
        at: datetime | None = None,
        host: str | None = None,
        lease_seconds: float | None = None,
        desktop: bool = True,
        run_ids: Collection[str] | None = None,
        fenced: bool = False,
    ) -> list[RunRecord]:
        """Take up to ``limit`` queued runs (priority, then age) for ``claimant``: now running.

        Atomic across processes (see ``supervisor.store.claims``).  ``host``
        is the claimant's machine: runs routed to another machine stay
        queued (None takes any run, as a lone supervisor does).  A run that
        needs the desktop is taken only while ``desktop`` and no such run of
        this machine runs.  ``lease_seconds`` starts each run's lease, which
        ``supervisor_heartbeat`` renews; ``claimant`` fences later changes
        (``set_run_status(..., owner=...)``).  ``run_ids`` limits the claim to
        those runs: a supervisor claims the ones its dispatch chose.  ``at``
        stamps the claim and start; the lease runs from the database's time
        (``leasing``), whatever the claimant's clock says.  ``fenced``: the
        claimant is a registered supervisor, which claims nothing once its
        row is gone or marked stopped (``claims``: a forgotten supervisor
        takes no run in the moment before it hears of it).
        """
        _check_id("claimant id", claimant, 64)
        if limit < 1:
            return []
        at = at or self.clock.now()
        request = ClaimRequest(
            claimant=claimant,
            limit=limit,
            at=at,
            host=host,
            lease_seconds=lease_seconds,
            lease_clock=self.lease_clock,
            desktop=desktop,
            run_ids=None if run_ids is None else tuple(run_ids),
            fenced=fenced,
        )
        for attempt in range(_CLAIM_ATTEMPTS):
            try:
                rows = retrying(lambda: self._claim(request), f"a claim by {claimant}")
                break
            except ConstraintViolated:
                # Another supervisor of this machine took a desktop run at the same
                # moment; it has committed, so the next try sees its run running.
                if attempt == _CLAIM_ATTEMPTS - 1:
                    raise
        return [run_record(row) for row in rows]

    def _claim(self, request: ClaimRequest) -> list[Any]:
        with self._claiming() as connection:
            return claim_rows(connection, request)

    def claim_counted(
        self,
        claimant: str,
        run_id: str,
        *,
        max_starts: int,
        rate_window: float,
        host: str | None = None,
        lease_seconds: float | None = None,
    ) -> CountedClaim:
        """Claim one queued run, under its workflow's run-rate ceiling counted over the fleet.

        Returns the claimed run (None: not claimed) and the count of its
        workflow's first starts within ``rate_window`` seconds, this one
        included (None when it is not a first start: a resumed or restarted
        run is the same run going on).  A run not claimed comes with why
        (``claims.claim_miss``), read in the claim's transaction: two
        columns, where its claimant read the whole row in another one, once
        for every claim lost to another supervisor.  The count is taken in the claim's
        transaction (``claims.count_first_starts``).  A count of
        ``max_starts + 1`` is the start that passes the ceiling: it is
        claimed, and its supervisor opens the workflow's breaker.  Past that
        an earlier start already passed it: the claim is undone, and the
        count says why (the run stays queued).  Only a registered supervisor
        claims this way, and nothing once its row is gone or marked stopped
        (``ClaimRequest.fenced``): a forget that commits first leaves it
        nothing to start.
        """
        _check_id("claimant id", claimant, 64)
        at = self.clock.now()
        request = ClaimRequest(
            claimant=claimant,
            limit=1,
            at=at,
            host=host,
            lease_seconds=lease_seconds,
            lease_clock=self.lease_clock,
            run_ids=(run_id,),
            fenced=True,
        )

        def claim() -> tuple[Any, int | None, ClaimMiss]:
            try:
                # One transaction (not the autocommit claim of ``claim_queued``): the
                # count, and undoing a claim past the ceiling, go with the claim.
                with self._write() as connection:
                    rows = claim_rows(connection, request)
                    if not rows:
                        return None, None, claim_miss(connection, run_id)
                    count = count_first_starts(connection, rows[0], rate_window)
                    if count is not None and count > max_starts + 1:
                        raise _PastCeiling(count)
                    return rows[0], count, ClaimMiss()
            except _PastCeiling as past:  # rolled back: the run is still queued
                return None, past.count, ClaimMiss(queued=True)

        for attempt in range(_CLAIM_ATTEMPTS):
            try:
                row, count, miss = retrying(claim, f"a claim by {claimant}")
                break
            except ConstraintViolated:  # as in ``claim_queued``: a desktop claimed meanwhile
                if attempt == _CLAIM_ATTEMPTS - 1:
                    raise
        record = None if row is None else run_record(row)
        return CountedClaim(record=record, first_starts=count, miss=miss)

    def claim_miss(self, run_id: str) -> ClaimMiss:
        """Why ``run_id`` was not claimed (``claims.claim_miss``), after a ``claim_queued``."""
        with self._read() as connection:
            return claim_miss(connection, run_id)

    def claimant_of(self, run_id: str) -> str | None:
        """Who claimed the run (``claim_queued``); None if nobody, or it was queued again."""
        with self._read() as connection:
            row = connection.execute(select(runs.c.claimed_by).where(runs.c.id == run_id)).first()
        if row is None:
            raise RunNotFound(run_id)
        return None if row.claimed_by is None else str(row.claimed_by)

    # -- supervisors ------------------------------------------------------------------

    def register_supervisor(
        self,
        supervisor_id: str,
        *,
        host: str,
        pid: int | None = None,
        api_url: str | None = None,
        version: str | None = None,
        resources: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> SupervisorRecord:
        """Record (or refresh, on a restart) this supervisor; it counts as heard from now.

        "Now" is the database's time (``leasing``), as for every heartbeat:
        whether a machine is alive is judged against it.  ``at`` fixes it (tests).
        """
        _check_id("supervisor id", supervisor_id, 32)
        _check_id("host name", host, 255)

        def register(connection: Connection) -> Any:
            now = at or lease_now(connection, self.lease_clock)
            row = {
                "id": supervisor_id,
                "host": host,
                "pid": pid,
                "api_url": api_url,
                "version": version,
                "resources": resources or {},
                "started_at": now,
                "heartbeat_at": now,
                "stopped_at": None,
            }
            connection.execute(
                upsert(
                    connection,
                    supervisors,
                    ["id"],
                    [*_SUPERVISOR_COLUMNS, "heartbeat_at", "stopped_at"],
                ),
                [row],
            )
            return connection.execute(
                select(supervisors).where(supervisors.c.id == supervisor_id)
            ).one()

        found = self._transaction(register, "registering this supervisor", idempotent=True)
        self.fired_by = supervisor_id  # schedule fires it takes are recorded as its own
        self.fire_fenced = True  # and are fenced on its row (``supervisor.store.fires``)
        self._fence_events(supervisor_id)
        return supervisor_record(found)

    def supervisor_heartbeat(
        self,
        supervisor_id: str,
        at: datetime | None = None,
        lease_seconds: float = 10.0,
        *,
        holding: Collection[str] = (),
        beat: bool = True,
    ) -> LeaseRenewal:
        """Renew this supervisor's heartbeat and the leases of the runs it still owns.

        ``beat`` False: answer the same without writing anything, for a
        supervisor alone with its history (``alone_as``): nobody else reads
        its heartbeat nor takes its runs, and a write every renewal was most
        of an idle supervisor's disk traffic.

        A lease already expired is not renewed: its run may be reaped at any
        moment, so it is reported ``lost`` with every run in ``holding`` that
        is no longer this supervisor's.  Expiry is judged by the database's
        clock once the renewal holds its runs' rows (``leasing``): a lease
        that ran out while the renewal waited on another writer's row locks
        is lost, not renewed.  ``at`` fixes the time instead (tests).  The
        answer also names its runs with a cancel requested (``request_cancel``).
        """
        fixed = at
        moment: list[datetime] = []  # the time of the attempt that committed
        registered: list[bool] = []

        def renew(connection: Connection) -> list[Any]:
            # Rows locked in id order, as every batch of renewals does: two renewals
            # never wait on each other crosswise.
            held = (
                select(runs.c.id, runs.c.lease_expires_at, runs.c.cancel_requested_at)
                .where(
                    runs.c.claimed_by == supervisor_id,
                    runs.c.status == RunStatus.RUNNING.value,
                )
                .order_by(runs.c.id)
            )
            if connection.dialect.name == "postgresql":
                # NO KEY: events and steps inserted for these runs (their foreign keys) do
                # not wait on a renewal, nor a renewal on them.
                held = held.with_for_update(key_share=True)
            rows = connection.execute(held).all()
            # The time after any wait for those locks (each attempt its own: a retry after a
            # deadlock must not renew a lease that expired meanwhile either).
            now = fixed or lease_now(connection, self.lease_clock)
            moment[:] = [now]
            if beat:
                beaten = connection.execute(
                    update(supervisors)
                    .where(supervisors.c.id == supervisor_id)
                    .values(heartbeat_at=now, stopped_at=None)
                ).rowcount
            else:
                found = select(supervisors.c.id).where(supervisors.c.id == supervisor_id)
                beaten = len(connection.execute(found).all())
            # No row: forgotten while it ran (``forget``); its supervisor stops on hearing it.
            registered[:] = [beaten == 1]
            kept, _expired = split_renewals(
                ((str(row.id), row.lease_expires_at) for row in rows), now
            )
            if kept and beat:
                connection.execute(
                    update(runs)
                    .where(runs.c.id.in_(kept))
                    .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
                )
            renewed = set(kept)
            return [row for row in rows if str(row.id) in renewed]

        # A renewal locks every run of its supervisor while that supervisor's recorder and
        # status writes lock some of them too: PostgreSQL may abort one of them.
        renewed = self._transaction(renew, "renewing the heartbeat", idempotent=True)
        kept = {str(row.id) for row in renewed}
        return LeaseRenewal(
            supervisor_id=supervisor_id,
            expires_at=moment[0] + timedelta(seconds=lease_seconds),
            renewed=tuple(sorted(kept)),
            lost=tuple(sorted(set(holding) - kept)),
            cancel_requested=tuple(
                sorted(str(row.id) for row in renewed if row.cancel_requested_at is not None)
            ),
            registered=registered[0],
        )

    def supervisor_stopped(self, supervisor_id: str, at: datetime | None = None) -> None:
        """Mark the supervisor stopped (a clean stop): machine lists show it as down."""
        at = at or self.clock.now()
        self._transaction(
            lambda connection: connection.execute(
                update(supervisors).where(supervisors.c.id == supervisor_id).values(stopped_at=at)
            ),
            "marking this supervisor stopped",
            idempotent=True,
        )

    def lease_time(self) -> datetime:
        """The time leases and heartbeats are judged by (``leasing``): the database's.

        What a machine's state (alive, late, gone) is measured against: its
        heartbeats are stamped with it too, whatever its own clock says.
        """
        with self._read() as connection:
            return lease_now(connection, self.lease_clock)

    def list_supervisors(self) -> list[SupervisorRecord]:
        """Every supervisor that ever registered, by host then id."""
        with self._read() as connection:
            rows = connection.execute(
                select(supervisors).order_by(supervisors.c.host, supervisors.c.id)
            ).all()
            now = None if self.alone_as is None else lease_now(connection, self.lease_clock)
        records = [supervisor_record(row) for row in rows]
        if now is None:
            return records
        return [
            replace(record, heartbeat_at=max(record.heartbeat_at, now))
            if record.id == self.alone_as
            else record
            for record in records
        ]

    def running_by_claimant(self) -> dict[str, int]:
        """How many running runs each supervisor holds (``GET /machines``)."""
        with self._read() as connection:
            rows = connection.execute(
                select(runs.c.claimed_by, func.count())
                .where(runs.c.status == RunStatus.RUNNING.value, runs.c.claimed_by.is_not(None))
                .group_by(runs.c.claimed_by)
            ).all()
        return {str(claimant): int(count) for claimant, count in rows}

    def queued_by_host(self) -> dict[str, int]:
        """How many queued runs wait for each machine (runs routed to a host)."""
        with self._read() as connection:
            rows = connection.execute(
                select(runs.c.target_host, func.count())
                .where(runs.c.status == RunStatus.QUEUED.value, runs.c.target_host.is_not(None))
                .group_by(runs.c.target_host)
            ).all()
        return {str(host): int(count) for host, count in rows}

    def oldest_queued(self) -> dict[str | None, datetime]:
        """When the oldest queued run was queued, by target host (None: any machine).

        What ``/metrics`` alerts on: runs waiting for a machine that is down.
        """
        with self._read() as connection:
            rows = connection.execute(
                select(runs.c.target_host, func.min(runs.c.queued_at))
                .where(runs.c.status == RunStatus.QUEUED.value)
                .group_by(runs.c.target_host)
            ).all()
        return {host: at for host, at in rows if at is not None}

    # -- cancels and reaping ----------------------------------------------------------

    def request_cancel(self, run_id: str, at: datetime | None = None) -> RunRecord:
        """Cancel a run wherever it is: a queued one at once, a running one through its owner.

        A queued run becomes ``cancelled`` here (compare-and-set on ``queued``,
        so a claim that got there first wins and the request is kept instead).
        A running or interrupted run gets ``cancel_requested_at``, which its
        owner receives with its next heartbeat.  A finished run is left alone.
        Returns the run as it is afterwards.
        """
        at = at or self.clock.now()

        def request(connection: Connection) -> Any:
            cancelled = connection.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.status == RunStatus.QUEUED.value)
                .values(
                    status=RunStatus.CANCELLED.value,
                    cancel_requested_at=at,
                    finished_at=at,
                    stopped_reason="cancelled before it started",
                )
            ).rowcount
            if not cancelled:
                connection.execute(
                    update(runs)
                    .where(
                        runs.c.id == run_id,
                        runs.c.status.in_([RunStatus.RUNNING.value, RunStatus.INTERRUPTED.value]),
                        runs.c.cancel_requested_at.is_(None),
                    )
                    .values(cancel_requested_at=at)
                )
            return connection.execute(select(runs).where(runs.c.id == run_id)).first()

        row = self._transaction(request, f"asking to cancel run {run_id}", idempotent=True)
        if row is None:
            raise RunNotFound(run_id)
        return run_record(row)

    def reap_expired_leases(self, now: datetime | None = None) -> list[str]:
        """Take back the runs whose owner's lease expired; returns their ids.

        Each such run is queued again to resume (its ``resumes`` counts one
        more; steps it left running are closed as interrupted), or cancelled if
        a cancel was requested for it.  Its claim is cleared, so the old owner's
        fenced writes are refused from now on.  A note in the run's log says
        whose lease expired.  Any supervisor may call this; on PostgreSQL two
        reapers skip each other's rows.  Expiry is judged by the database's
        clock (``leasing``): a reaper whose machine's clock runs ahead takes
        no live run, one running behind keeps no dead one.  ``now`` fixes the
        time instead (tests).
        """
        fixed = now
        rows = self._transaction(
            lambda connection: self._reap_expired(
                connection, fixed or lease_now(connection, self.lease_clock)
            ),
            "taking back expired leases",
            idempotent=True,
        )
        reaped = [str(row.id) for row in rows]
        if reaped:
            logger.warning("took back %d runs whose lease expired: %s", len(reaped), reaped)
        return reaped

    def _reap_expired(self, connection: Connection, now: datetime) -> list[Any]:
        expired = (
            select(*TAKE_BACK_COLUMNS)
            .where(
                runs.c.status == RunStatus.RUNNING.value,
                runs.c.lease_expires_at.is_not(None),
                runs.c.lease_expires_at < now,
            )
            .order_by(runs.c.lease_expires_at)
        )
        if connection.dialect.name == "postgresql":
            expired = expired.with_for_update(skip_locked=True)
        rows = connection.execute(expired).all()
        for row in rows:
            self._reap(connection, row, now)
        return list(rows)

    @staticmethod
    def _reap(connection: Connection, row: Any, now: datetime, why: str | None = None) -> None:
        """Take back one run (a row locked by the caller): queued to resume, or cancelled.

        ``why``: what the note says happened to its owner (default: its lease expired).
        """
        owner = row.claimed_by or "a supervisor"
        message = why or (
            f"the lease of {owner} on this run expired at {row.lease_expires_at.isoformat()} "
            "(it stopped renewing it: killed, frozen or cut off)"
        )
        connection.execute(
            update(step_runs)
            .where(step_runs.c.run_id == row.id, step_runs.c.status == StepStatus.RUNNING.value)
            .values(
                status=StepStatus.FAILED.value,
                failure="interrupted",
                error=f"{message}; on resume this step runs again unless its postcondition "
                "shows it took effect",
                finished_at=now,
            )
        )
        fence = and_(
            runs.c.id == row.id,
            runs.c.status == RunStatus.RUNNING.value,
            runs.c.claimed_by.is_(None) if row.claimed_by is None else runs.c.claimed_by == owner,
        )
        values: dict[str, Any] = {"lease_expires_at": None, "desktop_claim": None}
        if row.cancel_requested_at is not None:
            values.update(
                status=RunStatus.CANCELLED.value,
                finished_at=now,
                stopped_reason="cancelled while its supervisor was lost",
            )
            if row.started_at is not None:
                values["duration"] = whole_span(row.started_at, now)
            note = f"{message}; it was cancelled, as requested"
        else:
            values.update(
                status=RunStatus.QUEUED.value,
                claimed_by=None,
                claimed_at=None,
                resumes=runs.c.resumes + 1,
            )
            note = f"{message}; it is queued again to resume on any supervisor"
        connection.execute(update(runs).where(fence).values(**values))
        seq = connection.execute(
            select(func.coalesce(func.max(events.c.seq), 0)).where(events.c.run_id == row.id)
        ).scalar_one()
        data: dict[str, Any] = {
            "reason": "lease_expired" if why is None else "owner_forgotten",
            "owner": row.claimed_by,
        }
        if row.claimed_by is not None:
            # Its owner's last heartbeat: about when it died.  A pause it held ends there
            # (``paused_seconds``), not at this note, written a lease later.
            alive = connection.execute(
                select(supervisors.c.heartbeat_at).where(supervisors.c.id == row.claimed_by)
            ).scalar()
            if alive is not None:
                data["alive_until"] = alive.isoformat()
        connection.execute(
            events.insert().values(
                run_id=row.id,
                seq=int(seq) + 1,
                kind="log",
                at=now,
                level="warning",
                message=note,
                data=data,
            )
        )

    # -- schedule fires ---------------------------------------------------------------

    def claim_fire(
        self,
        workflow: str,
        trigger_key: str,
        slot: datetime,
        *,
        fired_by: str,
        run_id: str | None = None,
        at: datetime | None = None,
        fenced: bool = False,
    ) -> bool:
        """Take schedule ``trigger_key``'s fire at ``slot``; True if this caller won it.

        The fire key (workflow, trigger, slot time) is unique in the database:
        of any number of supervisors firing the same slot, exactly one gets
        True and runs it; the others get False and do nothing.  ``fenced``:
        ``fired_by`` is a registered supervisor, which takes no fire once its
        row is gone or marked stopped (``supervisor.store.fires``).
        """
        at = at or self.clock.now()
        return self._transaction(
            lambda connection: (
                (not fenced or registered(connection, fired_by))
                and insert_or_ignore(
                    connection,
                    fires,
                    {
                        "workflow_name": workflow,
                        "trigger_key": trigger_key,
                        "slot_at": slot,
                        "fired_by": fired_by,
                        "run_id": run_id,
                        "created_at": at,
                    },
                    ["workflow_name", "trigger_key", "slot_at"],
                )
            ),
            f"taking the fire of {workflow} at {slot.isoformat()}",
        )

    def fire_owner(self, workflow: str, trigger_key: str, slot: datetime) -> str | None:
        """Who took that fire (``claim_fire``), or None if nobody has yet."""
        with self._read() as connection:
            found = connection.execute(
                select(fires.c.fired_by).where(
                    fires.c.workflow_name == workflow,
                    fires.c.trigger_key == trigger_key,
                    fires.c.slot_at == slot,
                )
            ).scalar()
        return None if found is None else str(found)


def registered_hosts(url: str) -> set[str] | None:
    """The machines any supervisor of the database at ``url`` ran on; None if it cannot tell.

    Read-only, without migrating or creating anything: ``deskpilot validate``
    asks it, and checking a file must not change a database (nor make an
    empty SQLite file where there was none).
    """
    from pathlib import Path

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not (
        parsed.database and Path(parsed.database).is_file()
    ):
        return None
    try:
        engine = create_engine(parsed)
        try:
            with engine.connect() as connection:
                rows = connection.execute(select(supervisors.c.host).distinct()).all()
        finally:
            engine.dispose()
    except sa_exc.SQLAlchemyError:
        return None  # no such table yet, or the server is down: nothing known
    return {str(row.host) for row in rows}
