"""History store fixtures, and a builder for a run's events written by hand.

``store_factory`` is parametrised over every store backend: SQLite on a
temporary file, and PostgreSQL on a fresh database of the server the suite
starts itself (``tests.helpers.postgres``).  Tests that take ``store`` or
``store_factory`` therefore form the contract every backend must pass.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from automation.clock import SYSTEM_CLOCK, Clock
from automation.engine.events import (
    ArtifactSaved,
    Event,
    LogEmitted,
    NodeFailed,
    NodeFinished,
    NodeReplayed,
    NodeRetrying,
    NodeStarted,
    RunFinished,
    RunStarted,
    RunStatus,
)
from supervisor.paths import DeskpilotPaths
from supervisor.store import HistoryStore
from tests.helpers.postgres import PostgresServer

STORE_BACKENDS = ["sqlite", "postgresql"]

StoreFactory = Callable[..., HistoryStore]


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite history migrated to head once per session, for tests to copy.

    Migrating a new file costs about a second (Alembic runs every revision);
    copying one takes a millisecond.  The copy is what ``HistoryStore.open``
    would have made of a new file; the migrations themselves are tested on
    new files in ``tests/unit/supervisor/store/test_migrate.py``.
    """
    path = tmp_path_factory.mktemp("migrated") / "history.sqlite3"
    HistoryStore.open(f"sqlite:///{path}").close()  # checkpoints the WAL into the file
    for suffix in ("-wal", "-shm"):
        assert not path.with_name(path.name + suffix).exists(), "the template is not one file"
    return path


_TEMPLATE: list[Path] = []


def migrated_sqlite_template() -> Path:
    """The session's SQLite history at head, for helpers that are not fixtures (made once)."""
    if not _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="deskpilot-migrated-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "history.sqlite3"
        HistoryStore.open(f"sqlite:///{path}").close()
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


def seed_migrated_history(paths: DeskpilotPaths) -> None:
    """Give a new home's SQLite history the schema before its supervisor first starts.

    A supervisor migrates a new history in a child process (Python and
    Alembic start-up, every revision: a second or two); tests of what a
    running supervisor does start dozens of them on new homes.  The
    first-start migration itself is tested in ``test_migrate`` and by the
    command-line and end-to-end tests, which start on empty homes.  A home
    on PostgreSQL, or whose history exists, is left alone.
    """
    from supervisor.store.engine import sqlite_file_of_url

    database = sqlite_file_of_url(paths.database_url)
    if database is not None and not database.exists():
        migrated_sqlite_copy(migrated_sqlite_template(), database)


