"""Alembic environment for the history database.

Deskpilot runs migrations itself on every open (``supervisor.store.migrate``)
and hands Alembic a connection that is already inside a transaction, so a
migration applies completely or not at all.  The ``alembic`` command line is
supported too, for developers writing a new revision: give it
``-x url=sqlite:///path/to/history.sqlite3``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from supervisor.store.engine import make_engine
from supervisor.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the database with: alembic -x url=sqlite:///path/to/history.sqlite3")
    engine = make_engine(url)
    try:
        with engine.begin() as owned:
            _run(owned)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; give a database URL")
run_migrations_online()
