"""``INSERT ... ON CONFLICT`` for the dialect in use, loading only that dialect.

SQLite and PostgreSQL both spell an upsert ``INSERT ... ON CONFLICT``, but
SQLAlchemy builds it from each dialect's own ``insert()``.  Importing
``sqlalchemy.dialects.postgresql`` loads the modules of all four of its
drivers (about 2 MiB resident), which a lone supervisor on SQLite, running
for weeks, never uses: the dialect is imported here, when a statement for it
is first built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert


def conflict_insert(dialect_name: str, table: Table) -> PostgresInsert | SqliteInsert:
    """The dialect's ``insert(table)``, which has ``on_conflict_do_nothing/_update``.

    Raises ``NotImplementedError`` for any other dialect: Deskpilot supports
    SQLite and PostgreSQL.
    """
    if dialect_name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    if dialect_name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    raise NotImplementedError(
        f"no INSERT ... ON CONFLICT for {dialect_name}: Deskpilot supports SQLite and PostgreSQL"
    )
