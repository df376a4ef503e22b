"""Create the SQLAlchemy engine for the history, with SQLite set up for safe concurrent use.

Every SQLite connection gets WAL (readers never block the writer, and a
``kill -9`` cannot tear a commit), ``synchronous=NORMAL`` (durable against a
crashed process; in WAL only a power cut may lose the last commits, never
corrupt the file), foreign keys (pruning cascades) and a busy timeout.

SQLAlchemy, not the ``sqlite3`` module, emits ``BEGIN``: the module's legacy
mode runs DDL and leading SELECTs outside any transaction, which would make
migrations non-atomic.  A write opens its transaction with ``BEGIN IMMEDIATE``
(see ``write_connection``) so it takes the write lock up front and waits the
busy timeout for it, instead of failing halfway when a read must be upgraded.
Any other SQLAlchemy URL is used as is.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from supervisor.store.schema import add_postgresql_options

logger = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT = 5.0

#: Execution option naming the BEGIN flavour for a SQLite transaction.
BEGIN_OPTION = "deskpilot_sqlite_begin"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def describe(url: URL | str) -> str:
    """How a user knows this database: the file path for SQLite, else the URL without password."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def sqlite_file(engine: Engine) -> Path | None:
    """The file of a SQLite engine on a file (None for other backends and in-memory)."""
    if not is_sqlite(engine) or engine.url.database in (None, "", ":memory:"):
        return None
    if engine.url.database.startswith("file:"):  # a URI; not used by Deskpilot itself
        return None
    return Path(engine.url.database).expanduser().resolve()


def sqlite_file_of_url(url: URL | str) -> Path | None:
    """The file a SQLite URL names (None for other backends, in-memory and URI names)."""
    url = make_url(url)
    database = url.database
    if url.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def sqlite_url_of(path: Path) -> URL:
    return URL.create("sqlite", database=str(path))


def make_engine(url: str | URL, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Engine:
    """An engine for ``url``; SQLite connections are configured as the module docstring says."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite":
        if url.get_backend_name() == "postgresql":
            add_postgresql_options()  # loads SQLAlchemy's PostgreSQL dialect: see there
        return create_engine(url, pool_pre_ping=True)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if url.database in (None, "", ":memory:"):
        # One shared connection, or every checkout would see a different empty database.
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)
    _configure_sqlite(engine, busy_timeout)
    return engine


def read_busy_timeout(engine: Engine) -> float | None:
    """The busy timeout SQLite connections of ``engine`` use, in seconds (None if not SQLite)."""
    if not is_sqlite(engine):
        return None
    with engine.connect() as connection:
        millis = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    return int(millis or 0) / 1000


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    millis = max(0, int(busy_timeout * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below); the module must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={millis}")
            _use_wal(cursor, busy_timeout)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        flavour = connection.get_execution_options().get(BEGIN_OPTION, "")
        statement = f"BEGIN {flavour}".rstrip()
        # Straight on the driver: this runs for every transaction, small ones included.
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        try:
            dbapi_connection.execute(statement)
        except sqlite3.Error as error:
            raise sa_exc.DBAPIError.instance(
                statement, None, error, sqlite3.Error, dialect=connection.dialect
            ) from error


def _use_wal(cursor: Any, busy_timeout: float) -> None:
    """Switch the file to WAL (a lasting property of the file), waiting out other openers.

    SQLite answers "locked" at once, without its busy handler, when two
    connections switch a new file at the same moment; so wait here instead.
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.005
    while True:
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def write_options(engine: Engine) -> dict[str, Any]:
    """Execution options for a connection that is going to write."""
    return {BEGIN_OPTION: "IMMEDIATE"} if is_sqlite(engine) else {}
