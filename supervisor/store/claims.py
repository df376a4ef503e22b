"""Writes that stay correct when several processes share one database.

A claim takes queued runs for one claimant: on PostgreSQL the rows picked
are locked with ``FOR UPDATE SKIP LOCKED``, so other claimants pass over
them instead of waiting or taking them too; SQLite's ``BEGIN IMMEDIATE``
(``write_options``) admits one writer at a time.  The UPDATE is a
compare-and-set on ``queued`` as well, so a run is never claimed twice even
where locking would allow it.  Claims honour routing (a run's
``target_host``) and take at most one run that needs the desktop per
machine (a unique index over running runs' ``desktop_claim`` holds it).

A supervisor of a fleet claims the run its dispatch chose together with
the count of its workflow's first starts within the run-rate window
(``count_first_starts``): in the claim's transaction, under a lock per
workflow, so two supervisors starting the same workflow at the same moment
count each other's start, and the ceiling holds for the fleet, not for
each supervisor.

A supervisor of a fleet claims only while its ``supervisors`` row is there
and not marked stopped (``ClaimRequest.fenced``): the condition is in the
claim's own statement, which on PostgreSQL takes the row ``FOR KEY SHARE
SKIP LOCKED``.  ``machines forget`` locks that row ``FOR UPDATE`` before it
takes the supervisor's runs back and deletes it, so a claim either commits
first (and the forget, reading after it, takes that run back too) or finds
the row locked or gone and takes nothing; SQLite's ``BEGIN IMMEDIATE``
orders the two the same way.  Without it a supervisor forgotten while it
ran went on claiming until its next renewal told it (up to two seconds),
and each run so claimed waited out its lease before anybody ran it.  The
key-share lock does not conflict with the heartbeat's update of the row,
nor with the same supervisor's other claims.

``insert_or_ignore`` is the insert-or-get for rows with a unique key
(workflows, their versions): a read-then-insert raced by another process
fails on the constraint, where ``ON CONFLICT DO NOTHING`` waits for the
other transaction and then finds its row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    any_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
    union_all,
    update,
)

from automation.clock import Clock
from automation.engine.events import RunStatus
from supervisor.store.conflicts import conflict_insert
from supervisor.store.leasing import database_micros, statement_micros
from supervisor.store.records import ClaimMiss
from supervisor.store.schema import breakers, runs, supervisors
from supervisor.store.types import to_micros


@dataclass(frozen=True, kw_only=True, slots=True)
class ClaimRequest:
    """Who claims, where, for how long; see ``HistoryStore.claim_queued``."""

    claimant: str
    limit: int
    #: The claimant's time: stamps the claim (and a first start) of a run claimed without a
    #: lease (one supervisor alone).  Under a lease (a fleet) the database's time does, as
    #: it starts the lease: other machines compare those stamps with their "now".
    at: datetime
    #: The claimant's machine: runs routed elsewhere are left alone.  None: take any run.
    host: str | None = None
    #: How long the lease runs from the claim (None: no lease, as with a single supervisor).
    lease_seconds: float | None = None
    #: What judges the lease (``supervisor.store.leasing``): None, the database's clock.
    lease_clock: Clock | None = None
    #: Whether the claimant's desktop is free for a run that needs it.
    desktop: bool = True
    #: Only these runs (the ones a supervisor's dispatch chose); None: any queued run.
    run_ids: tuple[str, ...] | None = None
    #: The claimant is a registered supervisor (``supervisors.id``): it claims nothing once
    #: its row is gone (forgotten) or marked stopped.  False: any claimant (a lone supervisor,
    #: which never registers).
    fenced: bool = False


def claim_rows(connection: Connection, request: ClaimRequest) -> list[Any]:
    """Claim up to ``request.limit`` queued runs: one statement, one round trip.

    ``UPDATE runs SET <claimed> WHERE id IN (<next queued ids>) AND status =
    'queued' RETURNING *``.  Runs routed to another machine are not taken.
    A run that needs the desktop is taken only if ``request.desktop`` and no
    run of this machine (or claimant) that needs the desktop is running, at
    most one per claim; its ``desktop_claim`` is set to the machine, and a
    unique index over running runs refuses a second one, should another
    supervisor of the machine claim one at the same moment (the statement
    then fails on that index, ``ConstraintViolated`` from the store, and
    nothing was claimed).  A ``fenced`` claim takes nothing unless the
    claimant's ``supervisors`` row is there, not stopped (see the module).
    Returns the claimed ``runs`` rows in claim order (highest priority, then
    oldest).
    """
    postgres = connection.dialect.name == "postgresql"
    if not postgres and request.run_ids is not None and len(request.run_ids) == 1:
        statement = _one_run_claim(request.host is not None, request.desktop, request.fenced)
    else:
        statement = _claim_statement(
            postgres,
            request.host is not None,
            request.desktop,
            request.run_ids is not None,
            request.fenced,
        )
    lease = request.lease_seconds
    test_clock = request.lease_clock
    # Alone, the claimant's time; in a fleet the database's (None: read by the statement),
    # or a test's lease clock's.
    stamp = request.at if lease is None else None if test_clock is None else test_clock.now()
    params: dict[str, Any] = {
        "claimant": request.claimant,
        "claimed_at": None if stamp is None else to_micros(stamp),
        # The lease's end is the database's time plus its length, computed by the statement;
        # a test's lease clock gives the time instead (see ``_claim_statement``).
        "lease_length": None if lease is None else round(lease * 1_000_000),
        "lease_start": None if test_clock is None else to_micros(test_clock.now()),
        "host": request.host,
        "desktop_key": request.host if request.host is not None else request.claimant,
        "limit": request.limit,
    }
    if request.run_ids is not None:
        params["run_ids"] = list(request.run_ids)
        params["run_id"] = request.run_ids[0]
    rows = connection.execute(statement, params).all()
    return sorted(rows, key=lambda row: (-row.priority, row.queued_at, row.id))


_QUEUED = f"'{RunStatus.QUEUED.value}'"


def _row_place() -> Any:
    """PostgreSQL's place of a row version in its table: what a claim updates its picks by."""
    return literal_column("runs.ctid")


