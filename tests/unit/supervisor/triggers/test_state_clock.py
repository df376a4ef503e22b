"""A trigger row saved on another clock is placed on this one as far as the history confirms it.

Rows saved before trigger times moved to the database's clock carry their
machine's own time and say so by no ``clock`` (read as ``machine``).  A
supervisor of a fleet brings such a ``checked_through`` mark down to the
newest fire the history holds and to now (``TriggerStateStore._adopt``):
lowering a mark lets a slot come up again, where labels stop a second run,
but never hides one.  On both stores; time is given, not read.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from supervisor.store import HistoryStore
from supervisor.store.schema import triggers
from supervisor.store.store import QueuedRow
from supervisor.store.trigger_rows import TriggerRows
from supervisor.triggers.specs import schedule_label
from supervisor.triggers.state import MACHINE_CLOCK, STORE_CLOCK, TriggerState, TriggerStateStore
from tests.helpers.storage import StoreFactory, sqlite_rows

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SKEW = timedelta(minutes=10)
KEY = "tick:0"


def save_old(
    store: HistoryStore, checked_through: datetime, *fired: datetime, holder: str | None = None
) -> None:
    """A row as a supervisor saved it before the ``clock`` column, with the slots it ran;
    ``holder``: the supervisor that loaded it, recorded with it."""
    state = TriggerState(
        workflow="tick",
        key=KEY,
        spec={"type": "schedule", "interval": 60.0},
        spec_hash="h1",
        anchor=NOW - timedelta(hours=1),
        checked_through=checked_through,
    )
    (row,) = TriggerStateStore(store, lambda: NOW).rows_of([state])
    TriggerRows(store).save_many([{k: v for k, v in row.items() if k != "clock"}], holder=holder)
    if fired:
        version = store.save_workflow_version("tick", None, "nodes: []\n")
        store.create_runs(
            [
                QueuedRow(uuid.uuid4().hex, "tick", version, trigger=schedule_label(KEY, at))
                for at in fired
            ]
        )


def loaded(store: HistoryStore, clock: str = STORE_CLOCK, now: datetime = NOW) -> TriggerState:
    return TriggerStateStore(store, lambda: now, clock).load_all()[KEY]


def test_a_mark_ahead_with_no_fire_behind_it_is_brought_down_to_now(
    store_factory: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Enabled on a machine ten minutes ahead: nothing ran, the mark is not a promise."""
    store = store_factory()
    save_old(store, NOW + SKEW)
    with caplog.at_level(logging.WARNING, logger="supervisor.triggers.state"):
        state = loaded(store)
    assert state.checked_through == NOW and state.clock == STORE_CLOCK
    (said,) = [record.getMessage() for record in caplog.records]
    assert f"trigger {KEY}: its state was saved on the machine clock" in said, said


def test_a_mark_ahead_of_slots_run_early_is_brought_down_to_now(
    store_factory: StoreFactory,
) -> None:
    """Slots a machine ahead ran early keep their labels: they come up again, but not to run."""
    store = store_factory()
    save_old(store, NOW + SKEW, NOW + SKEW - timedelta(minutes=1), NOW + SKEW)
    assert loaded(store).checked_through == NOW


def test_a_mark_past_the_newest_fire_is_brought_down_to_that_fire(
    store_factory: StoreFactory,
) -> None:
    """A mark moved on with no fire behind it (resumed, enabled) counts from the history's fire."""
    store = store_factory()
    newest = NOW - timedelta(minutes=30)
    save_old(store, NOW + SKEW, newest - timedelta(minutes=1), newest)
    assert loaded(store).checked_through == newest


def test_a_mark_behind_the_database_is_kept(store_factory: StoreFactory) -> None:
    """Saved on a machine behind: its slots after the mark are simply due (misfire policy)."""
    store = store_factory()
    save_old(store, NOW - SKEW, NOW - SKEW)
    state = loaded(store)
    assert state.checked_through == NOW - SKEW and state.clock == STORE_CLOCK


def test_a_row_on_the_same_clock_is_read_as_saved(store_factory: StoreFactory) -> None:
    store = store_factory()
    state = TriggerState(
        workflow="tick", key=KEY, spec={}, spec_hash="h1", checked_through=NOW + SKEW
    )
    TriggerStateStore(store, lambda: NOW, STORE_CLOCK).save(state)
    assert loaded(store).checked_through == NOW + SKEW
    # Alone, a row from before the column is this machine's own: read as saved too.
    save_old(store, NOW + SKEW)
    alone = loaded(store, MACHINE_CLOCK)
    assert alone.checked_through == NOW + SKEW and alone.clock == MACHINE_CLOCK