def migrated_sqlite_copy(template: Path, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return path


@pytest.fixture(params=STORE_BACKENDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """``make(clock=..., busy_timeout=..., leases_by_database=...)`` opens a store on this
    test's database.

    The database starts empty of runs, at the schema's head (a copy of one
    migrated once per session).
    """
    backend: str = request.param
    opened: list[HistoryStore] = []
    if backend == "sqlite":
        path = migrated_sqlite_copy(
            request.getfixturevalue("migrated_sqlite"), tmp_path / "history.sqlite3"
        )
        url = f"sqlite:///{path}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.new_migrated_database()

    def make(
        *,
        clock: Clock = SYSTEM_CLOCK,
        busy_timeout: float = 5.0,
        leases_by_database: bool = False,
    ) -> HistoryStore:
        # A test's fake clock judges leases too (they expire without waiting), unless the
        # test asks for the database's clock, as every real supervisor has.
        fake = clock is not SYSTEM_CLOCK and not leases_by_database
        store = HistoryStore.open(
            url, clock=clock, lease_clock=clock if fake else None, busy_timeout=busy_timeout
        )
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> HistoryStore:
    return store_factory()


def store_on(url_fixture: str) -> Any:
    """A ``store`` fixture for a module whose tests share one database with supervisors:
    ``store = store_on("postgres_migrated_url")`` opens the history at the URL that the
    named fixture gives, with ``HistoryStore.open``'s defaults as one more machine of the
    fleet would, and closes it after the test.

    Assigned to ``store`` in a test module, it stands in for the global ``store`` (one
    store per backend) in that module only: a fleet's tests must see the database their
    supervisors write, and every other test keeps the backend contract.
    """

    @pytest.fixture(name="store")
    def shared_store(request: pytest.FixtureRequest) -> Iterator[HistoryStore]:
        """The history the module's supervisors share, at its database URL (``store_on``)."""
        opened = HistoryStore.open(request.getfixturevalue(url_fixture))
        yield opened
        opened.close()

    return shared_store


@pytest.fixture
def sqlite_store_path(tmp_path: Path) -> Path:
    """Where ``sqlite_store`` keeps its file, for tests that open it from outside."""
    return tmp_path / "history.sqlite3"


@pytest.fixture
def sqlite_store(sqlite_store_path: Path, migrated_sqlite: Path) -> Iterator[HistoryStore]:
    """A store that is SQLite for sure: for WAL, locking and file-level tests."""
    migrated_sqlite_copy(migrated_sqlite, sqlite_store_path)
    store = HistoryStore.open(f"sqlite:///{sqlite_store_path}", busy_timeout=0.2)
    yield store
    store.close()


def sqlite_rows(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the database through a connection of its own, as another process would."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


@dataclass
class RunEvents:
    """Builds one run's events by hand: gapless ``seq``, timestamps one second apart."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    workflow: str = "invoices"
    start: datetime = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    seq: int = 0

    def _base(self) -> dict[str, Any]:
        self.seq += 1
        return {
            "run_id": self.run_id,
            "seq": self.seq,
            "at": self.start + timedelta(seconds=self.seq),
        }

    def run_started(self, **values: Any) -> RunStarted:
        return RunStarted(**self._base(), workflow=self.workflow, **values)

    def node_started(
        self, step: int, *, attempt: int = 1, node_id: str | None = None, block: str = "data.set"
    ) -> NodeStarted:
        return NodeStarted(
            **self._base(),
            node_id=node_id or f"node{step}",
            block=block,
            step=step,
            attempt=attempt,
        )

    def node_finished(
        self,
        step: int,
        *,
        attempt: int = 1,
        node_id: str | None = None,
        emissions: list[dict[str, Any]] | None = None,
        vars_set: dict[str, Any] | None = None,
        duration: float = 0.5,
    ) -> NodeFinished:
        return NodeFinished(
            **self._base(),
            node_id=node_id or f"node{step}",
            step=step,
            attempt=attempt,
            duration=duration,
            emissions=[{"value": step}] if emissions is None else emissions,
            vars_set=vars_set or {},
        )

    def node_failed(
        self,
        step: int,
        *,
        attempt: int = 1,
        failure: str = "error",
        error_type: str = "BlockError",
        message: str = "it broke",
        will_retry: bool = False,
    ) -> NodeFailed:
        return NodeFailed(
            **self._base(),
            node_id=f"node{step}",
            step=step,
            attempt=attempt,
            duration=0.25,
            error_type=error_type,
            message=message,
            failure=failure,
            will_retry=will_retry,
        )

    def retrying(self, step: int, *, next_attempt: int = 2, delay: float = 1.5) -> NodeRetrying:
        return NodeRetrying(
            **self._base(),
            node_id=f"node{step}",
            step=step,
            next_attempt=next_attempt,
            delay=delay,
        )

    def replayed(self, step: int) -> NodeReplayed:
        return NodeReplayed(**self._base(), node_id=f"node{step}", step=step)

    def log(
        self, message: str, *, step: int | None = None, level: str = "info", **data: Any
    ) -> LogEmitted:
        return LogEmitted(
            **self._base(),
            node_id=None if step is None else f"node{step}",
            level=level,
            message=message,
            data=data,
            step=step,
        )

    def artifact(self, step: int, path: str, *, kind: str = "screenshot") -> ArtifactSaved:
        return ArtifactSaved(
            **self._base(),
            node_id=f"node{step}",
            step=step,
            path=path,
            artifact_kind=kind,
            description=f"{kind} of step {step}",
        )

    def step(self, step: int, **finished: Any) -> list[Event]:
        """A step that starts and succeeds on its first attempt."""
        return [self.node_started(step), self.node_finished(step, **finished)]

    def run_finished(self, status: RunStatus = RunStatus.SUCCEEDED, **values: Any) -> RunFinished:
        values.setdefault("steps", self.seq)
        return RunFinished(**self._base(), status=status, duration=float(self.seq), **values)

    def whole_run(self, steps: int, status: RunStatus = RunStatus.SUCCEEDED) -> list[Event]:
        events: list[Event] = [self.run_started()]
        for number in range(1, steps + 1):
            events += self.step(number)
        events.append(self.run_finished(status, steps=steps))
        return events
