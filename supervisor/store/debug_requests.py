"""The store's side of the step debugger across machines: requests, pauses, run options.

A run paused on machine B may be answered through machine A's API (or the
window connected to A).  A writes a request row for the supervisor holding
the run (``request_debug``); on PostgreSQL the same transaction sends
``NOTIFY deskpilot_debug`` with that supervisor's id, so B hears of it at
once (``supervisor.store.notify``), and polls while it holds a paused run
in case a notification was lost.  B carries it out and answers in the row
(``answer_debug_request``: when, and why not if it refused), clearing the
payload; A reads the answer and deletes the row.  Nothing is forwarded over
the network between supervisors: the database they share already is the
channel, and a machine's API stays on its own machine.

What a paused run waits with is already in the history: the engine's
``node_paused`` event (masked of secrets by the worker, like every event)
and ``node_resumed`` when the pause ends.  ``run_pause`` reads the latest of
them for the run's current claim, so every machine's API shows the pause.

``HistoryStore`` takes these methods from ``DebugRequestMethods``; they use
its ``_write``/``_read`` transactions and its clock.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from automation.clock import Clock
from automation.engine.events import RunStatus
from supervisor.store.errors import RunNotFound, StoreError
from supervisor.store.leasing import lease_now
from supervisor.store.records import EventRecord, SessionWait
from supervisor.store.retry import retrying
from supervisor.store.schema import debug_requests, events, runs, supervisors

#: PostgreSQL channel announcing a debugger request; the payload is the supervisor id it is for.
DEBUG_CHANNEL = "deskpilot_debug"
#: Kinds of request: a command to a paused run, or a new set of breakpoints.
COMMAND = "command"
BREAKPOINTS = "breakpoints"


@dataclass(frozen=True, kw_only=True, slots=True)
class DebugRequestRecord:
    id: int
    run_id: str
    supervisor_id: str
    kind: str
    payload: dict[str, Any] | None
    requested_at: datetime
    answered_at: datetime | None = None
    #: Why the owner refused it; None when it was carried out (or not answered yet).
    outcome: str | None = None


class NotHeldElsewhere(StoreError):
    """The run is not running under any supervisor: there is nobody to ask."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} is not running on any machine; there is nobody to ask")
        self.run_id = run_id


class MachineNotRunning(NotHeldElsewhere):
    """The supervisor holding the run was forgotten, stopped, or went silent: nobody would answer.

    Asking it would only wait out ``ANSWER_TIMEOUT`` for an answer that
    cannot come; the run is taken back when its lease ends (at once, if
    its machine was forgotten).
    """

    def __init__(self, run_id: str, supervisor_id: str, why: str) -> None:
        StoreError.__init__(
            self,
            f"machine {why}: nobody can carry out debugger commands for run {run_id} there; "
            "it resumes on another machine once taken back ('deskpilot machines' shows the "
            "machines)",
        )
        self.run_id = run_id
        self.supervisor_id = supervisor_id


#: What a pending request's asker reads when its machine is forgotten (``forget``).
FORGOTTEN_OUTCOME = (
    "machine {host} (supervisor {id}) was forgotten ('deskpilot machines forget') before it "
    "carried out this request; its runs were taken back"
)
#: A supervisor's lease when its row does not say (``membership.DEFAULT_LEASE_SECONDS``).
_DEFAULT_LEASE = 8.0


def _not_running(connection: Connection, claimant: str, now: datetime) -> str | None:
    """Why the supervisor ``claimant`` cannot answer a request now; None while it runs.

    Judged as ``deskpilot machines`` judges it, by the database's clock: no
    row (forgotten), stopped, or silent longer than its lease (its runs are
    being taken back).
    """
    row = connection.execute(
        select(
            supervisors.c.host,
            supervisors.c.heartbeat_at,
            supervisors.c.stopped_at,
            supervisors.c.resources,
        ).where(supervisors.c.id == claimant)
    ).first()
    if row is None:
        return f"(supervisor {claimant}) was forgotten ('deskpilot machines forget')"
    name = f"{row.host} (supervisor {claimant})"
    if row.stopped_at is not None:
        return f"{name} is not running: it stopped at {row.stopped_at:%Y-%m-%d %H:%M:%S} UTC"
    lease = (row.resources or {}).get("lease_seconds") or _DEFAULT_LEASE
    silent = (now - row.heartbeat_at).total_seconds()
    if silent > float(lease):
        return (
            f"{name} is not running: last heard from {silent:.0f} s ago "
            f"(its lease is {float(lease):g} s)"
        )
    return None


