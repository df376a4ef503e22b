"""The supervisor's side of breakers shared through the store (``supervisor.breaker_sync``).

``self.breakers`` is this supervisor's view of each workflow's stored
breaker, on its monotonic clock; the dispatch plan reads it with no round
trip.  A change made here (a run failed, a success cleared failures, the
start rate opened it, a reset) is applied to the view at once and written
to the row on the store lane, as a compare-and-set; the row as written
replaces the view, and what changed between the two (another supervisor's
failures opened it, a reset elsewhere closed it) is announced as if it had
happened here.  On a shared database each lease renewal reads every row,
and on PostgreSQL each change is also announced by NOTIFY
(``deskpilot_breakers``) and the announced rows are read at once
(``FleetLink._follow_breakers``), so another supervisor's opening holds here
within milliseconds and a lost announcement costs at most ``renew_every``
seconds; alone with a SQLite history, every change is made here and the
renewal reads none.  A
half-open breaker's probe is claimed in the row at hand-over
(``Supervisor._mark_running``): one probe across the fleet.
"""

from __future__ import annotations

import asyncio
import logging

from supervisor.breaker import BreakerState, OpenedFor
from supervisor.breaker_sync import Change, breaker_of, changed, probe_holds
from supervisor.bus import BreakerClosed
from supervisor.runtime import SupervisorBase
from supervisor.store.breaker_rows import BreakerRow

logger = logging.getLogger(__name__)

#: Two opening times closer than this (seconds) are one opening seen through two clocks.
SAME_OPENING = 0.5


class BreakerLink(SupervisorBase):
    """Writes breaker changes to the store, and adopts the rows it reads (see the module)."""

    def _wall_now(self) -> float:
        """Now on the clock breaker rows are written on: the store's, shared (``store_time``).

        A machine whose clock runs ahead would otherwise write openings other
        machines see as not yet begun (held open too long), and read theirs as
        long past (half-open at once).
        """
        return self.store_now().timestamp()

    def _share_breaker(self, workflow: str, change: Change, run_id: str | None = None) -> None:
        """Write ``change`` to the workflow's row on the store lane; adopt the row as written."""
        if self._loop is None:
            return
        try:
            written = self.store_behind(
                self._write_breaker, workflow, change, self._wall_now(), run_id
            )
        except RuntimeError:  # stopped: the store lane takes no more calls
            logger.warning("breaker change of %s not recorded: the supervisor stopped", workflow)
            return
        self._breaker_pending[workflow] = self._breaker_pending.get(workflow, 0) + 1
        written.add_done_callback(lambda done: self._breaker_written(workflow, done))

    def _write_breaker(
        self, workflow: str, change: Change, now: float, run_id: str | None
    ) -> BreakerRow:
        """Store lane: the compare-and-set of one change."""
        policy = self.config.breaker
        row, _ = self.store.change_breaker(
            workflow, lambda row: changed(row, change, policy=policy, now=now, run_id=run_id)
        )
        return row

    def _rate_opened(self, workflow: str) -> None:
        """A start claimed in a fleet took the workflow past the run-rate ceiling: open it for all.

        The store counted every supervisor's first starts (``Supervisor._claim``);
        the opening is this view's at once, and the row's for the others.
        """
        breaker = self.breaker(workflow)
        if breaker.opened_at is not None:
            return  # opened meanwhile (failures, or another supervisor's count)
        now = self.clock()
        breaker.opened_at, breaker.opened_for = now, OpenedFor.RUN_RATE
        self._breaker_opened(workflow, now)
        self._share_breaker(workflow, Change.RATE_OPENED)

    def _claim_probe(self, workflow: str, run_id: str) -> tuple[bool, BreakerRow]:
        """Store lane: make ``run_id`` the probe of a half-open breaker, if no other run is."""
        now = self._wall_now()
        row = self._write_breaker(workflow, Change.PROBE, now, run_id)
        return probe_holds(row, run_id, policy=self.config.breaker, now=now), row

    def _breaker_written(self, workflow: str, done: asyncio.Future[BreakerRow]) -> None:
        left = self._breaker_pending.get(workflow, 1) - 1
        if left > 0:
            self._breaker_pending[workflow] = left
        else:
            self._breaker_pending.pop(workflow, None)
        if done.cancelled():
            return
        error = done.exception()
        if error is not None:
            # The view keeps the change; the next write or renewal brings the row back.
            logger.warning("could not record the breaker of %s in the history: %s", workflow, error)
            return
        if left > 0:
            # A later change of this view is still being written, and its row will carry
            # this one too.  Adopting this older row now would roll the view back for a
            # moment: two failures written one after the other opened the breaker, the
            # first write's row (one failure) closed it again, the second reopened it.
            return
        self._adopt_breaker(done.result())

    def _load_breakers(self) -> None:
        """At start (blocking): every stored breaker, so an open one holds from the first dispatch."""
        for row in self.store.breaker_rows():
            self._adopt_breaker(row)

    def _refresh_breakers(self, rows: list[BreakerRow]) -> None:
        """Rows read with a renewal: adopt those no write of this supervisor is about to replace."""
        for row in rows:
            if not self._breaker_pending.get(row.workflow):
                self._adopt_breaker(row)

    def _adopt_breaker(self, row: BreakerRow) -> None:
        """Make ``row`` this supervisor's view of the breaker, announcing what changed."""
        workflow = row.workflow
        if row.version <= self._breaker_versions.get(workflow, 0):
            return  # the row already adopted, or an older one
        self._breaker_versions[workflow] = row.version
        now = self.clock()
        old = self.breakers.get(workflow)
        new = breaker_of(row, self.config.breaker, shift=now - self._wall_now())
        if old is not None:
            new.starts = old.starts  # the run-rate ledger is this supervisor's own
            if (
                old.probing
                and old.probe_run is None
                and not new.probing
                and new.state(now) is BreakerState.HALF_OPEN
            ):
                new.probing = True  # its probe is being handed over: the claim writes it
            if (
                old.opened_at is not None
                and new.opened_at is not None
                and abs(old.opened_at - new.opened_at) < SAME_OPENING
            ):
                new.opened_at = old.opened_at  # the same opening: keep its timers' reference
        self.breakers[workflow] = new
        was_open = old is not None and old.opened_at is not None
        if new.opened_at is not None and (old is None or old.opened_at != new.opened_at):
            self._breaker_opened(workflow, now)
        elif was_open and new.opened_at is None:
            self.publish(BreakerClosed(workflow=workflow))
            self._breaker_changed(workflow, BreakerState.CLOSED)
            self._dispatch()

    async def refresh_breakers(self) -> None:
        """Read every stored breaker now (the API lists and resets fleet-wide state)."""
        rows = await self._in_store(self.store.breaker_rows)
        self._refresh_breakers(rows)

    async def reset_breaker_everywhere(self, workflow: str) -> BreakerRow:
        """Close a workflow's breaker for every supervisor: here at once, elsewhere by renewal."""
        self.reset_breaker(workflow, share=False)
        self._breaker_pending[workflow] = self._breaker_pending.get(workflow, 0) + 1
        try:
            row = await self._in_store(
                self._write_breaker, workflow, Change.RESET, self._wall_now(), None
            )
        finally:
            left = self._breaker_pending.pop(workflow, 1) - 1
            if left > 0:
                self._breaker_pending[workflow] = left
        self._adopt_breaker(row)
        return row