def test_every_save_says_its_clock(store_factory: StoreFactory) -> None:
    """A row loaded from another clock is saved back on this one, and read as saved after."""
    store = store_factory()
    save_old(store, NOW + SKEW)

    def stored_clock() -> str | None:
        with store.engine.connect() as connection:
            return connection.execute(select(triggers.c.clock)).scalar_one()

    assert stored_clock() is None
    fleet = TriggerStateStore(store, lambda: NOW, STORE_CLOCK)
    fleet.save(fleet.load_all()[KEY])
    assert stored_clock() == STORE_CLOCK
    later = NOW + timedelta(minutes=1)
    assert loaded(store, now=later).checked_through == NOW  # no longer brought down
    TriggerStateStore(store, lambda: NOW, MACHINE_CLOCK).save(loaded(store))
    assert stored_clock() == MACHINE_CLOCK


def test_a_history_from_before_the_clock_column_is_upgraded_and_read_as_a_machines(
    tmp_path: Path,
) -> None:
    """Revision 0016 adds ``triggers.clock``; rows already there keep NULL: a machine's clock."""
    from alembic import command
    from sqlalchemy import create_engine

    from supervisor.store.migrate import alembic_config

    path = tmp_path / "history.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0015_trigger_holders")
    engine.dispose()
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(
            "INSERT INTO triggers (workflow_name, trigger_key, spec, enabled, paused, state,"
            " updated_at) VALUES ('tick', ?, '{}', 1, 0, ?, 0)",
            (KEY, json.dumps({"spec_hash": "h1", "checked_through": (NOW + SKEW).isoformat()})),
        )
    connection.close()

    with HistoryStore.open(f"sqlite:///{path}") as store:
        assert loaded(store, MACHINE_CLOCK).checked_through == NOW + SKEW
        state = loaded(store, STORE_CLOCK)
    assert state.checked_through == NOW and state.clock == STORE_CLOCK
    assert sqlite_rows(path, "SELECT clock FROM triggers") == [(None,)]


ME, OTHER = "m" * 32, "o" * 32


def loaded_by(store: HistoryStore, holder: str, offset: timedelta) -> TriggerState:
    """Loaded by supervisor ``holder`` of a fleet, whose machine's clock is ``offset`` ahead."""
    states = TriggerStateStore(
        store, lambda: NOW, STORE_CLOCK, holder=holder, shift=lambda: -offset
    )
    return states.load_all()[KEY]


def test_a_mark_with_no_fire_saved_by_this_machine_moves_by_its_offset(
    store_factory: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Made ten minutes ahead just before the downtime: the downtime's slots come up again.

    The machine saved its mark at 8:58 by the database's clock (9:08 by its
    own).  Loaded at 9:00 and brought down to 9:00 only, the slots between
    8:58 and 9:00 ran nowhere and were not recorded.  Its own offset places
    the mark where it was saved: 8:58.
    """
    store = store_factory()
    saved = NOW - timedelta(minutes=2)  # by the database's clock
    save_old(store, saved + SKEW, holder=ME)
    with caplog.at_level(logging.WARNING, logger="supervisor.triggers.state"):
        state = loaded_by(store, ME, SKEW)
    assert state.checked_through == saved and state.clock == STORE_CLOCK
    (said,) = [record.getMessage() for record in caplog.records]
    assert "moved by this machine's clock offset from the database's" in said, said
    # Behind the database, the offset would raise the mark: it is never raised.
    save_old(store, saved - SKEW, holder=ME)
    assert loaded_by(store, ME, -SKEW).checked_through == saved - SKEW


def test_a_mark_with_no_fire_saved_by_another_machine_is_brought_down_to_now(
    store_factory: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """This machine's offset says nothing of another's: to now, and the warning says why."""
    store = store_factory()
    save_old(store, NOW + SKEW, holder=OTHER)
    with caplog.at_level(logging.WARNING, logger="supervisor.triggers.state"):
        assert loaded_by(store, ME, SKEW).checked_through == NOW
    (said,) = [record.getMessage() for record in caplog.records]
    assert "saved by a machine whose offset is not known" in said, said


def test_a_mark_with_fires_counts_from_the_newest_not_from_the_offset(
    store_factory: StoreFactory,
) -> None:
    """The history is the witness when it holds a fire: the slots after it come up, no more."""
    store = store_factory()
    newest = NOW - timedelta(minutes=30)
    save_old(store, NOW + SKEW, newest, holder=ME)
    assert loaded_by(store, ME, timedelta(hours=2)).checked_through == newest
