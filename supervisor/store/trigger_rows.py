"""The triggers' rows in the history: their saved state, and fires that did not run.

``supervisor.triggers.state`` decides what a trigger remembers; this module
reads and writes it, so that nothing outside the store reaches for its
engine.  Rows of the ``triggers`` table are upserted on their unique
(workflow, key), so two processes saving one trigger cannot both insert it;
not-run fires are ``cancelled`` runs, written in one transaction per batch.

Who retires a trigger.  One row of ``triggers`` stands for a trigger of a
workflow, whichever supervisors load that workflow; ``trigger_holders``
says which do.  A supervisor adds its holder row in the transaction that
saves the trigger as it loads it (``save_many(..., holder=)``), and takes
it away when it unloads the trigger, or finds at its start that its
workflows no longer have it (``release``).  Only the supervisor that takes
away the last holder row retires the trigger: marks it removed (its fires
are then not misfires) and clears ``chains_from``, so no chain outbox row
is written for it any more.  While another supervisor still loads it, the
row stays as that one keeps it.  A supervisor that never held a trigger
does not touch it, unless nobody holds it at all (a row from before
holders were recorded, or left by a supervisor that is gone).  Both steps
lock the trigger's row first, so a load and a release, or two releases,
are serialised: the last release always sees itself as the last.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, func, select
from sqlalchemy import exc as sa_exc

from supervisor.store.claims import insert_or_ignore
from supervisor.store.engine import write_options
from supervisor.store.errors import translate
from supervisor.store.fires import insert_runs_once, require_registered
from supervisor.store.retry import retrying
from supervisor.store.schema import runs, trigger_holders, triggers
from supervisor.store.trigger_holds import release_holder
from supervisor.store.trigger_upsert import upsert_trigger_rows

if TYPE_CHECKING:
    from supervisor.store.store import HistoryStore

#: Labels looked up per statement: well under SQLite's limit on bound parameters.
LABEL_CHUNK = 400


class TriggerRows:
    """The ``triggers`` table and the runs trigger fires are labelled with, on one store."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self._options = write_options(store.engine)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        self.store.check_file()  # a deleted or replaced history file is not written into
        try:
            with (
                self.store.engine.connect().execution_options(**self._options) as connection,
                connection.begin(),
            ):
                yield connection
        except sa_exc.DBAPIError as error:
            raise translate(error, self.store.database) from error

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.store.engine.connect() as connection:
                yield connection
        except sa_exc.DBAPIError as error:
            raise translate(error, self.store.database) from error

    def load_all(self) -> list[Row[Any]]:
        """Every trigger row: workflow_name, trigger_key, spec, enabled, paused, state."""
        with self._read() as connection:
            return list(connection.execute(select(triggers)).all())

    def save_many(self, rows: Sequence[Mapping[str, Any]], *, holder: str | None = None) -> None:
        """Upsert these trigger rows in one transaction and one statement.

        ``holder``: the supervisor that loads these triggers, recorded with them.
        A fleet's supervisor no longer registered (forgotten, stopping) is fenced
        as its fires are (``supervisor.store.fires``): nothing is saved, and
        ``SupervisorNotRegistered`` says so.  Its mark moved on no fire of its own
        (it wrote none), and a holder row added now would keep the trigger from
        being retired by the last machine that really loads it.
        """
        if not rows:
            return
        store = self.store

        def save() -> None:
            with self._write() as connection:
                if store.fire_fenced and store.fire_keys:
                    require_registered(connection, store.fired_by, "the state of its triggers")
                upsert_trigger_rows(connection, rows, store.lease_clock)
                for row in rows if holder is not None else ():
                    insert_or_ignore(
                        connection,
                        trigger_holders,
                        {
                            "workflow_name": row["workflow_name"],
                            "trigger_key": row["trigger_key"],
                            "supervisor_id": holder,
                        },
                        ["workflow_name", "trigger_key", "supervisor_id"],
                    )

        retrying(save, "saving trigger state", idempotent=True)

    def release(self, holder: str, workflow: str, key: str, at: datetime) -> bool:
        """``holder`` no longer loads this trigger; retire it if nobody else does.

        Returns whether it was retired (marked removed at ``at``, ``chains_from``
        cleared).  A supervisor that did not hold it retires it only if no
        supervisor holds it (see the module's docstring).
        """

        def release() -> bool:
            with self._write() as connection:
                return release_holder(connection, holder, workflow, key, at)

        return retrying(release, "retiring a trigger", idempotent=True)

    def release_unloaded(
        self, holder: str, loaded: Collection[tuple[str, str]], at: datetime
    ) -> list[tuple[str, str]]:
        """At a supervisor's start: release every trigger it held but no longer loads.

        ``loaded``: (workflow, key) of the triggers its workflows have now.
        Triggers nobody holds and not yet retired are released too (they are
        nobody's).  Returns the triggers retired.
        """
        keep = set(loaded)
        with self._read() as connection:
            rows = connection.execute(
                select(
                    triggers.c.workflow_name,
                    triggers.c.trigger_key,
                    triggers.c.chains_from,
                    triggers.c.state,
                )
            ).all()
            held: dict[tuple[str, str], set[str]] = {}
            for workflow, key, supervisor in connection.execute(select(trigger_holders)).all():
                held.setdefault((workflow, key), set()).add(supervisor)
        retired: list[tuple[str, str]] = []
        for row in rows:
            name = (row.workflow_name, row.trigger_key)
            holders = held.get(name, set())
            if name in keep or (holders and holder not in holders):
                continue  # its own, or another supervisor's
            removed = isinstance(row.state, dict) and row.state.get("removed_at")
            if not holders and row.chains_from is None and removed:
                continue  # nobody's, and retired already
            if self.release(holder, *name, at):
                retired.append(name)
        return retired

    def holders(self, workflow: str, key: str) -> set[str]:
        """The supervisors that load this trigger, as recorded."""
        with self._read() as connection:
            return set(
                connection.execute(
                    select(trigger_holders.c.supervisor_id).where(
                        trigger_holders.c.workflow_name == workflow,
                        trigger_holders.c.trigger_key == key,
                    )
                ).scalars()
            )

    def stored_anchor(self, workflow: str, key: str, spec_hash: str) -> datetime | None:
        """The anchor saved for this trigger with this timing, or None."""
        with self._read() as connection:
            row = connection.execute(
                select(triggers.c.anchor).where(
                    triggers.c.workflow_name == workflow,
                    triggers.c.trigger_key == key,
                    triggers.c.spec_hash == spec_hash,
                )
            ).first()
        return None if row is None else row.anchor

    def greatest_label(self, workflow: str, prefix: str) -> str | None:
        """The greatest run label of ``workflow`` that starts with ``prefix`` (ending in '@')."""
        with self._read() as connection:
            label = connection.execute(
                select(func.max(runs.c.trigger)).where(
                    runs.c.workflow_name == workflow,
                    runs.c.trigger >= prefix,
                    runs.c.trigger < prefix[:-1] + chr(ord(prefix[-1]) + 1),
                )
            ).scalar()
        return None if label is None else str(label)

    def recorded(self, workflow: str, labels: Sequence[str]) -> set[str]:
        """Which of these run labels of ``workflow`` already have a run."""
        found: set[str] = set()
        with self._read() as connection:
            for start in range(0, len(labels), LABEL_CHUNK):
                chunk = list(labels[start : start + LABEL_CHUNK])
                found.update(
                    connection.execute(
                        select(runs.c.trigger).where(
                            runs.c.workflow_name == workflow, runs.c.trigger.in_(chunk)
                        )
                    ).scalars()
                )
        return found

    def insert_runs(
        self, rows: Sequence[Mapping[str, Any]], fired_by: str, at: datetime, *, keys: bool = True
    ) -> set[str]:
        """Insert finished run rows (fires that did not run) in one transaction.

        A schedule fire whose slot another supervisor already took (its fire
        key, ``supervisor.store.fires``) is not written; returns those run ids.
        ``keys`` False: no fire keys are taken (``HistoryStore.fire_keys``).
        Nor are the fires of a registered supervisor whose row is gone or
        marked stopped (``HistoryStore.fire_fenced``).
        """
        if not rows:
            return set()

        def insert() -> set[str]:
            with self._write() as connection:
                return set(
                    insert_runs_once(
                        connection,
                        [dict(row) for row in rows],
                        fired_by,
                        at,
                        keys=keys,
                        fenced=self.store.fire_fenced,
                    ).ids
                )

        return retrying(insert, "recording the runs of schedule fires")
