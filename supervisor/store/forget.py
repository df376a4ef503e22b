"""Forgetting a machine removed for good: its supervisor's row, its trigger holds, its runs.

A supervisor that never comes back (the desktop was replaced, its home
deleted) leaves rows behind that nothing else clears: its ``supervisors``
row (``deskpilot machines`` lists it as gone for ever) and its
``trigger_holders`` rows, so a trigger it loaded is never retired when the
last live machine unloads it (``supervisor.store.trigger_rows``).

``forget_supervisor`` removes them in one transaction: every trigger it
held is released as if it had unloaded it (retired when it held it last),
runs still claimed by it are taken back as the reaper takes back an expired
lease (queued again to resume, or cancelled if a cancel was asked),
debugger requests it has not carried out are answered as refused (their
askers hear why at once), and its row is deleted.  A supervisor forgotten
while it still runs finds its row gone at its next renewal and stops
(``supervisor.fleetlink``).  A supervisor heard from recently is refused
(``MachineStillAlive``) unless the caller forces it: judged by the
database's clock (``leasing``), in the transaction, so a heartbeat that
lands first wins.  If the machine does come back, it registers again and
holds the triggers it loads, as any new machine.

Nothing is pruned automatically.  A machine silent for weeks may be a
desktop switched off for the holidays: retiring the triggers it holds
would drop the misfires and chained runs it still owes when it returns.
Only a person knows the machine is gone for good.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, delete, func, select, update

from automation.clock import Clock
from automation.engine.events import RunStatus
from supervisor.store.debug_requests import FORGOTTEN_OUTCOME
from supervisor.store.errors import StoreError
from supervisor.store.fleet import TAKE_BACK_COLUMNS
from supervisor.store.leasing import lease_now
from supervisor.store.records import SupervisorRecord, supervisor_record
from supervisor.store.schema import debug_requests, runs, supervisors, trigger_holders
from supervisor.store.trigger_holds import release_holder

T = TypeVar("T")


class MachineNotFound(StoreError, LookupError):
    """No supervisor with that id is registered."""

    status_code = 404

    def __init__(self, supervisor_id: str) -> None:
        super().__init__(
            f"no supervisor with id '{supervisor_id}' is registered "
            "('deskpilot machines' lists them)"
        )
        self.supervisor_id = supervisor_id


class MachineStillAlive(StoreError):
    """The supervisor was heard from too recently to be forgotten without ``force``."""

    status_code = 409

    def __init__(self, record: SupervisorRecord, silent: float, needed: float) -> None:
        super().__init__(
            f"the supervisor {record.id} on {record.host} was heard from {silent:.0f} s ago "
            f"(a machine counts as gone after {needed:.0f} s of silence, or once it stopped "
            "cleanly): stop it first, or force it if you know it is gone for good (its "
            "runs are then taken back and may run again elsewhere)"
        )
        self.record = record
        self.silent = silent


@dataclass(frozen=True, kw_only=True, slots=True)
class ForgottenMachine:
    """What ``forget_supervisor`` removed."""

    supervisor: SupervisorRecord
    #: Seconds since its last heartbeat (database time) when it was forgotten.
    silent_seconds: float
    #: The triggers it was recorded as loading: (workflow, trigger key).
    holds_released: tuple[tuple[str, str], ...]
    #: Those of them nobody else loads: retired (marked removed, no chain fires any more).
    triggers_retired: tuple[tuple[str, str], ...]
    #: Runs it still claimed, taken back (queued to resume, or cancelled as asked).
    runs_taken_back: tuple[str, ...]
    #: Queued runs routed to its host, when no other supervisor of that host remains.
    queued_for_host: int
    #: Debugger requests to it not carried out yet: answered as refused, naming the forget.
    debug_requests_failed: int = 0


class ForgetMethods:
    """``forget_supervisor`` (mixed into HistoryStore, on its transactions and clocks)."""

    clock: Clock
    lease_clock: Clock | None

    def _transaction(  # pragma: no cover - FleetMethods'
        self, work: Callable[[Connection], T], what: str, *, idempotent: bool = False
    ) -> T:
        raise NotImplementedError

    @staticmethod
    def _reap(
        connection: Connection, row: Any, now: datetime, why: str
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    def forget_supervisor(
        self, supervisor_id: str, *, silent_for: float | None, at: datetime | None = None
    ) -> ForgottenMachine:
        """Remove a supervisor for good: its row, its trigger holds, its claims.

        ``silent_for``: refuse (``MachineStillAlive``) unless it stopped
        cleanly or was silent at least this many seconds; None forces it.
        ``at`` stamps the retired triggers (default: this machine's clock).
        Raises ``MachineNotFound`` for an unknown id.
        """
        stamp = at or self.clock.now()

        def forget(connection: Connection) -> ForgottenMachine:
            found = select(supervisors).where(supervisors.c.id == supervisor_id)
            if connection.dialect.name == "postgresql":
                found = found.with_for_update()  # its heartbeat waits, or lands first
            row = connection.execute(found).first()
            if row is None:
                raise MachineNotFound(supervisor_id)
            record = supervisor_record(row)
            now = lease_now(connection, self.lease_clock)
            silent = max(0.0, (now - record.heartbeat_at).total_seconds())
            if silent_for is not None and record.stopped_at is None and silent < silent_for:
                raise MachineStillAlive(record, silent, silent_for)
            held = [
                (str(workflow), str(key))
                for workflow, key in connection.execute(
                    select(trigger_holders.c.workflow_name, trigger_holders.c.trigger_key)
                    .where(trigger_holders.c.supervisor_id == supervisor_id)
                    .order_by(trigger_holders.c.workflow_name, trigger_holders.c.trigger_key)
                )
            ]
            retired = [
                name for name in held if release_holder(connection, supervisor_id, *name, stamp)
            ]
            claimed = (
                select(*TAKE_BACK_COLUMNS)
                .where(
                    runs.c.claimed_by == supervisor_id,
                    runs.c.status == RunStatus.RUNNING.value,
                )
                .order_by(runs.c.id)
            )
            if connection.dialect.name == "postgresql":
                claimed = claimed.with_for_update()
            taken = connection.execute(claimed).all()
            for run in taken:
                self._reap(
                    connection,
                    run,
                    now,
                    f"its supervisor {supervisor_id} on {record.host} was forgotten "
                    "('deskpilot machines forget')",
                )
            # Debugger requests it never carried out fail now, with why, instead of waiting
            # out their timeout for an answer nobody will write (``debugrelay``).
            failed = connection.execute(
                update(debug_requests)
                .where(
                    debug_requests.c.supervisor_id == supervisor_id,
                    debug_requests.c.answered_at.is_(None),
                )
                .values(
                    answered_at=now,
                    outcome=FORGOTTEN_OUTCOME.format(host=record.host, id=supervisor_id),
                    payload=None,
                )
            ).rowcount
            connection.execute(delete(supervisors).where(supervisors.c.id == supervisor_id))
            others = connection.execute(
                select(func.count())
                .select_from(supervisors)
                .where(supervisors.c.host == record.host)
            ).scalar_one()
            waiting = 0
            if not others:
                waiting = connection.execute(
                    select(func.count())
                    .select_from(runs)
                    .where(
                        runs.c.status == RunStatus.QUEUED.value,
                        runs.c.target_host == record.host,
                    )
                ).scalar_one()
            return ForgottenMachine(
                supervisor=record,
                silent_seconds=silent,
                holds_released=tuple(held),
                triggers_retired=tuple(retired),
                runs_taken_back=tuple(str(run.id) for run in taken),
                queued_for_host=int(waiting),
                debug_requests_failed=int(failed or 0),
            )

        return self._transaction(forget, f"forgetting the supervisor {supervisor_id}")