@functools.cache
def _claim_statement(
    postgres: bool, routed: bool, desktop: bool, chosen_ids: bool, fenced: bool
) -> Any:
    """The claim for this case, built once: its values are bound parameters.

    Building the statement cost more Python time than PostgreSQL spent
    running it; built once, SQLAlchemy's compiled cache and psycopg's
    prepared statement take it from there.
    """
    order = (runs.c.priority.desc(), runs.c.queued_at, runs.c.id)
    queued = _status_is(runs, RunStatus.QUEUED)
    # When the claim is made: given ("claimed_at"), or the database's time (``claim_rows``).
    at = func.coalesce(
        bindparam("claimed_at", type_=BigInteger()),
        statement_micros("postgresql" if postgres else "sqlite"),
    )
    # A run waiting out its restart delay is not taken before it ends, by any claimant: its
    # end was written on the clock this claim reads (``supervisor.store_time``).
    conditions: list[Any] = [queued, or_(runs.c.not_before.is_(None), runs.c.not_before <= at)]
    if routed:
        conditions.append(
            or_(runs.c.target_host.is_(None), runs.c.target_host == bindparam("host"))
        )
    if chosen_ids:
        conditions.append(runs.c.id.in_(bindparam("run_ids", expanding=True)))
    if fenced:
        conditions.append(claimant_registered(postgres))
    limit = bindparam("limit", type_=Integer())
    place = [_row_place().label("place")] if postgres else []

    def pick(for_desktop: bool, most: Any) -> Any:
        where = [*conditions, runs.c.needs_desktop == for_desktop]
        if for_desktop:
            where.append(~_desktop_busy())
        picked = (
            select(runs.c.id, runs.c.priority, runs.c.queued_at, *place)
            .where(*where)
            .order_by(*order)
            .limit(most)
        )
        # Locked rows are skipped, not waited for: another claimant has them.
        return picked.with_for_update(skip_locked=True) if postgres else picked

    chosen: Any = pick(False, limit)
    if desktop:
        both = union_all(pick(True, 1).subquery().select(), chosen.subquery().select()).subquery()
        chosen = (
            select(both.c.id, both.c.priority, both.c.queued_at, *both.c[3:])
            .order_by(both.c.priority.desc(), both.c.queued_at, both.c.id)
            .limit(limit)
        )
    values = _claimed(postgres, at)
    if postgres:
        # A CTE, evaluated once: as ``id IN (subquery)`` the planner may run the
        # LIMITed subquery again and claim more rows than asked for.
        ids = chosen.cte("picked")
        # The picked rows by their place in the table (a TID scan), whatever the planner
        # believes of the queue's size.  Joined to the picks by id, and with the status
        # written in, a table whose statistics predate its queued runs was walked along
        # the partial index over queued runs (1,500 rows for 10 picks, 8 ms).  The picks
        # are locked by this statement, so no other write moves them; the status is
        # still checked, with IS NOT DISTINCT FROM, which no index serves.
        picked = func.array(select(ids.c.place).scalar_subquery())
        still_queued = runs.c.status.is_not_distinct_from(literal_column(_QUEUED))
        statement = update(runs).where(_row_place() == any_(picked), still_queued)
    else:
        statement = update(runs).where(
            runs.c.id.in_(select(chosen.subquery().c.id).scalar_subquery()), queued
        )
    return statement.values(values).returning(*runs.c)


