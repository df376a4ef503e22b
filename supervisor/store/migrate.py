"""Bring a history database to the schema this build expects, on every open.

No ``alembic.ini`` is needed at run time: the Alembic configuration is built
here and points at the ``migrations`` folder shipped inside the package.

A database stamped with a revision this build does not know was migrated by
a newer Deskpilot; it is refused rather than guessed at, because an older
build writing into a newer schema can lose data silently.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from supervisor.store.engine import describe, write_options
from supervisor.store.errors import DatabaseTooNew, StoreError, translate

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revisions(connection: Connection) -> tuple[str, ...]:
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
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    assert head is not None
    try:
        # Most opens find the database current: check without taking the write lock.
        with engine.connect() as connection:
            revisions = current_revisions(connection)
        check_known(revisions, script, database)
        if revisions == (head,):
            return head
        with (
            engine.connect().execution_options(**write_options(engine)) as connection,
            connection.begin(),
        ):
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