def _record(row: Any) -> DebugRequestRecord:
    return DebugRequestRecord(
        id=row.id,
        run_id=row.run_id,
        supervisor_id=row.supervisor_id,
        kind=row.kind,
        payload=row.payload,
        requested_at=row.requested_at,
        answered_at=row.answered_at,
        outcome=row.outcome,
    )


#: How the engine's lines on a locked screen's hold begin (``automation.engine.hold``), and
#: the ``hold`` they carry: a wait began, or ended (released, or given up).
_HOLD_LINES = ("held: ", "released: held for ", "stopped waiting after ")
_HOLD_KINDS = frozenset({"held", "released", "gave_up"})
#: How the desktop gate's notes on a queued run's wait for a usable session begin
#: (``supervisor.desktop_gate``), and the ``reason`` each carries: the wait began, or ended.
WAIT_LINES = ("waiting: ", "the session is usable again")
WAIT_BEGAN, WAIT_ENDED = "session_unusable", "session_usable"


def _cut_pause(connection: Connection, run_id: str, seq: int, paused_at: datetime) -> float:
    """How long a pause nobody answered lasted: until the run's next event (see ``paused_seconds``)."""
    after = connection.execute(
        select(events.c.at, events.c.data)
        .where(events.c.run_id == run_id, events.c.seq > seq)
        .order_by(events.c.seq, events.c.id)
        .limit(1)
    ).first()
    if after is None:
        return 0.0  # still paused, under its supervisor
    ended: datetime = after.at
    alive = (after.data or {}).get("alive_until")
    if isinstance(alive, str):
        with contextlib.suppress(ValueError):
            ended = min(ended, datetime.fromisoformat(alive))
    return max(0.0, (ended - paused_at).total_seconds())