def _claimed(postgres: bool, at: Any) -> dict[str, Any]:
    """What a claim sets on each run it takes, ``at`` the claim's time."""
    # The lease starts at the database's time (``leasing``), whatever the claimant's clock
    # says, unless a test's lease clock gave one ("lease_start"); no length, no lease.
    start = func.coalesce(
        bindparam("lease_start", type_=BigInteger()),
        database_micros("postgresql" if postgres else "sqlite"),
    )
    return {
        "status": RunStatus.RUNNING.value,
        "claimed_by": bindparam("claimant"),
        "claimed_at": at,
        "lease_expires_at": start + bindparam("lease_length", type_=BigInteger()),
        "started_at": func.coalesce(runs.c.started_at, at),
        "desktop_claim": case(
            (runs.c.needs_desktop == true(), bindparam("desktop_key")), else_=None
        ),
    }


@functools.cache
def _one_run_claim(routed: bool, desktop: bool, fenced: bool) -> Any:
    """SQLite, the one run a dispatch chose: the same claim, by its primary key.

    One run needs no pick (no order, no limit, no second desktop run in the
    same claim), so its conditions sit in the UPDATE's own WHERE.  The
    general statement's ``id IN (<union of picks>)`` led SQLite to walk
    every queued run through the status index and sort the picks in
    temporary b-trees: 0.26 ms of CPU per claim against 0.03 ms by the key,
    paid for every run a lone supervisor starts.  ``BEGIN IMMEDIATE`` makes
    it atomic as before.
    """
    at = func.coalesce(bindparam("claimed_at", type_=BigInteger()), statement_micros("sqlite"))
    where: list[Any] = [
        runs.c.id == bindparam("run_id"),
        runs.c.status == RunStatus.QUEUED.value,
        or_(runs.c.not_before.is_(None), runs.c.not_before <= at),
    ]
    if routed:
        where.append(or_(runs.c.target_host.is_(None), runs.c.target_host == bindparam("host")))
    if desktop:
        where.append(or_(runs.c.needs_desktop == false(), ~_desktop_busy()))
    else:
        where.append(runs.c.needs_desktop == false())
    if fenced:
        where.append(claimant_registered(False))
    return update(runs).where(*where).values(_claimed(False, at)).returning(*runs.c)


def claim_miss(connection: Connection, run_id: str) -> ClaimMiss:
    """Why ``run_id`` was not claimed just now: two columns, not the run's whole row.

    Read right after a claim that took nothing, in its transaction.  On
    PostgreSQL a row locked against this read is one another supervisor's
    claim holds (its pick takes the row ``FOR UPDATE``; nothing else locks
    a queued run but a cancel): skipped, it reads as gone rather than as
    queued, so the claimant drops it instead of trying again for a run that
    is running elsewhere a moment later.  Should that other claim roll
    back, the run is still queued in the store and the next look for work
    finds it.
    """
    read = select(runs.c.status, runs.c.not_before).where(runs.c.id == run_id)
    if connection.dialect.name == "postgresql":
        read = read.with_for_update(key_share=True, read=True, skip_locked=True)
    row = connection.execute(read).first()
    if row is None or row.status != RunStatus.QUEUED.value:
        return ClaimMiss()
    return ClaimMiss(queued=True, not_before=row.not_before)


def count_first_starts(connection: Connection, row: Any, window: float) -> int | None:
    """Runs of ``row``'s workflow first started in the ``window`` seconds up to its claim, it too.

    Every first start of a fleet is stamped with the database's time by its
    claim (``claim_rows``), so machines whose clocks disagree count the same
    starts in the same window.

    Starts before the workflow's last breaker reset (``breakers.starts_since``)
    are not counted: a reset starts the count afresh.

    None when the claimed ``row`` is not a first start (a resumed or restarted
    run is the same run going on, and does not count).  On PostgreSQL a
    transaction-scoped advisory lock per workflow is taken first: a claim of
    the same workflow by another supervisor waits for this transaction to
    commit, and its count (a new snapshot, in READ COMMITTED) includes this
    start.  SQLite's ``BEGIN IMMEDIATE`` already admits one claim at a time.
    """
    at = row.claimed_at
    if row.started_at != at:
        return None
    workflow = row.workflow_name
    if connection.dialect.name == "postgresql":
        key = func.hashtextextended(f"deskpilot_run_rate:{workflow}", 0)
        connection.execute(select(func.pg_advisory_xact_lock(key)))
    # Everything the count needs, in one statement: the lock is held from here to the
    # commit, and every claim of this workflow across the fleet waits for it.
    return int(
        connection.execute(
            _first_starts_count(),
            {"workflow": workflow, "since": to_micros(at - timedelta(seconds=window))},
        ).scalar_one()
    )


