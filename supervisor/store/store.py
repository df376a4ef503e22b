"""The history store: workflows and their versions, runs, step attempts, events, artifacts.

The supervisor is the only writer.  Every write is one transaction, and every
method is safe to call from several threads (each takes its own pooled
connection).  Driver errors that a user can act on (locked database, full
disk, newer schema) come out as ``StoreError`` with a message saying what to
do, and a write that breaks a constraint as ``ConstraintViolated`` naming
what conflicted; see ``supervisor.store.errors``.

``HistoryStore`` is this module's engine, transactions, workflow versions,
events and pruning, with its other parts mixed in from their own modules:
the queue's writes (``run_writes``: new runs, status changes fenced by their
claim), claims and leases (``fleet``), reads of the history (``details``,
``queued``), breakers, chains and debugger requests.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, CursorResult, Engine, create_engine, delete, func, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from automation.clock import SYSTEM_CLOCK, Clock
from automation.engine.events import Event, RunStatus
from supervisor.store.artifacts import insert_artifact
from supervisor.store.breaker_rows import BreakerMethods
from supervisor.store.chain_fires import ChainFireMethods
from supervisor.store.claims import insert_or_ignore
from supervisor.store.debug_requests import DebugRequestMethods
from supervisor.store.details import RunDetails
from supervisor.store.engine import (
    DEFAULT_BUSY_TIMEOUT,
    describe,
    is_sqlite,
    make_engine,
    read_busy_timeout,
    sqlite_file,
    sqlite_url_of,
    write_options,
)
from supervisor.store.errors import StoreError, translate
from supervisor.store.fires import default_firer
from supervisor.store.fleet import FleetMethods
from supervisor.store.identity import FileIdentity
from supervisor.store.migrate import upgrade_to_head
from supervisor.store.queued import QueuedReads
from supervisor.store.records import (
    ArtifactRecord,
    RunRecord,
    VersionRef,
    run_record,
)
from supervisor.store.records import QueuedRow as QueuedRow  # re-exported: older imports
from supervisor.store.recovery import (
    import_recovery,
    mark_imported,
    pending_recoveries,
    recovery_path,
)
from supervisor.store.run_filters import at_or_before
from supervisor.store.run_writes import RunWrites
from supervisor.store.schema import events, runs, workflow_versions, workflows
from supervisor.store.writer import BatchWriter

if TYPE_CHECKING:
    from supervisor.store.forget import ForgottenMachine

logger = logging.getLogger(__name__)

TERMINAL_STATUSES = tuple(status.value for status in RunStatus if status.terminal)


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _is_translated(error: sa_exc.DBAPIError) -> bool:
    """Which driver errors every read and write of the store raises as a ``StoreError``.

    Locked, full, unreadable: the user can fix these.  A constraint violated
    (``ConstraintViolated``): the message names what conflicted, and callers
    catch one store error instead of SQLAlchemy's.  Anything else (a syntax
    error, a missing column) is a bug and keeps its own type and traceback.
    """
    return (
        isinstance(error, sa_exc.OperationalError | sa_exc.IntegrityError)
        or type(error) is sa_exc.DatabaseError
    )


class HistoryStore(
    FleetMethods,
    BreakerMethods,
    ChainFireMethods,
    DebugRequestMethods,
    RunWrites,
    RunDetails,
    QueuedReads,
):
    """Run history on any SQLAlchemy engine; ``open(url)`` also migrates the database."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = SYSTEM_CLOCK,
        lease_clock: Clock | None = None,
        owns_engine: bool = False,
    ) -> None:
        self.engine = engine
        #: Stamps history (when a run was queued, a step started): this machine's time.
        self.clock = clock
        #: Judges leases (``supervisor.store.leasing``): None, the database's clock, which
        #: every supervisor sharing it agrees on; a test gives its fake clock instead.
        self.lease_clock = lease_clock
        #: Who this store's writes are by in a fleet (the supervisor id, once registered).
        self.fired_by = default_firer()
        #: Whether schedule fires take a fire key (``supervisor.store.fires``): a supervisor
        #: alone with a SQLite history turns it off (``FleetLink._join``).
        self.fire_keys = True
        #: Whether its fires are fenced on ``fired_by``'s ``supervisors`` row
        #: (``supervisor.store.fires``): set once this store registers a supervisor.
        self.fire_fenced = False
        self.database = describe(engine.url)
        self._owns_engine = owns_engine
        self._write_options = write_options(engine)
        self._busy_timeout = self._guard(read_busy_timeout, engine)
        self._writer: BatchWriter = BatchWriter(engine)
        self._claims_engine: Engine | None = None
        #: The file this store writes (SQLite files only): a write checks it is still there.
        self.identity: FileIdentity | None = None
        #: A connection that keeps the opened file readable if it is deleted or replaced, so
        #: ``divert`` can still copy what it held.
        self._anchor: sqlite3.Connection | None = None
        #: What wrote the vanished file, after ``divert`` (see there).
        self._vanished: list[tuple[BatchWriter, Engine, sqlite3.Connection]] = []
        path = sqlite_file(engine)
        if path is not None:
            self.identity = FileIdentity.of(path)
            self._anchor = sqlite3.connect(path, check_same_thread=False)
            self._anchor.execute("SELECT count(*) FROM sqlite_master").fetchone()

    @classmethod
    def open(
        cls,
        url: str | URL,
        *,
        clock: Clock = SYSTEM_CLOCK,
        lease_clock: Clock | None = None,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> HistoryStore:
        """Open (creating and migrating as needed) the history database at ``url``."""
        url = make_url(url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = make_engine(url, busy_timeout=busy_timeout)
        try:
            upgrade_to_head(engine)
            return cls(engine, clock=clock, lease_clock=lease_clock, owns_engine=True)
        except BaseException:
            engine.dispose()
            raise

    def close(self) -> None:
        self._writer.close()
        if self._claims_engine is not None:
            self._claims_engine.dispose()
        if self._anchor is not None:
            self._anchor.close()
            self._anchor = None
        if self._owns_engine:
            self.engine.dispose()

    # -- the file itself ----------------------------------------------------------------

    def problem(self) -> str | None:
        """Why this store must not be written now (its file deleted or replaced), or None."""
        return None if self.identity is None else self.identity.problem()

    def check_file(self) -> None:
        """Raise ``DatabaseGone`` if the file was deleted or replaced: call before writing."""
        if self.identity is not None:
            self.identity.check()

    def divert(self) -> Path:
        """Copy what the vanished file held into a recovery file, and write there from now on.

        Called by the supervisor's stop when ``problem()`` is set: the stop's own
        writes (pending events, interrupted runs) then land in the recovery file,
        which the next start imports (``import_recoveries``).  The connections to
        the vanished file are left open, not closed: closing the last one would
        delete ``<path>-wal`` by name, which may by now belong to another file.
        """
        if self.identity is None or self._anchor is None:
            raise StoreError(f"the history database {self.database} is not a file; cannot divert")
        target = recovery_path(self.identity.path)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        copy = sqlite3.connect(target)
        try:
            self._anchor.backup(copy)
        finally:
            copy.close()
        # Kept referenced, so no garbage collection closes them while this process runs.
        self._vanished.append((self._writer, self.engine, self._anchor))
        self._writer = BatchWriter(make_engine(sqlite_url_of(target), busy_timeout=self._busy()))
        self.engine = self._writer.engine
        self._owns_engine = True
        self.identity = FileIdentity.of(target)
        self.database = describe(self.engine.url)
        self._anchor = sqlite3.connect(target, check_same_thread=False)
        logger.warning("history diverted to the recovery file %s", target)
        return target

    def import_recoveries(self) -> list[tuple[Path, int]]:
        """Import every recovery file left beside this database (see ``recovery``).

        Returns (file, runs copied) for each; a file is renamed ``*.imported`` once
        its runs are committed.
        """
        if self.identity is None:
            return []
        done = []
        for path in pending_recoveries(self.identity.path):
            with self._write() as connection:
                copied = import_recovery(connection, path)
            mark_imported(path)
            logger.warning("imported %d runs from the recovery file %s", copied, path)
            done.append((path, copied))
        return done

    def _busy(self) -> float:
        return DEFAULT_BUSY_TIMEOUT if self._busy_timeout is None else self._busy_timeout

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------

    def _guard(self, function: Any, *args: Any) -> Any:
        try:
            return function(*args)
        except sa_exc.DBAPIError as error:
            if _is_translated(error):
                raise translate(error, self.database) from error
            raise

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        self.check_file()
        try:
            with (
                self.engine.connect().execution_options(**self._write_options) as connection,
                connection.begin(),
            ):
                yield connection
        except sa_exc.DBAPIError as error:
            if _is_translated(error):
                raise translate(error, self.database, self._busy_timeout) from error
            raise

    def _fence_events(self, owner: str) -> None:
        """Recorded events of runs ``owner`` lost are dropped (see ``writer``).

        Only on a shared server: a SQLite file has one supervisor, whose runs
        nobody takes back, and its single-desktop recording keeps its speed.
        """
        if not is_sqlite(self.engine):
            self._writer.fence_for(owner, self.lease_clock)

    @contextmanager
    def _claiming(self) -> Iterator[Connection]:
        """Where a claim runs: its one statement is its own transaction, in one round trip.

        On PostgreSQL, an autocommit connection of a small engine kept for claims,
        without the pool's liveness ping (a claim on a dropped connection fails
        once; the supervisor claims again at its next wake-up).  On SQLite, a
        write transaction (``BEGIN IMMEDIATE``) like any other.
        """
        if self.engine.dialect.name != "postgresql":
            with self._write() as connection:
                yield connection
            return
        if self._claims_engine is None:
            self._claims_engine = create_engine(
                self.engine.url, pool_size=2, pool_pre_ping=False, isolation_level="AUTOCOMMIT"
            )
        try:
            with self._claims_engine.connect() as connection:
                yield connection
        except sa_exc.DBAPIError as error:
            if _is_translated(error):
                raise translate(error, self.database, self._busy_timeout) from error
            raise

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except sa_exc.DBAPIError as error:
            if _is_translated(error):
                raise translate(error, self.database, self._busy_timeout) from error
            raise

    # -- workflows ------------------------------------------------------------------

    def save_workflow_version(self, name: str, path: str | Path | None, content: str) -> VersionRef:
        """Store ``content`` as a version of workflow ``name``; saving it again changes nothing.

        Insert-or-get on the unique keys: processes saving at once get the same rows.
        """
        digest = content_hash(content)
        now = self.clock.now()
        path_text = None if path is None else str(path)

        def save(connection: Connection) -> VersionRef:
            insert_or_ignore(
                connection,
                workflows,
                {"name": name, "path": path_text, "created_at": now, "updated_at": now},
                ["name"],
            )
            row = connection.execute(
                select(workflows.c.id, workflows.c.path).where(workflows.c.name == name)
            ).one()
            workflow_id = int(row.id)
            if path_text is not None and row.path != path_text:
                connection.execute(
                    update(workflows)
                    .where(workflows.c.id == workflow_id)
                    .values(path=path_text, updated_at=now)
                )
            added = insert_or_ignore(
                connection,
                workflow_versions,
                {
                    "workflow_id": workflow_id,
                    "content_hash": digest,
                    "content": content,
                    "created_at": now,
                },
                ["workflow_id", "content_hash"],
            )
            version_id = connection.execute(
                select(workflow_versions.c.id).where(
                    workflow_versions.c.workflow_id == workflow_id,
                    workflow_versions.c.content_hash == digest,
                )
            ).scalar_one()
            if added:
                connection.execute(
                    update(workflows).where(workflows.c.id == workflow_id).values(updated_at=now)
                )
            return VersionRef(
                workflow_id=workflow_id, version_id=int(version_id), content_hash=digest
            )

        return self._transaction(save, "saving a workflow version", idempotent=True)

    def version_content(self, version_id: int) -> str | None:
        """The exact workflow text a run used, to resume it on the same version."""
        with self._read() as connection:
            content: str | None = connection.execute(
                select(workflow_versions.c.content).where(workflow_versions.c.id == version_id)
            ).scalar()
        return content

    def workflow_path(self, workflow_id: int | None) -> str | None:
        """Where the workflow's file was when it was last submitted (None if never from a file)."""
        if workflow_id is None:
            return None
        with self._read() as connection:
            path = connection.execute(
                select(workflows.c.path).where(workflows.c.id == workflow_id)
            ).scalar()
        return None if path is None else str(path)

    def last_seq(self, run_id: str) -> int:
        """The highest sequence number in a run's stored event log (0 when it has none)."""
        with self._read() as connection:
            value = connection.execute(
                select(func.max(events.c.seq)).where(events.c.run_id == run_id)
            ).scalar()
        return int(value or 0)

    def record(self, batch: Sequence[Event]) -> None:
        """Apply a batch of engine events in one transaction (see ``supervisor.store.ingest``)."""
        if not batch:
            return
        self.check_file()  # with each commit batch: never into a vanished file
        try:
            self._writer.record(batch)
        except sa_exc.DBAPIError as error:
            if _is_translated(error):
                raise translate(error, self.database, self._busy_timeout) from error
            raise

    def add_artifact(
        self,
        run_id: str,
        path: str | Path,
        *,
        kind: str,
        description: str = "",
        step: int | None = None,
        node_id: str | None = None,
        at: datetime | None = None,
    ) -> ArtifactRecord:
        """Attach a file the supervisor made (evidence from a hung worker) to a run.

        A copy of its bytes is kept with it (``supervisor.store.artifacts``).
        """
        return self._transaction(
            lambda connection: insert_artifact(
                connection,
                run_id,
                str(path),
                kind=kind,
                description=description,
                step=step,
                node_id=node_id,
                at=at or self.clock.now(),
            ),
            f"recording an artifact of run {run_id}",
        )

    def prune(self, max_age: timedelta | None = None, max_runs: int | None = None) -> int:
        """Delete finished runs older than ``max_age`` or beyond the newest ``max_runs``.

        Queued, running and interrupted runs are never deleted (they still have
        work to do), though they count towards ``max_runs``.  Steps, events and
        artifacts rows go with their run.  Returns how many runs were deleted.
        """
        if max_age is not None and max_age < timedelta(0):
            raise ValueError(f"max_age must not be negative, got {max_age}")
        if max_runs is not None and max_runs < 0:
            raise ValueError(f"max_runs must not be negative, got {max_runs}")
        finished = runs.c.status.in_(TERMINAL_STATUSES)

        def prune(connection: Connection) -> int:
            deleted = 0
            if max_age is not None:
                cutoff = self.clock.now() - max_age
                ended = func.coalesce(runs.c.finished_at, runs.c.queued_at)
                deleted += connection.execute(delete(runs).where(finished, ended < cutoff)).rowcount
            if max_runs is not None:
                newest_dropped = connection.execute(
                    select(runs.c.queued_at, runs.c.id)
                    .order_by(runs.c.queued_at.desc(), runs.c.id.desc())
                    .offset(max_runs)
                    .limit(1)
                ).first()
                if newest_dropped is not None:
                    deleted += connection.execute(
                        delete(runs).where(
                            finished,
                            at_or_before(newest_dropped.queued_at, newest_dropped.id),
                        )
                    ).rowcount
            return deleted

        deleted = self._transaction(prune, "pruning the history", idempotent=True)
        if deleted:
            logger.info("pruned %d runs from the history", deleted)
        return deleted

    # -- runs: reading ----------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._read() as connection:
            row = connection.execute(select(runs).where(runs.c.id == run_id)).first()
        return None if row is None else run_record(row)

    def forget_supervisor(
        self, supervisor_id: str, *, silent_for: float | None, at: datetime | None = None
    ) -> ForgottenMachine:
        """Remove a supervisor for good (``supervisor.store.forget``, which says how).

        Imported here, when a machine is forgotten, rather than mixed in: a
        desktop alone with its SQLite history never loads it.
        """
        from supervisor.store.forget import ForgetMethods

        forgetting = cast(ForgetMethods, self)  # it runs on this store's transactions and clocks
        return ForgetMethods.forget_supervisor(
            forgetting, supervisor_id, silent_for=silent_for, at=at
        )

    def integrity_check(self) -> str:
        """``'ok'`` when SQLite finds nothing wrong, else its report (other backends: ``'ok'``)."""
        if not is_sqlite(self.engine):
            return "ok"
        with self._read() as connection:
            lines = connection.exec_driver_sql("PRAGMA integrity_check").scalars().all()
        return "\n".join(str(line) for line in lines)


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None, "an INSERT of one row always has a primary key"
    return int(key[0])
