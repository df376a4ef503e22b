"""Bring a history database to the schema this build expects, on every open.

No ``alembic.ini`` is needed at run time: the Alembic configuration is built
here and points at the ``migrations`` folder shipped inside the package.

A database stamped with a revision this build does not know was migrated by
a newer Deskpilot; it is refused rather than guessed at, because an older
build writing into a newer schema can lose data silently.

Alembic is imported only when a database is not at ``HEAD_REVISION``: with
Mako and Pygments behind it, it is 10 MB of the daemon's memory for a check
that one SELECT answers on almost every open.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text
from sqlalchemy import exc as sa_exc

from supervisor.interpreter import module_args
from supervisor.store import errors as store_errors
from supervisor.store.engine import describe, make_engine, write_options
from supervisor.store.errors import DatabaseTooNew, RunNotFound, StoreError, translate

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: The newest revision in ``migrations/versions``; a test keeps it equal to Alembic's head.
HEAD_REVISION = "0017_trigger_written_at"
#: The advisory lock migrations take on PostgreSQL (any constant; "DESKPILOT" in ASCII).
_MIGRATION_LOCK = 0x4445534B50494C4F


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _stamped_revisions(connection: Connection) -> tuple[str, ...] | None:
    """The revisions stamped in the database, read without Alembic; None if not stamped."""
    try:
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except (sa_exc.OperationalError, sa_exc.ProgrammingError):
        # No such table: a new database.  SQLite says so with OperationalError,
        # PostgreSQL with ProgrammingError (UndefinedTable), and aborts the transaction.
        connection.rollback()
        return None
    return tuple(sorted(row[0] for row in rows))


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revisions(connection: Connection) -> tuple[str, ...]:
    from alembic.runtime.migration import MigrationContext

    return tuple(MigrationContext.configure(connection).get_current_heads())


def check_known(revisions: tuple[str, ...], script: ScriptDirectory, database: str) -> None:
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = [rev for rev in revisions if rev not in known]
    if unknown:
        raise DatabaseTooNew(
            f"The history database {database} was last used by a newer version of Deskpilot "
            f"(schema revision {', '.join(unknown)}, this version knows up to "
            f"{script.get_current_head()}). Update Deskpilot, or point it at another "
            "database with DESKPILOT_DATABASE_URL (or DESKPILOT_HOME); "
            "the file has not been changed."
        )


def upgrade_to_head(engine: Engine) -> str:
    """Migrate ``engine``'s database to the head revision; return that revision.

    Raises ``DatabaseTooNew`` for a database from a newer build and
    ``StoreError`` when the database cannot be read or written.
    """
    database = describe(engine.url)
    try:
        # Most opens find the database current: check without taking the write lock,
        # and without Alembic.
        with engine.connect() as connection:
            if _stamped_revisions(connection) == (HEAD_REVISION,):
                return HEAD_REVISION
    except sa_exc.DBAPIError as error:
        raise translate(error, database) from error
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    assert head is not None
    try:
        with engine.connect() as connection:
            revisions = current_revisions(connection)
        check_known(revisions, script, database)
        if revisions == (head,):
            return head
        with (
            engine.connect().execution_options(**write_options(engine)) as connection,
            connection.begin(),
        ):
            if connection.dialect.name == "postgresql":
                # PostgreSQL has no database write lock: supervisors starting together
                # on a new database would all create the tables.  One migrates at a time.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            # Re-read under the write lock: another process may have migrated meanwhile.
            revisions = current_revisions(connection)
            check_known(revisions, script, database)
            if revisions != (head,):
                logger.info(
                    "migrating history database %s from %s to %s",
                    database,
                    ", ".join(revisions) or "an empty file",
                    head,
                )
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
    except StoreError:
        raise
    except sa_exc.DBAPIError as error:
        raise translate(error, database) from error
    return head


def is_current(url: str) -> bool:
    """Whether the database at ``url`` is stamped at ``HEAD_REVISION`` (False if absent)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return _stamped_revisions(connection) == (HEAD_REVISION,)
    except sa_exc.DBAPIError:
        return False  # the migration itself will say what is wrong, in its own words
    finally:
        engine.dispose()


def upgrade_in_child(url: str, *, timeout: float = 600.0) -> None:
    """Migrate in a child process, so a long-lived daemon never holds Alembic in memory.

    The child's ``StoreError`` is raised here again, with its class and
    message, so callers see exactly what an in-process upgrade would raise.
    """
    if is_current(url):
        return
    result = subprocess.run(
        [sys.executable, *module_args("supervisor.store.migrate"), url],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode == 0:
        return
    try:
        report = json.loads(result.stdout.strip().splitlines()[-1])
        kind, message = str(report["error"]), str(report["message"])
    except (IndexError, KeyError, TypeError, ValueError):
        raise StoreError(
            f"migrating the history database failed (exit {result.returncode}): "
            f"{result.stderr.strip()[-2000:]}"
        ) from None
    cls = getattr(store_errors, kind, StoreError)
    if not (isinstance(cls, type) and issubclass(cls, StoreError)) or cls is RunNotFound:
        cls = StoreError
    raise cls(message)


def main(argv: list[str] | None = None) -> int:
    """``python -m supervisor.store.migrate URL``: what ``upgrade_in_child`` runs."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m supervisor.store.migrate DATABASE_URL\n")
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    engine = make_engine(args[0])
    try:
        upgrade_to_head(engine)
    except StoreError as error:
        sys.stdout.write(json.dumps({"error": type(error).__name__, "message": str(error)}) + "\n")
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