class DebugRequestMethods:
    """Debugger requests between supervisors, pauses and run options (mixed into HistoryStore)."""

    clock: Clock
    lease_clock: Clock | None

    def _write(self) -> AbstractContextManager[Connection]:  # pragma: no cover - HistoryStore's
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Connection]:  # pragma: no cover - HistoryStore's
        raise NotImplementedError

    # -- requests ---------------------------------------------------------------------------
    def request_debug(self, run_id: str, kind: str, payload: dict[str, Any]) -> DebugRequestRecord:
        """Ask the supervisor running ``run_id`` to carry out ``payload``; the request row.

        Raises ``NotHeldElsewhere`` when the run is not running under a
        claim (queued, ended, or run by a supervisor that claims nothing),
        ``MachineNotRunning`` when the supervisor holding it was forgotten,
        stopped or went silent: nobody would answer.
        """
        at = self.clock.now()

        def ask() -> tuple[Any, int]:
            with self._write() as connection:
                now = lease_now(connection, self.lease_clock)
                return self._insert_request(connection, run_id, kind, payload, at, now)

        row, request_id = retrying(ask, f"a debugger request for run {run_id}")
        return DebugRequestRecord(
            id=int(request_id),
            run_id=run_id,
            supervisor_id=str(row.claimed_by),
            kind=kind,
            payload=payload,
            requested_at=at,
        )

    @staticmethod
    def _insert_request(
        connection: Connection,
        run_id: str,
        kind: str,
        payload: dict[str, Any],
        at: datetime,
        now: datetime,
    ) -> tuple[Any, int]:
        row = connection.execute(
            select(runs.c.status, runs.c.claimed_by).where(runs.c.id == run_id)
        ).first()
        if row is None:
            raise RunNotFound(run_id)
        if row.status != RunStatus.RUNNING.value or row.claimed_by is None:
            raise NotHeldElsewhere(run_id)
        why = _not_running(connection, str(row.claimed_by), now)
        if why is not None:
            raise MachineNotRunning(run_id, str(row.claimed_by), why)
        request_id = connection.execute(
            insert(debug_requests)
            .values(
                run_id=run_id,
                supervisor_id=row.claimed_by,
                kind=kind,
                payload=payload,
                requested_at=at,
            )
            .returning(debug_requests.c.id)
        ).scalar_one()
        if connection.dialect.name == "postgresql":
            # Delivered when this transaction commits, with the row already visible.
            connection.execute(select(func.pg_notify(DEBUG_CHANNEL, row.claimed_by)))
        return row, int(request_id)

    def pending_debug_requests(self, supervisor_id: str) -> list[DebugRequestRecord]:
        """Requests for ``supervisor_id`` not answered yet, oldest first."""
        with self._read() as connection:
            rows = connection.execute(
                select(debug_requests)
                .where(
                    debug_requests.c.supervisor_id == supervisor_id,
                    debug_requests.c.answered_at.is_(None),
                )
                .order_by(debug_requests.c.id)
            ).all()
        return [_record(row) for row in rows]

    def answer_debug_request(self, request_id: int, outcome: str | None = None) -> None:
        """Mark a request carried out (``outcome`` None) or refused (why); its payload goes."""

        def answer() -> None:
            with self._write() as connection:
                connection.execute(
                    update(debug_requests)
                    .where(
                        debug_requests.c.id == request_id, debug_requests.c.answered_at.is_(None)
                    )
                    # The database's time: whoever drops unread answers compares with it.
                    .values(
                        answered_at=lease_now(connection, self.lease_clock),
                        outcome=outcome,
                        payload=None,
                    )
                )

        retrying(answer, f"answering debugger request {request_id}", idempotent=True)

    def debug_requests_of(self, supervisor_id: str) -> list[DebugRequestRecord]:
        """Every request row for ``supervisor_id``, answered or not, oldest first."""
        with self._read() as connection:
            rows = connection.execute(
                select(debug_requests)
                .where(debug_requests.c.supervisor_id == supervisor_id)
                .order_by(debug_requests.c.id)
            ).all()
        return [_record(row) for row in rows]

    def debug_request(self, request_id: int) -> DebugRequestRecord | None:
        with self._read() as connection:
            row = connection.execute(
                select(debug_requests).where(debug_requests.c.id == request_id)
            ).first()
        return None if row is None else _record(row)

    def withdraw_debug_request(self, request_id: int) -> bool:
        """Delete a request nobody answered yet; False if it was answered meanwhile."""

        def withdraw() -> int:
            with self._write() as connection:
                return int(
                    connection.execute(
                        delete(debug_requests).where(
                            debug_requests.c.id == request_id,
                            debug_requests.c.answered_at.is_(None),
                        )
                    ).rowcount
                )

        return retrying(withdraw, f"withdrawing debugger request {request_id}") == 1

    def forget_debug_request(self, request_id: int) -> None:
        """Delete a request whose answer has been read."""

        def forget() -> None:
            with self._write() as connection:
                connection.execute(delete(debug_requests).where(debug_requests.c.id == request_id))

        retrying(forget, f"deleting debugger request {request_id}", idempotent=True)

    def drop_answered_debug_requests(self, supervisor_id: str, older_than: float) -> int:
        """Delete answers to ``supervisor_id``'s requests nobody read for ``older_than`` seconds.

        The asking supervisor deletes an answer once it has read it; one that
        died meanwhile leaves it behind, payload already cleared.  So are the
        answers ``forget`` gave for a machine forgotten (no supervisor of that
        id drops them any more), whoever calls this.
        """

        def drop() -> int:
            with self._write() as connection:
                before = lease_now(connection, self.lease_clock) - timedelta(seconds=older_than)
                gone = connection.execute(
                    delete(debug_requests).where(
                        or_(
                            debug_requests.c.supervisor_id == supervisor_id,
                            debug_requests.c.supervisor_id.not_in(select(supervisors.c.id)),
                        ),
                        debug_requests.c.answered_at < before,
                    )
                ).rowcount
            return int(gone or 0)

        return retrying(drop, "deleting unread debugger answers", idempotent=True)

    # -- what a run is run with, and its pause ---------------------------------------------
    def set_run_options(self, run_id: str, options: dict[str, Any] | None) -> None:
        """Replace a run's options (new breakpoints), so a takeover runs it with them."""

        def replace() -> None:
            with self._write() as connection:
                connection.execute(
                    update(runs).where(runs.c.id == run_id).values(options=options or None)
                )

        retrying(replace, f"saving the options of run {run_id}", idempotent=True)

    def run_pause(self, run_id: str) -> EventRecord | None:
        """The ``node_paused`` event the run waits at now; None if it is not paused.

        The latest pause or resume of the run, if it is a pause made under
        the run's current claim: a pause of an attempt that was killed (and
        taken over) is over, though no ``node_resumed`` says so.
        """
        with self._read() as connection:
            run = connection.execute(
                select(runs.c.status, runs.c.claimed_at).where(runs.c.id == run_id)
            ).first()
            if run is None or run.status != RunStatus.RUNNING.value:
                return None
            row = connection.execute(
                select(events)
                .where(
                    events.c.run_id == run_id, events.c.kind.in_(("node_paused", "node_resumed"))
                )
                .order_by(events.c.seq.desc(), events.c.id.desc())
                .limit(1)
            ).first()
        if row is None or row.kind != "node_paused":
            return None
        if run.claimed_at is not None and row.at < run.claimed_at:
            return None
        return EventRecord.from_row(row)

    def session_wait(self, run_id: str) -> SessionWait | None:
        """The wait for a usable session the run's history shows still going on, or None.

        The desktop gate notes when a queued desktop run starts to wait (with
        the reason and since when) and when it stops; a wait with no end is
        one its supervisor was holding when it stopped.  The next supervisor
        to load the run goes on with it (``DesktopGate.holds``).
        """
        with self._read() as connection:
            row = connection.execute(
                select(events.c.at, events.c.data)
                .where(
                    events.c.run_id == run_id,
                    events.c.kind == "log",
                    or_(*(events.c.message.like(f"{start}%") for start in WAIT_LINES)),
                )
                .order_by(events.c.seq.desc(), events.c.id.desc())
                .limit(1)
            ).first()
        if row is None or not isinstance(row.data, dict):
            return None
        data = row.data
        if data.get("reason") != WAIT_BEGAN or not isinstance(data.get("session"), str):
            return None
        since: datetime = row.at
        stated = data.get("since")
        if isinstance(stated, str):
            with contextlib.suppress(ValueError):
                since = datetime.fromisoformat(stated)
        return SessionWait(reason=data["session"], since=since)

    def paused_seconds(self, run_id: str) -> float:
        """Seconds the run spent paused by the debugger or held by a locked screen, over
        every attempt: not on its clock.

        A pause that was answered says how long it waited (``node_resumed``);
        a hold that ended says how long it held (its "released" line,
        ``automation.engine.hold``); a resumed run's wait in the queue for a
        usable session says how long of it was on its clock (the desktop
        gate's "usable again" note).  One whose worker or supervisor died before
        it ended has no answer: it lasted until the next thing the history says
        of the run (the supervisor's note on the worker's end), or, when its
        supervisor died, until that supervisor's last heartbeat (the note of the
        lease's expiry says when that was).  One still going on is not counted:
        the supervisor holding it counts it itself.
        """
        with self._read() as connection:
            rows = connection.execute(
                select(events.c.seq, events.c.kind, events.c.at, events.c.data)
                .where(
                    events.c.run_id == run_id,
                    or_(
                        events.c.kind.in_(("node_paused", "node_resumed")),
                        and_(
                            events.c.kind == "log",
                            or_(
                                *(
                                    events.c.message.like(f"{start}%")
                                    for start in (*_HOLD_LINES, WAIT_LINES[1])
                                )
                            ),
                        ),
                    ),
                )
                .order_by(events.c.seq, events.c.id)
            ).all()
            pauses = [row for row in rows if row.kind != "log"]
            holds = [row for row in rows if (row.data or {}).get("hold") in _HOLD_KINDS]
            total = 0.0
            for row in rows:
                data = row.data if isinstance(row.data, dict) else {}
                counted = data.get("paused_seconds")
                if data.get("reason") == WAIT_ENDED and isinstance(counted, int | float):
                    total += float(counted)
            for index, row in enumerate(pauses):
                if row.kind == "node_resumed":
                    waited = (row.data or {}).get("waited")
                    if isinstance(waited, int | float):
                        total += float(waited)
                    continue
                answered = index + 1 < len(pauses) and pauses[index + 1].kind == "node_resumed"
                if not answered:
                    total += _cut_pause(connection, run_id, row.seq, row.at)
            for index, row in enumerate(holds):
                if row.data["hold"] != "held":
                    held = row.data.get("held_seconds")
                    if isinstance(held, int | float):
                        total += float(held)
                    continue
                ended = index + 1 < len(holds) and holds[index + 1].data["hold"] != "held"
                if not ended:
                    total += _cut_pause(connection, run_id, row.seq, row.at)
        return total