@functools.cache
def _first_starts_count() -> Any:
    """The count of ``count_first_starts``, the last breaker reset read by the statement itself.

    A reset (through any machine's API) starts the count afresh: starts before it were
    the flood the user already dealt with.  ``starts_since`` is epoch seconds; starts
    are integer microseconds.
    """
    since = bindparam("since", type_=BigInteger())
    reset = (
        select(cast(func.round(breakers.c.starts_since * 1_000_000), BigInteger()))
        .where(breakers.c.workflow_name == bindparam("workflow"))
        .scalar_subquery()
    )
    return (
        select(func.count())
        .select_from(runs)
        .where(
            runs.c.workflow_name == bindparam("workflow"),
            # no upper bound: a start committed while this claim waited counts too
            runs.c.started_at > since,
            runs.c.started_at > func.coalesce(reset, since),
        )
    )


def claimant_registered(postgres: bool) -> Any:
    """The claimant's ``supervisors`` row is there and not stopped (see the module).

    Bound as ``claimant``.  Schedule fires are fenced on it too
    (``supervisor.store.fires``).

    On PostgreSQL the row is taken ``FOR KEY SHARE SKIP LOCKED``: held
    until the claim commits, so a forget (``FOR UPDATE``) waits for it; and a
    row a forget holds is skipped, so the claim finds no row and takes
    nothing rather than waiting for the forget to end.
    """
    row = select(supervisors.c.id).where(
        supervisors.c.id == bindparam("claimant"), supervisors.c.stopped_at.is_(None)
    )
    if postgres:
        row = row.with_for_update(read=True, key_share=True, skip_locked=True)
    return row.exists()


def _desktop_busy() -> Any:
    """A run of this machine (or this claimant) that needs the desktop is running.

    The status is written into the statement, not bound: a bound value in a
    term that could select a partial index (``ux_runs_desktop_claim``, over
    running runs) makes SQLite prepare the statement again on every execution
    to look at the value.  That was 0.11 of the 0.15 ms of CPU of a lone
    supervisor's claim, once per run it starts.
    """
    running = runs.alias("running")
    return exists().where(
        _status_is(running, RunStatus.RUNNING),
        running.c.needs_desktop == true(),
        or_(
            running.c.desktop_claim == bindparam("desktop_key"),
            running.c.claimed_by == bindparam("claimant"),
        ),
    )


def _status_is(table: Any, status: RunStatus) -> Any:
    """``table.status = '<status>'``, the value written into the statement, not bound.

    Both partial indexes over ``runs`` are over one status (``PARTIAL_INDEXES``).
    A bound value in a term that could select one makes SQLite prepare the
    statement again on every execution to look at the value, and PostgreSQL's
    plan for a prepared statement (psycopg prepares one executed 5 times) cannot
    use the index at all.
    """
    return table.c.status == literal_column(f"'{status.value}'")


def insert_or_ignore(
    connection: Connection, table: Any, values: dict[str, Any], unique: list[str]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on ``unique``; True if the row was added.

    A concurrent insert of the same key waits for the other transaction and
    then does nothing, where a read-then-insert would fail on the constraint.
    """
    name = connection.dialect.name
    statement: Any
    if name in ("postgresql", "sqlite"):
        statement = (
            conflict_insert(name, table)
            .values(values)
            .on_conflict_do_nothing(index_elements=unique)
        )
    else:  # pragma: no cover - Deskpilot supports SQLite and PostgreSQL
        found = connection.execute(
            select(func.count())
            .select_from(table)
            .where(*(table.c[column] == values[column] for column in unique))
        ).scalar_one()
        if found:
            return False
        statement = insert(table).values(values)
    # Whether a row came back, not the row count: psycopg reports 1 for an INSERT that
    # conflicted and did nothing.
    return connection.execute(statement.returning(table.c[unique[0]])).first() is not None


def upsert(
    connection: Connection,
    table: Any,
    unique: list[str],
    columns: list[str],
    computed: Callable[[Any], dict[str, Any]] | None = None,
) -> Any:
    """INSERT ... ON CONFLICT (``unique``) DO UPDATE SET ``columns``, for this dialect.

    Execute it with a list of rows: one statement inserts the new ones and
    overwrites the others, with no window between a read and an insert.
    ``computed(excluded)`` adds SET expressions of its own (given the
    proposed row as ``excluded``), for columns that must not simply be
    overwritten.
    """
    statement = conflict_insert(connection.dialect.name, table)
    values = {column: statement.excluded[column] for column in columns}
    if computed is not None:
        values.update(computed(statement.excluded))
    return statement.on_conflict_do_update(index_elements=unique, set_=values)
