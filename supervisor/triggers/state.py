"""What the triggers remember across restarts, in the history database.

APScheduler keeps its jobs in memory only: its SQLAlchemy job store pickles
jobs and costs tens of milliseconds per fire, and its defaults drop missed
fires after downtime without a trace.  We persist our own, much smaller
state instead, one row of the ``triggers`` table per trigger key:

* ``checked_through``: every fire time up to here is accounted for (it ran,
  was recorded as missed, or fell while the trigger was paused, disabled or
  absent, when not firing is what the user asked for);
* ``anchor``: where an interval schedule counts from, so its phase survives
  restarts; also kept in a column of its own that a save does not overwrite
  while the timing is unchanged, so supervisors sharing a database agree on
  it (``stored_anchor``);
* ``spec_hash``: a hash of the schedule's timing; when it changes the trigger
  starts afresh (old fire times mean nothing for a new schedule);
* ``last_fire_at``, ``last_error``; the ``paused`` column is the user's pause
  (a circuit breaker's pause follows the breaker, which the store keeps).

Fires that did not run are written as ``cancelled`` runs whose ``error``
starts with ``missed:``, ``not started:`` or ``skipped:`` (past a run-rate ceiling,
``supervisor.rate``), in one transaction per batch.
The run rows also make firing idempotent: every fire's run carries the label
``schedule:<key>@<time>``, so after a crash between submitting and saving
``checked_through``, the next start finds the label and does not fire twice.
The rows themselves are read and written by the store
(``supervisor.store.trigger_rows``).  In a fleet every time here (and each
fire's slot) is on the store's clock, since another machine may read it
next (``supervisor.triggers.store_clock``).

Each row says which clock its times are on (``clock``: ``store`` or
``machine``; rows saved before the column are a machine's).  A row loaded
by a supervisor on another clock (the first start after the times moved to
the database's, or a machine's own mark read in a fleet) cannot be converted:
the skew of the machine that wrote it is not known.  Its ``checked_through``
is then trusted only as far as the history confirms it (``_adopt``): it is
brought down to the newest fire the history holds and to now.  Lowering a
mark can only make a slot come up again, never drop one: a slot that ran
has its label (and in a fleet its fire key), so it is not run twice, and one
that did not is run or recorded as missed by the trigger's misfire policy,
never passed over in silence.  Read as is, a mark saved by a machine ahead
of the database hid the slots between the database's time and the mark:
after a trigger was enabled or resumed there, they ran nowhere, unrecorded.

A trigger with no fire in the history at all has no witness there.  Its
mark, on the clock of a machine ahead, also passes over the slots due
between its save and this load, by the database's clock (a trigger made
just before the upgrade's downtime, on a machine ten minutes ahead: the
slots of the downtime were neither run nor recorded).  The machine that
wrote it is the next witness.  Every save stamps its row with the
database's time (``written_at``, revision 0017; on PostgreSQL also a save by
an older build, through a row trigger) beside ``updated_at``, read on the
writer's clock: their difference is the writer's offset, kept with the row
(``writer_offset``), so whichever supervisor loads it moves the mark by it,
never up.  For a row saved before the store kept it, a supervisor that holds
the trigger (``trigger_holders``: it loaded it before, so it saved it on its
own machine's clock) moves the mark by its own machine's offset from the
database's now.  Those slots then come up as any after downtime do, and the
misfire policy runs or records them.  A row saved before revision 0017 by a
machine other than this one, with no fire, is still brought down to now
only (that machine's skew is not known here), and the warning says so.  The
stored offset is off by the time between the writer reading its clock and
its transaction starting (milliseconds): the mark is placed that much late,
so only a slot due in that instant, on a writer that went down in it, could
be passed over.  The interval ``anchor`` is kept:
it is a grid, and the labels already in the history are on it (a schedule's
real-time phase moves by the old skew, once).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from automation.engine.events import RunStatus
from supervisor.store.store import HistoryStore
from supervisor.store.trigger_rows import TriggerRows

logger = logging.getLogger(__name__)

#: ``newest_fire`` when it cannot tell: every due fire is then looked up in the history.
UNKNOWN_HISTORY = datetime.max.replace(tzinfo=UTC)
#: The clocks a row's times can be on (``triggers.clock``; NULL reads as ``MACHINE_CLOCK``).
STORE_CLOCK, MACHINE_CLOCK = "store", "machine"


@dataclass
class TriggerState:
    workflow: str
    key: str
    spec: dict[str, Any]
    spec_hash: str
    enabled: bool = True
    paused: bool = False
    anchor: datetime | None = None
    checked_through: datetime | None = None
    last_fire_at: datetime | None = None
    last_error: str | None = None
    #: Set while the trigger is not in any loaded workflow; its fires are not misfires.
    removed_at: datetime | None = None
    #: Unloaded by a supervisor that had it loaded: it chains from nothing now.
    unchained: bool = False
    #: The clock its times are on (see the module).
    clock: str = MACHINE_CLOCK
    #: The database's time minus the writer's clock at the save that wrote the row
    #: (``written_at - updated_at``); None for a row saved before the store kept it.  Where
    #: the row came from, not what the trigger remembers: left out of comparisons.
    writer_offset: timedelta | None = field(default=None, compare=False)

    @property
    def chains_from(self) -> str | None:
        """The workflow this ``after`` trigger starts after, while it is enabled and loaded.

        A supervisor saves this only for triggers it loads.  The stored column
        is cleared when the last supervisor that loaded the trigger unloads it
        (``TriggerRows.release``); a row read back so is ``unchained``.
        """
        workflow = self.spec.get("workflow")
        if self.spec.get("type") != "after" or not isinstance(workflow, str):
            return None
        return workflow if self.enabled and not self.unchained else None

    def to_json(self) -> dict[str, Any]:
        return {
            "spec_hash": self.spec_hash,
            "anchor": _iso(self.anchor),
            "checked_through": _iso(self.checked_through),
            "last_fire_at": _iso(self.last_fire_at),
            "last_error": self.last_error,
            "removed_at": _iso(self.removed_at),
        }

    @classmethod
    def from_row(cls, row: Any) -> TriggerState:
        data = row.state if isinstance(row.state, dict) else {}
        return cls(
            workflow=row.workflow_name,
            key=row.trigger_key,
            spec=row.spec if isinstance(row.spec, dict) else {},
            spec_hash=str(data.get("spec_hash") or ""),
            enabled=bool(row.enabled),
            paused=bool(row.paused),
            anchor=_parse(data.get("anchor")),
            checked_through=_parse(data.get("checked_through")),
            last_fire_at=_parse(data.get("last_fire_at")),
            last_error=data.get("last_error"),
            removed_at=_parse(data.get("removed_at")),
            unchained=(
                isinstance(row.spec, dict)
                and row.spec.get("type") == "after"
                and getattr(row, "chains_from", None) is None
            ),
            clock=getattr(row, "clock", None) or MACHINE_CLOCK,
            writer_offset=_offset(
                getattr(row, "written_at", None), getattr(row, "updated_at", None)
            ),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class NotRun:
    """A fire that did not become a run, recorded as a cancelled run so history shows it."""

    workflow: str
    trigger: str
    error: str
    at: datetime
    inputs: dict[str, Any] | None = None


def _offset(written_at: Any, updated_at: Any) -> timedelta | None:
    if not isinstance(written_at, datetime) or not isinstance(updated_at, datetime):
        return None
    return written_at - updated_at


def _witness(mark: datetime, newest: datetime | None, moved: tuple[datetime, str] | None) -> str:
    """What the lowered mark came from, for the warning."""
    if mark == newest:
        return "the newest fire the history holds"
    if moved is not None and mark == moved[0]:
        return f"as saved, moved by {moved[1]}"
    if newest is None and moved is None:
        return "now: no fire in the history, and saved by a machine whose offset is not known"
    return "now"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        logger.warning("ignoring an unreadable time in the saved trigger state: %r", value)
        return None


class TriggerStateStore:
    """Trigger states and not-run records, kept in the history (``TriggerRows``)."""

    def __init__(
        self,
        store: HistoryStore,
        now: Callable[[], datetime],
        clock: str = MACHINE_CLOCK,
        *,
        holder: str | None = None,
        shift: Callable[[], timedelta] | None = None,
    ) -> None:
        self.store = store
        self.rows = TriggerRows(store)
        self.now = now
        #: The clock ``now`` reads (``STORE_CLOCK`` in a fleet): every state saved is on it.
        self.clock = clock
        #: This supervisor, as ``trigger_holders`` records it, and its machine's clock's
        #: offset (``now`` minus this machine's wall clock): with them, a mark it saved on
        #: its own machine's clock is placed on ``now``'s (``_adopt``).
        self.holder = holder
        self.shift = shift

    def load_all(self) -> dict[str, TriggerState]:
        """Every saved state, its times on this store's clock (``_adopt``, see the module)."""
        states = {row.trigger_key: TriggerState.from_row(row) for row in self.rows.load_all()}
        for state in states.values():
            if state.clock != self.clock:
                self._adopt(state)
        return states

    def _adopt(self, state: TriggerState) -> None:
        """Bring a mark written on another clock down to what the history confirms, and now;
        with no fire in the history, by this machine's offset if it wrote it (see the module)."""
        written = state.checked_through
        if written is not None:
            newest = self.newest_fire(state.workflow, state.key)
            moved = self._moved_by_offset(state, written) if newest is None else None
            bounds = [written, self.now(), *(b for b in (newest, moved and moved[0]) if b)]
            mark = min(bounds)
            if mark < written:
                logger.warning(
                    "trigger %s: its state was saved on the %s clock, not this supervisor's "
                    "(%s); its slots after %s (%s), not after %s as saved, are checked again "
                    "against the history",
                    state.key,
                    state.clock,
                    self.clock,
                    mark.isoformat(),
                    _witness(mark, newest, moved),
                    written.isoformat(),
                )
            state.checked_through = mark
        state.clock = self.clock

    def _moved_by_offset(
        self, state: TriggerState, written: datetime
    ) -> tuple[datetime, str] | None:
        """``written``, saved on a machine's clock, on the database's; and by whose offset.

        The writer's own offset, kept with the row (``writer_offset``), is
        the witness whoever loads it.  A row saved before the store kept it
        is moved only by this supervisor's offset, if it holds the trigger
        (it saved it).  None when this supervisor's clock is not the
        database's, or no offset is known.
        """
        if state.clock != MACHINE_CLOCK or self.clock != STORE_CLOCK:
            return None
        if state.writer_offset is not None:
            return written + state.writer_offset, "the offset of the machine that saved it"
        if self.shift is None or self.holder is None:
            return None
        if self.holder not in self.rows.holders(state.workflow, state.key):
            return None
        return written + self.shift(), "this machine's clock offset from the database's"

    def save(self, state: TriggerState) -> None:
        self.save_many([state])

    def save_many(self, states: Sequence[TriggerState], *, holder: str | None = None) -> None:
        """Write these states in one transaction and one statement.

        Schedules that fire together are saved together: one commit and one
        executemany instead of a transaction per trigger.  ``holder``: the
        supervisor loading them, recorded as one of their holders
        (``TriggerRows.release``).
        """
        if states:
            self.rows.save_many(self.rows_of(states), holder=holder)

    def rows_of(self, states: Sequence[TriggerState]) -> list[dict[str, Any]]:
        """The ``triggers`` rows of these states as they are now (for ``save_many``, or
        ``HistoryStore.create_runs``, which saves them in the transaction of the runs)."""
        now = self.now()
        return [
            {
                "workflow_name": state.workflow,
                "trigger_key": state.key,
                "spec": state.spec,
                "enabled": state.enabled,
                "paused": state.paused,
                "state": state.to_json(),
                "updated_at": now,
                "spec_hash": state.spec_hash,
                "anchor": state.anchor,
                "chains_from": state.chains_from,
                "clock": self.clock,
            }
            for state in states
        ]

    def release(self, holder: str, state: TriggerState) -> bool:
        """``holder`` unloaded this trigger: retired (True) if no other supervisor loads it."""
        return self.rows.release(holder, state.workflow, state.key, self.now())

    def release_unloaded(self, holder: str, loaded: Sequence[TriggerState]) -> list[str]:
        """At start: release the triggers ``holder`` held and no longer loads; the keys retired."""
        retired = self.rows.release_unloaded(
            holder, [(state.workflow, state.key) for state in loaded], self.now()
        )
        return [key for _workflow, key in retired]

    def stored_anchor(self, workflow: str, key: str, spec_hash: str) -> datetime | None:
        """The anchor saved for this trigger with this timing (the first saver's), or None.

        Supervisors sharing the database count an interval schedule from the
        same anchor, so they agree on its fire times and so on its fire keys.
        """
        return self.rows.stored_anchor(workflow, key, spec_hash)

    def newest_fire(self, workflow: str, key: str) -> datetime | None:
        """The newest fire time of schedule ``key`` that has a run or a not-run record.

        Labels are ``schedule:<key>@<UTC ISO time>`` (or ``@<start>..<end>``
        for a gap), so the greatest label is the newest fire.  A label cut
        to the column's width cannot be read: then ``UNKNOWN_HISTORY``.
        """
        prefix = f"schedule:{key}@"
        label = self.rows.greatest_label(workflow, prefix)
        if label is None:
            return None
        when = label[len(prefix) :].rpartition("..")[2]
        try:
            return datetime.fromisoformat(when)
        except ValueError:
            return UNKNOWN_HISTORY

    def recorded(self, workflow: str, labels: Sequence[str]) -> set[str]:
        """Which of these trigger labels already have a run (or a not-run record)."""
        return self.rows.recorded(workflow, labels)

    def record_not_run(
        self, items: Sequence[NotRun], version: tuple[int, int] | None = None
    ) -> list[str]:
        """Write each item as a cancelled run in one transaction; returns their run ids.

        ``version`` is (workflow_id, version_id) of the workflow text the fire
        belonged to, so the history links the record to what would have run.
        A missed schedule fire whose slot another supervisor already accounted
        for (its fire key is taken) is not written again, nor returned.
        """
        if not items:
            return []
        now = self.now()
        rows = []
        ids = []
        for item in items:
            run_id = uuid.uuid4().hex
            ids.append(run_id)
            rows.append(
                {
                    "id": run_id,
                    "workflow_id": version[0] if version else None,
                    "version_id": version[1] if version else None,
                    "workflow_name": item.workflow,
                    "status": RunStatus.CANCELLED.value,
                    "trigger": item.trigger,
                    "priority": 0,
                    "inputs": item.inputs or {},
                    "error": item.error,
                    "queued_at": item.at,
                    "finished_at": now,
                }
            )
        lost = self.rows.insert_runs(rows, self.store.fired_by, now, keys=self.store.fire_keys)
        return [run_id for run_id in ids if run_id not in lost]
