"""Fire keys: each schedule slot becomes one run (or one not-run record), across supervisors.

Every supervisor that loads a workflow arms its schedules, so each slot is
fired by all of them.  The run of a schedule fire carries the label
``schedule:<key>@<UTC ISO time>`` (``supervisor.triggers.specs``; a gap of
missed fires is ``@<start>..<end>``); its fire key is (workflow, key, slot
time).  The runs are inserted together with their fire keys in one
transaction: ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on the unique
key says which fires this writer won, and only those runs are inserted.  The
others were run by another supervisor and are left out, reported to the
caller.  As the key and the run commit together, a crash cannot leave a
fire taken with no run, nor a run without its key.

A label cut to the column's width (a very long trigger key) has no readable
time and so no fire key: such a schedule fires once per supervisor, as
before.

A supervisor alone with a SQLite history (no leases: ``HistoryLock`` keeps
any other out) takes no fire keys (``HistoryStore.fire_keys`` False): nobody
else fires its schedules, and the run's label in the history already stops a
fire from running twice across a restart.  Compiling the multi-row INSERT
of the keys cost more than inserting the runs themselves, on every
schedule pass.

A supervisor of a fleet fires only while its ``supervisors`` row is there
and not marked stopped (``fenced``), as it claims (``supervisor.store.claims``,
whose condition this reuses).  The transaction's first statement reads that
row, on PostgreSQL ``FOR KEY SHARE SKIP LOCKED``: a forget (``FOR UPDATE``)
waits for a fire that got there first, and a fire after it, or during it,
finds no row and inserts no fire's run nor takes its key, so a machine that
still holds the trigger fires that slot.  Without it a supervisor forgotten
while it ran went on queueing its schedules' runs until its next renewal
told it (up to two seconds), even for a trigger the forget retired.  Its
other new runs (a manual submit, a file trigger's) are fenced the same way:
a forgotten machine takes no new work, whatever brings it (a batch's runs
come back ``fenced_out``; a single submit is refused, ``require_registered``).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from supervisor.store.claims import claimant_registered
from supervisor.store.conflicts import conflict_insert
from supervisor.store.errors import SupervisorNotRegistered
from supervisor.store.schema import fires, runs

logger = logging.getLogger(__name__)

_PREFIX = "schedule:"
#: The label of a chained run (``specs.after_label``).
_CHAINED = "after:"


@dataclass(frozen=True, kw_only=True, slots=True)
class FireKey:
    """One slot of one schedule of one workflow."""

    workflow: str
    trigger_key: str
    slot: datetime


def schedule_fire(workflow: str, label: str) -> FireKey | None:
    """The fire key of a run labelled ``label``; None if it is not a schedule fire's."""
    if not label.startswith(_PREFIX):
        return None
    key, at, when = label[len(_PREFIX) :].rpartition("@")
    if not at or not key:
        return None
    try:
        slot = datetime.fromisoformat(when.partition("..")[0])
    except ValueError:
        return None  # cut short: see the module docstring
    if slot.tzinfo is None:
        return None
    return FireKey(workflow=workflow, trigger_key=key, slot=slot)


