"""The supervisor's link to the others sharing its database: heartbeat, reaping, new work.

Every ``renew_every`` seconds (sooner when the store announces queued work)
the supervisor

* renews its heartbeat, which extends the leases of the runs it holds and
  answers with the runs it lost and the cancels asked for through any
  machine's API (``HistoryStore.supervisor_heartbeat``).  Alone with a
  SQLite history the renewal only reads: its heartbeat is read as "now"
  while it runs (``HistoryStore.alone_as``), since only its own API reads it;
* reaps the runs of supervisors whose lease expired
  (``HistoryStore.reap_expired_leases``): they are queued again, and resume
  on whichever supervisor claims them, through the ordinary resume path;
* loads queued runs this supervisor does not hold yet (submitted through
  another machine's API, or reaped) into its queue, where the dispatch plan
  weighs them like its own; the claim at hand-over decides which supervisor
  runs each (``Supervisor._mark_running``).  Alone with a SQLite history it
  holds every queued run already, and looks only rarely (``ALONE_LOOK_EVERY``).

A supervisor that finds its lease lapsed (``membership.lease_holds``: it was
frozen, or its heartbeats did not get through) stops the workers of the
runs it held and writes nothing more for them: they are someone else's to
resume now.  Renewals run on a thread of their own, so a backlog of history
writes on the store lane does not delay them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from automation.engine.events import RunStatus
from automation.errors import DeskpilotError
from supervisor.errors import IllegalTransition
from supervisor.event_wait import wait_event
from supervisor.fleet_share import put_first, spread
from supervisor.leases import unheld_claims
from supervisor.release import installed_version
from supervisor.runqueue import QueuedRun
from supervisor.runtime import SupervisorBase
from supervisor.store.breaker_rows import BreakerRow
from supervisor.store.records import LeaseRenewal, SupervisorRecord
from supervisor.workers import ExitReason

if TYPE_CHECKING:
    from supervisor.store.notify import QueueWatcher

logger = logging.getLogger(__name__)

#: Runs on SQLite are claimed without a lease; the heartbeat still extends the lease of what a
#: supervisor holds, so there it asks for one that outlives any stall: a year.
NO_EXPIRY_SECONDS = 365 * 24 * 3600.0
#: Queued runs this supervisor holds in its queue at most (the best first): the rest wait in
#: the store for a later look (``_look_ahead``).
SCAN_LIMIT = 200
#: Queued runs held per worker: a worker's next run is at hand when its run ends, and runs
#: that cannot start yet (a busy desktop, an open breaker, a restart delay) leave others.
LOOK_AHEAD_PER_WORKER = 25
#: Alone with a SQLite history, every run queued there was queued through this supervisor,
#: which holds it already (``HistoryLock``: no other process writes that history while it
#: runs): a look finds nothing.  It still looks this often, should anything ever queue a run
#: behind its back (a machine forgotten through its API has its runs queued again).
ALONE_LOOK_EVERY = 600.0
#: Seconds a run of another supervisor's share (``fleet_share``) waits in this queue before
#: this supervisor tries it: time for its owner, when idle, to claim it first (then the next
#: look drops it here, no claim lost); a busy owner's runs are taken here after it, once a
#: look after the grace found them still queued (``FleetLink._hold_back``).
SHARE_GRACE = 0.5
#: How long releasing runs waits for their notes to be written (on the store lane).
RELEASE_FLUSH_SECONDS = 2.0


class FleetLink(SupervisorBase):
    """Registration, lease renewal, reaping and loading queued work (see the module)."""

    # -- joining and leaving --------------------------------------------------------------
    def _join(self) -> None:
        """Register this supervisor (blocking: at start, before the API serves)."""
        sent = self.clock()
        record = self._register()
        self.store_time.observe(record.heartbeat_at, sent, self.clock())
        self._renewed_at = sent
        # Alone with a SQLite history, nobody else fires its schedules (``store.fires``), and
        # nobody but its own API reads its heartbeat: answering is being alive (``alone_as``).
        self.store.fire_keys = self.membership.shared
        self.store.alone_as = None if self.membership.shared else self.membership.id
        if self.membership.shared:
            # Runs of supervisors that died while this one was down are taken back first.
            self.store.reap_expired_leases()
            # Other machines may load triggers chained on runs this one ends.
            self.store.chains_in_store = True

    async def announce(self, api_url: str) -> None:
        """Tell the others where this supervisor's API answers, once it does."""
        self.api_url = api_url
        try:
            await self._in_store(self._register)
        except DeskpilotError as exc:  # the next start says it again; nothing else needs it
            logger.warning("could not record where this supervisor's API answers: %s", exc)

    def _register(self) -> SupervisorRecord:
        member = self.membership
        return self.store.register_supervisor(
            member.id,
            host=member.host,
            pid=os.getpid(),
            api_url=self.api_url,
            version=installed_version(),
            resources={
                "workers": self.config.worker_limit,
                "desktop": True,
                "lease_seconds": member.lease_seconds,
                "renew_every": member.renew_every,
            },
        )

    def _start_link(self) -> None:
        """Start renewing (until ``_leave``: through a stop's grace too) and listening."""
        loop = asyncio.get_running_loop()
        self._link_wake = asyncio.Event()
        self._link_tasks.append(loop.create_task(self._keep_lease(), name="lease-renewal"))
        self._link_tasks.append(loop.create_task(self._look_for_work(), name="queued-work"))
        self.on_run_finished.append(self._look_after_run)
        watcher = self.watcher
        if watcher is not None:
            self._link_tasks.append(loop.create_task(self._listen(watcher), name="queue-watch"))
            if watcher.supervisor_id is not None:
                self._link_tasks.append(
                    loop.create_task(self._follow_breakers(watcher), name="breaker-watch")
                )

    async def _leave(self) -> None:
        """The end of a stop: renewals end, and the machine shows as stopped."""
        tasks, self._link_tasks = self._link_tasks, []
        if self._look_after_run in self.on_run_finished:
            self.on_run_finished.remove(self._look_after_run)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.store.alone_as = None  # no longer answering: its row says when it stopped
        with contextlib.suppress(DeskpilotError, RuntimeError):
            await self._in_lease_lane(self.store.supervisor_stopped, self.membership.id)
        self._lease_lane.shutdown(wait=False)

    def poke(self) -> None:
        """Look for work now (a run was queued, or a lease may have been freed)."""
        if self._link_wake is not None:
            self._link_wake.set()

    async def _in_lease_lane(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._lease_lane, functools.partial(function, *args, **kwargs)
        )

    async def _listen(self, watcher: Any) -> None:
        """Forward the store's announcements of queued work to the renewal loop."""
        while self.accepting:
            if await watcher.wait():
                self.poke()

    async def _follow_breakers(self, watcher: QueueWatcher) -> None:
        """Read the breakers the store announces as changed, as soon as it does (PostgreSQL)."""
        while True:  # until ``_leave`` cancels it
            changed = await watcher.wait_breakers(self.membership.renew_every)
            if changed is not None and not changed:
                continue  # nothing announced: the renewal reads every row anyway
            try:
                if changed is None:  # announcements may have been lost: read them all
                    rows = await self._in_lease_lane(self.store.breaker_rows)
                else:
                    rows = [
                        await self._in_lease_lane(self.store.breaker_row, name)
                        for name in sorted(changed)
                    ]
            except DeskpilotError as exc:
                logger.warning("could not read the breakers announced as changed: %s", exc)
                continue
            except RuntimeError:  # stopping: the store lane takes no more calls
                return
            self._refresh_breakers(rows)

    # -- the loop ---------------------------------------------------------------------------
    async def _keep_lease(self) -> None:
        """Renew every ``renew_every`` seconds, on the lease lane: nothing else waits here."""
        while True:  # until ``_leave`` cancels it
            await asyncio.sleep(self.membership.renew_every)
            try:
                await self._renew()
            except Exception:  # one failed round must not end the renewals
                logger.exception("renewing this supervisor's lease failed")

    async def _look_for_work(self) -> None:
        """Load queued work when the store announces some, and at each renewal's pace.

        Alone (SQLite) at ``ALONE_LOOK_EVERY``: each look read every queued
        run, and was most of an idle supervisor's work, for nothing.
        """
        member = self.membership
        every = member.renew_every if member.shared else max(member.renew_every, ALONE_LOOK_EVERY)
        while True:  # until ``_leave`` cancels it
            wake = self._link_wake
            assert wake is not None
            await wait_event(wake, every)
            wake.clear()
            if not self.accepting:
                continue
            try:
                await self._load_queued_work()
            except Exception:
                logger.exception("looking for queued runs failed")

    async def _renew(self) -> None:
        """Renew the heartbeat and leases; act on what the store answers; reap others'."""
        member = self.membership
        if not self._lease_holds():
            self._fence("its lease on them lapsed before it could renew it")
        # What runs on its workers as the renewal leaves: only these can be found lost.  A run
        # still being handed over may not be claimed yet when the renewal reads the store, and
        # would be reported lost although its claim commits a moment later.
        on_workers = dict(self.active)
        holding = sorted(on_workers)
        held = self._held()
        sent = self.clock()
        try:
            renewal: LeaseRenewal = await self._in_lease_lane(
                self.store.supervisor_heartbeat,
                member.id,
                lease_seconds=member.lease_seconds or NO_EXPIRY_SECONDS,
                holding=holding,
                beat=member.shared,
            )
        except DeskpilotError as exc:
            logger.warning("could not renew this supervisor's heartbeat: %s", exc)
            return
        except RuntimeError:  # stopping: the lane no longer takes calls
            return
        if not renewal.registered:
            self._forgotten()
            return
        # The database's time when it renewed: the clock times shared with others are on.
        lease = member.lease_seconds or NO_EXPIRY_SECONDS
        self.store_time.observe(renewal.expires_at - timedelta(seconds=lease), sent, self.clock())
        # Its leases run from this renewal on, however long the reaping below takes: a slow
        # reap (rows locked by the others' writes) must not make its own runs look lapsed.
        lapsed = not self._lease_holds()
        self._renewed_at = sent
        if lapsed:
            self._dispatch()  # it may claim runs again
        reaped: list[str] = []
        breakers: list[BreakerRow] = []
        if member.shared:
            try:
                reaped = await self._in_lease_lane(self.store.reap_expired_leases)
                # Breakers opened, closed or reset by the others (``breaker_link``); alone,
                # every change to them is made here and already in its view.
                breakers = await self._in_lease_lane(self.store.breaker_rows)
            except DeskpilotError as exc:  # the next renewal tries again
                logger.warning("could not take back expired leases or read breakers: %s", exc)
            except RuntimeError:
                return
        self._refresh_breakers(breakers)
        # The same attempt as when the renewal left (not one claimed again since): lost.
        lost = [
            run_id
            for run_id in renewal.lost
            if run_id in on_workers and self.active.get(run_id) is on_workers[run_id]
        ]
        if lost:
            self._fence("another supervisor holds them now", lost)
        for run_id in renewal.cancel_requested:
            active = self.active.get(run_id)
            if active is not None and not active.cancel_requested:
                logger.info("run %s: a cancel was asked for through another machine", run_id)
                self._cancel_active(active)
            elif run_id in self._starting:
                self._cancel_pending.add(run_id)
        self._look_for_unheld(renewal.renewed, held)
        if reaped:
            logger.info("took back %d runs of supervisors that went silent", len(reaped))
            self.poke()  # queued again: load and claim them now
        for listener in self.on_renewed:
            try:
                listener()
            except Exception:
                logger.exception("a renewal listener failed")

    def _forgotten(self) -> None:
        """Its row is gone: someone forgot this machine while it ran (``machines forget --force``).

        The forget took its runs back (queued again to resume elsewhere, or
        cancelled) and released its triggers, so it is in the position of a
        supervisor that lost its lease: it stops its workers and writes
        nothing more for their runs.  It then stops altogether rather than
        register again: carrying on would undo the forget behind the back of
        whoever asked for it (the machine back in ``deskpilot machines``, the
        triggers it was just relieved of fired from its memory while the
        store has them retired).  Started again, it joins as a new machine
        with its triggers loaded afresh; a service manager restarting only on
        failure leaves it stopped.
        """
        if self.forgotten is not None:
            return
        member = self.membership
        why = (
            f"this supervisor ({member.id} on {member.host}) was forgotten while it ran "
            "('deskpilot machines forget --force' removed its row): its runs were taken back "
            "and may run elsewhere"
        )
        self.forgotten = why
        self.accepting = False
        logger.error(
            "%s; stopping its %d running runs without recording anything more, and stopping "
            "this supervisor: start it again to rejoin as a new machine",
            why,
            len(self.active),
        )
        self._fence("this machine was forgotten")
        self.queue.clear()  # queued in the history still: the others run them
        for listener in self.on_forgotten:
            try:
                listener(why)
            except Exception:
                logger.exception("a listener of this supervisor being forgotten failed")

    def _fence(self, why: str, run_ids: list[str] | None = None) -> None:
        """Stop the workers of runs that are no longer this supervisor's; write nothing for them.

        Their runs resume wherever they are claimed next (the reaper queued
        them again, or will).  Without ``run_ids``: every run it holds.
        """
        targets = list(self.active) if run_ids is None else run_ids
        for run_id in targets:
            active = self.active.pop(run_id, None)
            if active is None:
                continue
            worker = active.worker
            logger.warning(
                "run %s is no longer this supervisor's (%s); stopping worker %s without "
                "recording anything more",
                run_id,
                why,
                worker.pid,
            )
            worker.kill_reason = ExitReason.LOST
            worker.run_id = None
            self.kill_process(worker.pid)
            # Its lease in the store may not have run out yet (this supervisor stops acting on
            # its runs a margin early): if the next renewal finds it still claimed here, that
            # renewal extended it, and nobody else ever would take it back; it is released.
            self._unheld_since[run_id] = float("-inf")
        self._dispatch()

    # -- claims nothing here holds -----------------------------------------------------------------
    def _look_for_unheld(self, claimed: Sequence[str], held_when_sent: set[str]) -> None:
        """Release runs the store renewed as this supervisor's that nothing here holds.

        A renewal extends the lease of every run the store has claimed by this
        supervisor.  One that lost its hand-over (its worker was stopped by a
        fence, or the dispatch lost it) would stay ``running`` for ever, its
        lease renewed and no worker on it: ``leases.unheld_claims`` finds
        those, and after ``handover_deadline`` they go back to the queue.
        """
        seen, due = unheld_claims(
            claimed,
            held_when_sent | self._held(),
            self._unheld_since,
            now=self.clock(),
            deadline=self.config.handover_deadline,
        )
        self._unheld_since = seen
        if due and self.accepting:
            for run_id in due:
                del self._unheld_since[run_id]
            self._spawn_task(self._release_unheld(due))

    async def _release_unheld(self, run_ids: list[str]) -> None:
        try:
            released = await self._in_store(self._release_claims, run_ids, self._held())
        except DeskpilotError as exc:
            self._store_failed("release runs nothing here was running", exc)
            return
        self.counters["handovers_lost"] = self.counters.get("handovers_lost", 0) + len(released)
        for entry in released:
            if entry.run_id not in self._held():
                self.queue[entry.run_id] = entry
        if released:
            self._dispatch()

    def _release_claims(self, run_ids: list[str], held: set[str]) -> list[QueuedRun]:
        """Store lane: interrupt and queue again each run still claimed here and not held.

        Every write is fenced by this supervisor's claim: a run that ended,
        was taken back, or is claimed by another supervisor meanwhile is left
        alone.  A note in the run's log says what happened.
        """
        member = self.membership.id
        deadline = self.config.handover_deadline
        detail = (
            f"this supervisor claimed the run, but no worker of its reported it started "
            f"within {deadline:g} s (its hand-over was lost); it is queued again"
        )
        noted: dict[str, int] = {}
        for run_id in run_ids:
            record = self.store.get_run(run_id)
            if (
                run_id in held
                or record is None
                or record.status is not RunStatus.RUNNING
                or record.claimed_by != member
            ):
                continue
            noted[run_id] = self.store.last_seq(run_id) + 1
            self._note(run_id, noted[run_id], detail, {"reason": "handover_lost"})
        if not noted:
            return []
        try:
            # The notes first, while the runs are still claimed here: one wait for them all,
            # short, since the store lane (every claim) waits with it.
            self.recorder.flush(timeout=RELEASE_FLUSH_SECONDS)
        except (TimeoutError, DeskpilotError) as exc:
            logger.warning("the notes on runs being released are not written yet: %s", exc)
        released: list[QueuedRun] = []
        for run_id, seq in noted.items():
            try:
                self.store.set_run_status(run_id, RunStatus.INTERRUPTED, error=detail, owner=member)
                logger.warning("run %s: %s", run_id, detail)
                entry = self._requeue_from_store(
                    run_id, reason="its hand-over was lost", last_seq=seq, owner=member
                )
            except IllegalTransition as exc:  # ended, or taken back, meanwhile
                logger.info("run %s was not released: %s", run_id, exc)
                continue
            if entry is not None:
                released.append(entry)
        return released

    # -- queued work from elsewhere ---------------------------------------------------------------
    async def _load_queued_work(self) -> None:
        """Put queued runs routed here that this supervisor does not hold yet into its queue."""
        held = self._held()
        waiting = set(self.queue)
        room = max(0, self._look_ahead() - len(waiting))
        try:
            found, gone, share = await self._in_store(self._queued_elsewhere, held, waiting, room)
        except DeskpilotError as exc:
            logger.warning("could not look for queued runs: %s", exc)
            return
        # Runs this queue held before the look that the history no longer has queued were
        # claimed by another supervisor (or cancelled there): they are not ours to start.
        for run_id in gone:
            self.queue.pop(run_id, None)
        added = False
        now = self.clock()
        others_from = now + SHARE_GRACE
        # The others' runs held back (``_hold_back``): those still queued were not claimed by
        # their owners.  One whose grace is over starts now, this look having found it still
        # queued; the others wait for the look that ends their grace.
        held_back, self._held_back = self._held_back, {}
        for run_id, waited in held_back.items():
            entry = self.queue.get(run_id)
            ends = self._grace_ends.pop(run_id, others_from)
            if entry is None:
                continue
            if ends <= now:
                entry.not_before = waited
                added = True
            else:
                self._hold_back(entry, waited, ends)
        for entry in found:
            if entry.run_id not in self._held():
                if share and entry.run_id not in share:
                    self._hold_back(entry, entry.not_before, others_from)
                self.queue[entry.run_id] = entry
                added = True
        self._share = (self._share | share) & self.queue.keys()
        if share:
            put_first(self.queue.values(), self._share)
        if self._grace_ends:
            # The look that lets the held-back runs whose grace is over start.
            delay = max(0.0, min(self._grace_ends.values()) - now)
            asyncio.get_running_loop().call_later(delay, self.poke)
        if added:
            self._dispatch()

    def _hold_back(self, entry: QueuedRun, waited: float, grace_ends: float) -> None:
        """Keep another supervisor's run from starting here before a look after ``grace_ends``.

        Its owner, when idle, claims it within the grace; started here at the
        grace's end on what an earlier look read, it had often been claimed
        meanwhile, each such start a claim lost.  ``waited``: its own
        ``not_before``.  Should no look come, it starts at the next renewal's
        pace, as before.
        """
        self._held_back[entry.run_id] = waited
        self._grace_ends[entry.run_id] = grace_ends
        entry.not_before = max(waited, grace_ends + self.membership.renew_every)

    def _look_after_run(self, _workflow: str, _run_id: str, _status: str) -> None:
        """A run ended: in a fleet, look for more work now if this queue is running short.

        The look loads no more than ``_look_ahead``: through a backlog of short
        runs the queue would run dry between renewals, with runs waiting in the store.
        """
        if not self.membership.shared:
            return
        if 2 * len(self.queue) < self._look_ahead():
            self.poke()
        elif self._share and not self._share & self.queue.keys():
            # Its share of the last look is taken: what is left of that look is the others'
            # share, mostly claimed by now.  None starts before a look after the grace has
            # dropped those (``_hold_back``); one is poked now to deal again.
            self._share = set()
            others_from = self.clock() + SHARE_GRACE
            for run_id, entry in self.queue.items():
                if run_id not in self._held_back:
                    self._hold_back(entry, entry.not_before, others_from)
            self.poke()

    def _claim_lost(self, run_id: str) -> None:
        """Another supervisor claimed a run of its share that this one chose: look again first.

        Its owner is claiming its share in claim order, and the others' runs
        after this one in this queue were loaded by the same look: most are
        claimed by now.  Tried one after another, each was a claim lost (a
        transaction, and a dispatch), in runs of up to six in a row with three
        supervisors.  So none of the others' runs starts here before the next
        look, poked now, drops those claimed; those whose grace was over start
        after it if still queued, the others at the end of theirs
        (``_hold_back``).  Its own share goes on meanwhile.
        """
        if not self.membership.shared or run_id in self._share:
            return
        now = self.clock()
        for other, entry in self.queue.items():
            if other not in self._share and other not in self._held_back:
                # its grace over: the look poked now lets it start if still queued
                self._hold_back(entry, entry.not_before, now)
        self.poke()

    def _look_ahead(self) -> int:
        """How many queued runs this supervisor keeps in its queue: its free capacity, and enough
        over it that runs which cannot start yet (a busy desktop, an open breaker) do not keep
        the others out of the look."""
        return min(SCAN_LIMIT, LOOK_AHEAD_PER_WORKER * self.config.worker_limit)

    def _queued_elsewhere(
        self, held: set[str], waiting: set[str], room: int
    ) -> tuple[list[QueuedRun], set[str], set[str]]:
        """Store lane: entries for up to ``room`` queued runs routed here that ``held`` lacks,
        best first; which of ``waiting`` (this queue's) are no longer queued; and which of
        the entries are this supervisor's share, to try first (``fleet_share``).

        Only ids are read until the runs to load are known: the look read
        every queued run in full before (see ``supervisor.store.queued``).
        """
        gone = waiting - self.store.still_queued(waiting) if waiting else set()
        if room < 1:
            return [], gone, set()
        # The runs this supervisor holds may stand first: read past them, keep ``room`` others.
        ids = self.store.next_queued_ids(self.membership.host, room + len(held))
        picked = [run_id for run_id in ids if run_id not in held][:room]
        entries = []
        for record in self.store.runs_by_id(picked):
            entry = self._entry_from_record(record.id, record)
            if entry is not None:
                # Reaped, or interrupted elsewhere: it numbers its events on and replays
                # what its earlier attempts finished.
                entry.resume = entry.resume or record.resumes > 0
                entries.append(entry)
        member = self.membership
        if len(entries) < 2 or not member.shared:
            return entries, gone, set()
        live = self.store.live_supervisors(member.lease_seconds or NO_EXPIRY_SECONDS)
        return entries, gone, spread(entries, member.id, live)

    def _held(self) -> set[str]:
        return (
            self.queue.keys()
            | self.active.keys()
            | self._starting.keys()
            | self._settling.keys()
            | self._finishing.keys()
        )
