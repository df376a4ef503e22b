"""The statements that record a run's steps and events, run straight on the driver.

A 10,000-node run writes 10,000 step rows; going through SQLAlchemy's
per-value bind processing cost more than SQLite itself.  These statements are
compiled once per dialect and take rows that are already in their stored
form (timestamps from ``types.to_micros``, JSON text from
``types.dump_json``), as plain sequences in the order of their ``params``.
Compiling through SQLAlchemy keeps them portable: the same rows work for
SQLite's ``?`` and PostgreSQL's named parameters.  They run on the driver's
cursor: SQLAlchemy's statement machinery cost several times SQLite's own work
for the small batches a steadily running workflow produces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql.dml import UpdateBase

from supervisor.store.conflicts import conflict_insert
from supervisor.store.schema import artifacts, events, step_runs

#: A step row, in table order (so SQLAlchemy compiles the parameters in this order too).
STEP_COLUMNS = (
    "run_id",
    "step",
    "node_id",
    "block",
    "attempt",
    "started_at",
    # From here on, the columns an ending fills, in FINISH_COLUMNS order.
    "status",
    "finished_at",
    "duration",
    "outputs",
    "emissions",
    "vars_set",
    "error_type",
    "error",
    "failure",
)
EVENT_COLUMNS = ("run_id", "seq", "kind", "at", "node_id", "step", "level", "message", "data")
ARTIFACT_COLUMNS = ("run_id", "step", "node_id", "path", "kind", "description", "created_at")
_STEP_KEY = ("run_id", "step", "attempt")
FINISH_COLUMNS = ("status", "finished_at", "duration", "outputs", "emissions", "vars_set")
FAIL_COLUMNS = ("status", "finished_at", "duration", "error_type", "error", "failure")


def _values(columns: Sequence[str]) -> dict[str, Any]:
    return {column: bindparam(f"p_{column}") for column in columns}


def _upsert_step(dialect_name: str) -> UpdateBase:
    """Insert a step attempt, or overwrite it if a dead worker left it behind unfinished."""
    values = _values(STEP_COLUMNS)
    restart = [column for column in STEP_COLUMNS if column not in _STEP_KEY]
    if dialect_name in ("sqlite", "postgresql"):
        statement = conflict_insert(dialect_name, step_runs).values(values)
        return statement.on_conflict_do_update(
            index_elements=list(_STEP_KEY),
            set_={column: statement.excluded[column] for column in restart},
        )
    return insert(step_runs).values(values)


def _update_step(columns: Sequence[str]) -> Callable[[str], UpdateBase]:
    def build(_dialect_name: str) -> UpdateBase:
        return (
            update(step_runs)
            .where(and_(*(step_runs.c[key] == bindparam(f"k_{key}") for key in _STEP_KEY)))
            .values(_values(columns))
        )

    return build


class HotStatement:
    """One statement, compiled per dialect, executed for many positional rows."""

    def __init__(self, params: Sequence[str], build: Callable[[str], UpdateBase]) -> None:
        self.params = tuple(params)
        self._build = build
        self._compiled: dict[tuple[str, str, str], tuple[str, tuple[int, ...] | None, bool]] = {}

    def _compile(self, connection: Connection) -> tuple[str, tuple[int, ...] | None, bool]:
        dialect = connection.dialect
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        found = self._compiled.get(key)
        if found is None:
            compiled = self._build(dialect.name).compile(dialect=dialect)
            if compiled.positiontup is None:
                found = (compiled.string, None, True)
            else:
                order = tuple(self.params.index(name) for name in compiled.positiontup)
                in_order = order == tuple(range(len(self.params)))
                found = (compiled.string, None if in_order else order, False)
            self._compiled[key] = found
        return found

    def executemany(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
        """Execute for every row (tuples in ``params`` order); return how many rows changed.

        Runs on the driver's own cursor, inside the transaction ``connection``
        has begun; driver errors are wrapped as SQLAlchemy's would be.
        """
        sql, order, named = self._compile(connection)
        params: Sequence[Any]
        if named:
            names = self.params
            params = [dict(zip(names, row, strict=True)) for row in rows]
        elif order is not None:
            params = [tuple([row[index] for index in order]) for row in rows]
        else:
            params = rows
        dialect = connection.dialect
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, params)
            return int(cursor.rowcount)
        except dialect.loaded_dbapi.Error as error:
            raise sa_exc.DBAPIError.instance(
                sql, params, error, dialect.loaded_dbapi.Error, dialect=dialect
            ) from error
        finally:
            cursor.close()


UPSERT_STEP = HotStatement([f"p_{column}" for column in STEP_COLUMNS], _upsert_step)
FINISH_STEP = HotStatement(
    [f"p_{column}" for column in FINISH_COLUMNS] + [f"k_{key}" for key in _STEP_KEY],
    _update_step(FINISH_COLUMNS),
)
FAIL_STEP = HotStatement(
    [f"p_{column}" for column in FAIL_COLUMNS] + [f"k_{key}" for key in _STEP_KEY],
    _update_step(FAIL_COLUMNS),
)
INSERT_EVENT = HotStatement(
    [f"p_{column}" for column in EVENT_COLUMNS],
    lambda _: insert(events).values(_values(EVENT_COLUMNS)),
)
INSERT_ARTIFACT = HotStatement(
    [f"p_{column}" for column in ARTIFACT_COLUMNS],
    lambda _: insert(artifacts).values(_values(ARTIFACT_COLUMNS)),
)