def default_firer() -> str:
    """Who fires when no supervisor id was given: this process on this machine."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Unwritten:
    """The runs ``insert_runs_once`` left out, and why: the caller must not run them."""

    ids: list[str]
    #: True: the writer is no longer registered (forgotten, or marked stopped), and nothing
    #: was written; False: these fires were already taken by another supervisor.
    fenced_out: bool = False

    def report(self, fired_by: str) -> None:
        """Log what was left out, saying which of the two happened.

        A forgotten machine's runs were not "run by another supervisor":
        nobody has run them, and whoever reads the log must hear that this
        machine was fenced out of the fleet.
        """
        if self.fenced_out:
            logger.warning(
                "%d new run(s) not queued, nor the state of their triggers saved: fenced out, "
                "this supervisor (%s) is no longer registered in the shared database "
                "(forgotten, or stopping): %s",
                len(self.ids),
                fired_by,
                self.ids,
            )
        elif self.ids:
            logger.info(
                "%d fire(s) (schedule slots, chained runs) already run by another supervisor: %s",
                len(self.ids),
                self.ids,
            )


def insert_runs_once(
    connection: Connection,
    rows: Sequence[dict[str, Any]],
    fired_by: str,
    at: datetime,
    *,
    keys: bool = True,
    fenced: bool = False,
) -> Unwritten:
    """Insert these ``runs`` rows, except schedule fires another writer took; returns those ids.

    ``rows`` are complete ``runs`` values (``id``, ``workflow_name`` and
    ``trigger`` among them).  One statement for the fire keys, one for the runs.
    ``keys`` False: no other writer fires these schedules, and no key is taken.
    ``fenced``: ``fired_by`` is a registered supervisor; once its row is gone
    or marked stopped, none of the rows is inserted (fires nor other new
    runs), and all come back ``fenced_out`` (see the module).  Alone
    (``keys`` False) nobody can take its slots or forget it: not checked.
    """
    if fenced and keys and rows and not registered(connection, fired_by):
        return Unwritten([str(row["id"]) for row in rows], fenced_out=True)
    keyed = (
        {
            str(row["id"]): key
            for row in rows
            if (key := schedule_fire(str(row["workflow_name"]), str(row["trigger"]))) is not None
        }
        if keys
        else {}
    )
    lost: set[str] = set()
    if keyed:
        won = _take(connection, keyed, fired_by, at)
        lost = set(keyed) - won
    kept = [row for row in rows if str(row["id"]) not in lost]
    # A chained run's id is its fire key (``chain_fires.chained_run_id``): one that exists
    # was started by another supervisor draining the same chain.
    chained = [row for row in kept if str(row["trigger"]).startswith(_CHAINED)]
    if chained:
        inserted = _insert_new(connection, chained)
        lost |= {str(row["id"]) for row in chained} - inserted
        kept = [row for row in kept if not str(row["trigger"]).startswith(_CHAINED)]
    if kept:
        connection.execute(insert(runs), kept)
    return Unwritten([str(row["id"]) for row in rows if str(row["id"]) in lost])


def registered(connection: Connection, supervisor_id: str) -> bool:
    """Whether ``supervisor_id``'s row is there and not stopped; locks it until the commit.

    The claims' own condition (``claims.claimant_registered``), as a
    statement: on PostgreSQL it holds the row ``FOR KEY SHARE`` for the rest
    of ``connection``'s transaction, so a forget waits for it to commit.
    """
    postgres = connection.dialect.name == "postgresql"
    found = connection.execute(
        select(claimant_registered(postgres)), {"claimant": supervisor_id}
    ).scalar()
    return bool(found)


def require_registered(
    connection: Connection, supervisor_id: str, unwritten: str | None = None
) -> None:
    """Raise ``SupervisorNotRegistered`` unless ``registered``: a single submit is refused.

    The run is not written, and whoever submitted it hears why at once (a
    forgotten machine's API answers in the moment before it hears it was
    forgotten), rather than leaving a run for a machine nobody counts.
    ``unwritten``: what else was refused (a trigger state save), for the message.
    """
    if not registered(connection, supervisor_id):
        raise SupervisorNotRegistered(supervisor_id, unwritten)


def _insert_new(connection: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """INSERT these runs, skipping ids that exist; returns the ids inserted."""
    statement = conflict_insert(connection.dialect.name, runs).on_conflict_do_nothing(
        index_elements=["id"]
    )
    inserted: set[str] = set()
    for row in rows:  # chains are short: a row at a time keeps RETURNING simple
        result = connection.execute(statement.values(row).returning(runs.c.id))
        inserted.update(str(run_id) for (run_id,) in result)
    return inserted


def _take(
    connection: Connection, keyed: dict[str, FireKey], fired_by: str, at: datetime
) -> set[str]:
    values = [
        {
            "workflow_name": key.workflow,
            "trigger_key": key.trigger_key,
            "slot_at": key.slot,
            "fired_by": fired_by,
            "run_id": run_id,
            "created_at": at,
        }
        for run_id, key in sorted(
            keyed.items(), key=lambda item: (item[1].workflow, item[1].trigger_key, item[1].slot)
        )
    ]  # in key order: two writers taking the same keys lock them in one order
    statement = _TAKE.get(connection.dialect.name)
    if statement is None:
        statement = _TAKE[connection.dialect.name] = (
            conflict_insert(connection.dialect.name, fires)
            .on_conflict_do_nothing(index_elements=["workflow_name", "trigger_key", "slot_at"])
            .returning(fires.c.run_id)
        )
    # One statement for all the keys, the rows as parameters: SQLAlchemy sends them as
    # multi-row INSERTs ("insertmanyvalues") and returns the ids of the rows inserted.
    result = connection.execute(statement, values)
    return {str(run_id) for (run_id,) in result}


#: The keys' INSERT of each dialect, built once.  The rows used to be written into the
#: statement (``values(rows)``), which SQLAlchemy compiled again on every call: writing
#: twenty schedule runs with their keys took 3.8 ms of CPU against 1.1 ms without keys.
_TAKE: dict[str, Any] = {}
