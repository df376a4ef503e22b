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
from sqlalchemy import select, text, update

from automation.clock import FakeClock
from supervisor.store import HistoryStore
from supervisor.store.leasing import database_now
from supervisor.store.schema import triggers
from supervisor.store.store import QueuedRow
from supervisor.store.trigger_rows import TriggerRows
from supervisor.store.types import to_micros
from supervisor.triggers.specs import schedule_label
from supervisor.triggers.state import MACHINE_CLOCK, STORE_CLOCK, TriggerState, TriggerStateStore
from tests.helpers.storage import StoreFactory, sqlite_rows

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SKEW = timedelta(minutes=10)
#: What SQLite's Julian-day clock may round a time by, with room to spare (about 40 us).
JULIAN_ROUNDING = timedelta(milliseconds=1)
KEY = "tick:0"


def save_old(
    store: HistoryStore, checked_through: datetime, *fired: datetime, holder: str | None = None
) -> None:
    """A row as a supervisor saved it before the ``clock`` column (and before ``written_at``),
    with the slots it ran; ``holder``: the supervisor that loaded it, recorded with it."""
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
    with store.engine.begin() as connection:
        connection.execute(update(triggers).values(written_at=None))
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
    """Saved before the store kept the writer's offset: this machine's offset says nothing of
    another's, so to now, and the warning says why."""
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


def save_on_machine_clock(
    store_factory: StoreFactory, saved: datetime, machine: timedelta, holder: str
) -> None:
    """``holder``, its machine's clock ``machine`` ahead of the database's, saves the ticker on
    that clock at ``saved`` by the database's, its mark at its own now; nothing fired."""
    writer = store_factory(clock=FakeClock(saved))  # the database's time of the save
    state = TriggerState(
        workflow="tick",
        key=KEY,
        spec={"type": "schedule", "interval": 60.0},
        spec_hash="h1",
        anchor=saved + machine,
        checked_through=saved + machine,
    )
    TriggerStateStore(writer, lambda: saved + machine, MACHINE_CLOCK).save_many(
        [state], holder=holder
    )


def test_a_mark_with_no_fire_saved_by_another_machine_moves_by_the_offset_kept_with_it(
    store_factory: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Another machine, ten minutes ahead, saved the ticker at 8:58 by the database (9:08 by
    its own clock) and went down; this one loads it at 9:00.

    Brought down to now, the slots between 8:58 and 9:00 ran nowhere and
    were not recorded: the writer's offset was known to no one else.  The
    row keeps the database's time of its save beside its own ``updated_at``,
    so the mark goes back to 8:58, whatever this machine's own offset.
    """
    saved = NOW - timedelta(minutes=2)
    save_on_machine_clock(store_factory, saved, SKEW, OTHER)
    store = store_factory()
    with caplog.at_level(logging.WARNING, logger="supervisor.triggers.state"):
        state = loaded_by(store, ME, timedelta(minutes=3))
    assert state.checked_through == saved and state.clock == STORE_CLOCK
    assert state.writer_offset == -SKEW
    (said,) = [record.getMessage() for record in caplog.records]
    assert "moved by the offset of the machine that saved it" in said, said
    # A writer behind the database: its offset would raise the mark; it is never raised.
    save_on_machine_clock(store_factory, saved, -SKEW, OTHER)
    assert loaded_by(store, ME, timedelta(0)).checked_through == saved - SKEW


def test_a_release_keeps_the_writers_offset(store_factory: StoreFactory) -> None:
    """The last holder to unload the trigger rewrites ``updated_at`` on its own clock; the offset
    of the machine that saved the mark stays with the row."""
    saved = NOW - timedelta(minutes=2)
    save_on_machine_clock(store_factory, saved, SKEW, OTHER)
    store = store_factory()
    assert TriggerRows(store).release(OTHER, "tick", KEY, NOW + timedelta(hours=1))
    assert loaded_by(store, ME, timedelta(0)).writer_offset == -SKEW


def test_every_save_is_stamped_with_the_databases_time(store_factory: StoreFactory) -> None:
    """On the store's own clock (no test clock): the database's time of the transaction.

    SQLite's time is a Julian day in a double, whose last bit is about 40 microseconds
    today: two readings a few microseconds apart can come out in either order, so the
    stamp is allowed that rounding (a millisecond) either side."""
    store = store_factory()
    with store.engine.connect() as connection:
        before = database_now(connection)
    state = TriggerState(workflow="tick", key=KEY, spec={}, spec_hash="h1", checked_through=NOW)
    TriggerStateStore(store, lambda: NOW, MACHINE_CLOCK).save(state)
    with store.engine.connect() as connection:
        after = database_now(connection)
        stamped = connection.execute(select(triggers.c.written_at)).scalar_one()
    assert before - JULIAN_ROUNDING <= stamped <= after + JULIAN_ROUNDING


def test_a_save_by_an_older_build_is_stamped_by_postgresql(store_factory: StoreFactory) -> None:
    """A supervisor of the build before revision 0017, still running while a newer one migrated
    the database, writes ``triggers`` rows without ``written_at``: PostgreSQL stamps each such
    save itself (a row trigger); a stamp the save gives is kept."""
    store = store_factory()
    if store.engine.dialect.name != "postgresql":
        pytest.skip("the row trigger is PostgreSQL's; SQLite rows are read on their own clock")
    old_build = text(
        "INSERT INTO triggers (workflow_name, trigger_key, spec, enabled, paused, state,"
        " updated_at, spec_hash) VALUES ('tick', :key, '{}', true, false, :state, :at, 'h1')"
        " ON CONFLICT (workflow_name, trigger_key) DO UPDATE SET state = excluded.state,"
        " updated_at = excluded.updated_at"
    )

    def saved_by_old_build(at: datetime) -> datetime:
        state = json.dumps({"spec_hash": "h1", "checked_through": at.isoformat()})
        with store.engine.begin() as connection:
            start = database_now(connection)
            connection.execute(old_build, {"key": KEY, "state": state, "at": to_micros(at)})
        return start

    def stamp() -> datetime:
        with store.engine.connect() as connection:
            return connection.execute(select(triggers.c.written_at)).scalar_one()

    inserted = saved_by_old_build(NOW + SKEW)
    assert stamp() <= inserted + timedelta(seconds=1) and stamp() >= inserted - timedelta(seconds=1)
    updated = saved_by_old_build(NOW + SKEW + timedelta(minutes=1))
    assert abs(stamp() - updated) < timedelta(seconds=1)
    # An update that leaves updated_at alone leaves the stamp alone.
    with store.engine.begin() as connection:
        connection.execute(update(triggers).values(paused=True))
    assert abs(stamp() - updated) < timedelta(seconds=1)
    # A save that gives its stamp keeps it.
    given = NOW - timedelta(days=1)
    save_on_machine_clock(store_factory, given, SKEW, OTHER)
    assert stamp() == given
