"""The triggers' rows in the history: their saved state, and fires that did not run.

``supervisor.triggers.state`` decides what a trigger remembers; this module
reads and writes it, so that nothing outside the store reaches for its
engine.  Rows of the ``triggers`` table are upserted on their unique
(workflow, key), so two processes saving one trigger cannot both insert it;
not-run fires are ``cancelled`` runs, written in one transaction per batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, case, func, select
from sqlalchemy import exc as sa_exc

from supervisor.store.claims import upsert
from supervisor.store.engine import write_options
from supervisor.store.errors import translate
from supervisor.store.fires import insert_runs_once
from supervisor.store.retry import retrying
from supervisor.store.schema import runs, triggers
from supervisor.store.store import HistoryStore

#: Labels looked up per statement: well under SQLite's limit on bound parameters.
LABEL_CHUNK = 400


def _keep_anchor(proposed: Any) -> dict[str, Any]:
    """A save keeps the stored anchor while the timing is the same: the first saver's wins."""
    return {
        "anchor": case(
            (
                and_(
                    triggers.c.spec_hash == proposed.spec_hash,
                    triggers.c.anchor.is_not(None),
                ),
                triggers.c.anchor,
            ),
            else_=proposed.anchor,
        )
    }


class TriggerRows:
    """The ``triggers`` table and the runs trigger fires are labelled with, on one store."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self._options = write_options(store.engine)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        self.store.check_file()  # a deleted or replaced history file is not written into
        try:
            with (
                self.store.engine.connect().execution_options(**self._options) as connection,
                connection.begin(),
            ):
                yield connection
        except sa_exc.DBAPIError as error:
            raise translate(error, self.store.database) from error

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.store.engine.connect() as connection:
                yield connection
        except sa_exc.DBAPIError as error:
            raise translate(error, self.store.database) from error

    def load_all(self) -> list[Row[Any]]:
        """Every trigger row: workflow_name, trigger_key, spec, enabled, paused, state."""
        with self._read() as connection:
            return list(connection.execute(select(triggers)).all())

    def save_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Upsert these trigger rows in one transaction and one statement."""
        if not rows:
            return

        def save() -> None:
            with self._write() as connection:
                # An upsert on the unique (workflow, key): two processes saving the same
                # trigger cannot both insert it, where a read-then-insert could.
                connection.execute(
                    upsert(
                        connection,
                        triggers,
                        ["workflow_name", "trigger_key"],
                        [
                            "spec",
                            "enabled",
                            "paused",
                            "state",
                            "updated_at",
                            "spec_hash",
                            "chains_from",
                        ],
                        _keep_anchor,
                    ),
                    [dict(row) for row in rows],
                )

        retrying(save, "saving trigger state", idempotent=True)

    def stored_anchor(self, workflow: str, key: str, spec_hash: str) -> datetime | None:
        """The anchor saved for this trigger with this timing, or None."""
        with self._read() as connection:
            row = connection.execute(
                select(triggers.c.anchor).where(
                    triggers.c.workflow_name == workflow,
                    triggers.c.trigger_key == key,
                    triggers.c.spec_hash == spec_hash,
                )
            ).first()
        return None if row is None else row.anchor

    def greatest_label(self, workflow: str, prefix: str) -> str | None:
        """The greatest run label of ``workflow`` that starts with ``prefix`` (ending in '@')."""
        with self._read() as connection:
            label = connection.execute(
                select(func.max(runs.c.trigger)).where(
                    runs.c.workflow_name == workflow,
                    runs.c.trigger >= prefix,
                    runs.c.trigger < prefix[:-1] + chr(ord(prefix[-1]) + 1),
                )
            ).scalar()
        return None if label is None else str(label)

    def recorded(self, workflow: str, labels: Sequence[str]) -> set[str]:
        """Which of these run labels of ``workflow`` already have a run."""
        found: set[str] = set()
        with self._read() as connection:
            for start in range(0, len(labels), LABEL_CHUNK):
                chunk = list(labels[start : start + LABEL_CHUNK])
                found.update(
                    connection.execute(
                        select(runs.c.trigger).where(
                            runs.c.workflow_name == workflow, runs.c.trigger.in_(chunk)
                        )
                    ).scalars()
                )
        return found

    def insert_runs(
        self, rows: Sequence[Mapping[str, Any]], fired_by: str, at: datetime, *, keys: bool = True
    ) -> set[str]:
        """Insert finished run rows (fires that did not run) in one transaction.

        A schedule fire whose slot another supervisor already took (its fire
        key, ``supervisor.store.fires``) is not written; returns those run ids.
        ``keys`` False: no fire keys are taken (``HistoryStore.fire_keys``).
        """
        if not rows:
            return set()

        def insert() -> set[str]:
            with self._write() as connection:
                return set(
                    insert_runs_once(
                        connection, [dict(row) for row in rows], fired_by, at, keys=keys
                    )
                )

        return retrying(insert, "recording the runs of schedule fires")
