"""Supervisors whose clocks disagree still agree on who holds which run (real databases).

Each supervisor passes its machine's time into its store (``clock``).  Here
one runs ``SKEW`` seconds ahead of the database, or behind it, far more than
a lease.  Every lease decision is judged by the database's clock
(``supervisor.store.leasing``), so a skewed supervisor neither reaps a live
peer's runs (ahead) nor keeps a dead peer's runs (behind), starts leases
that run their full length, and its fenced writes stop exactly when its
lease ends for everybody.  Leases are short and the waits real: each
"expired" is polled for by the database's own clock.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from automation.clock import SystemClock
from automation.engine.events import LogEmitted, RunStatus
from supervisor.errors import RunStatusChanged
from supervisor.store import HistoryStore
from supervisor.store.store import QueuedRow
from tests.helpers.fleet import waited_for
from tests.helpers.storage import StoreFactory

pytestmark = pytest.mark.timeout(60)

LEASE = 1.0
#: Far more than a lease, either way.
SKEW = timedelta(seconds=30 * LEASE)


class SkewedClock(SystemClock):
    """A machine's real clock that is off by ``offset``, as a desktop's clock can be."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def supervisor(store_factory: StoreFactory, offset: timedelta = timedelta(0)) -> HistoryStore:
    """A supervisor's store on the shared database, its machine's clock off by ``offset``."""
    return store_factory(clock=SkewedClock(offset), leases_by_database=True)


def queued(store: HistoryStore, count: int = 1) -> list[str]:
    version = store.save_workflow_version("invoices", None, "nodes: []\n")
    ids = [uuid.uuid4().hex for _ in range(count)]
    store.create_runs([QueuedRow(run_id, "invoices", version) for run_id in ids])
    return ids


def claim(store: HistoryStore, who: str, run_id: str) -> None:
    (run,) = store.claim_queued(who, lease_seconds=LEASE, run_ids=[run_id])
    assert run.id == run_id and run.claimed_by == who


def lease_ended(store: HistoryStore, run_id: str) -> bool:
    """Whether ``run_id``'s lease has ended by the database's clock."""
    run = store.get_run(run_id)
    assert run is not None and run.lease_expires_at is not None
    return store.lease_time() >= run.lease_expires_at


def keep_renewing(store: HistoryStore, who: str, stop: threading.Event) -> threading.Thread:
    """``who``'s heartbeat every quarter lease, as a live supervisor's lease lane does."""

    def renew() -> None:
        while not stop.wait(LEASE / 4):
            store.supervisor_heartbeat(who, lease_seconds=LEASE)

    thread = threading.Thread(target=renew, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("offset", [SKEW, -SKEW], ids=["ahead", "behind"])
def test_a_skewed_reaper_leaves_a_live_peers_runs_and_takes_a_dead_peers(
    store_factory: StoreFactory, offset: timedelta
) -> None:
    peer = supervisor(store_factory)
    skewed = supervisor(store_factory, offset)
    live, dead = queued(peer, 2)
    peer.register_supervisor("live", host="pc-1")
    peer.register_supervisor("dead", host="pc-2")
    claim(peer, "live", live)
    claim(peer, "dead", dead)
    stop = threading.Event()
    renewing = keep_renewing(peer, "live", stop)
    try:
        # Ahead: both leases look long expired by its clock; it must take neither yet.
        assert skewed.reap_expired_leases() == []
        # "dead" stops renewing: its lease ends by the database's clock, and then (behind:
        # though its clock says the lease has half a minute to go) the reaper takes it.
        waited_for(lambda: lease_ended(peer, dead), 10, "the dead peer's lease ends")
        reaped: list[str] = []
        waited_for(
            lambda: bool(reaped.extend(skewed.reap_expired_leases()) or reaped),
            5 * LEASE,
            "the skewed reaper takes the dead peer's run",
        )
        assert reaped == [dead]
        # The live peer's run, renewed all along, is still its own.
        assert skewed.reap_expired_leases() == []
    finally:
        stop.set()
        renewing.join(10)
    run = peer.get_run(live)
    assert run is not None and (run.status, run.claimed_by) == (RunStatus.RUNNING, "live")
    taken = peer.get_run(dead)
    assert taken is not None and (taken.status, taken.claimed_by) == (RunStatus.QUEUED, None)
    assert taken.resumes == 1


@pytest.mark.parametrize("offset", [SKEW, -SKEW], ids=["ahead", "behind"])
def test_a_skewed_claimant_holds_its_lease_for_its_length_by_the_databases_clock(
    store_factory: StoreFactory, offset: timedelta
) -> None:
    peer = supervisor(store_factory)
    skewed = supervisor(store_factory, offset)
    kept, lapsed = queued(peer, 2)
    skewed.register_supervisor("skewed", host="pc-3")
    claim(skewed, "skewed", kept)
    claim(skewed, "skewed", lapsed)
    for run_id in (kept, lapsed):
        run = peer.get_run(run_id)
        assert run is not None and run.lease_expires_at is not None
        # The lease runs its length from the database's time, not from the claimant's.
        left = (run.lease_expires_at - peer.lease_time()).total_seconds()
        assert 0 < left <= LEASE, f"lease ends {left:.1f} s from now by the database's clock"
    # Behind: a lease started by its clock would be born expired, and taken at once.
    assert peer.reap_expired_leases() == []
    # Its heartbeat is stamped by the database's clock: peers see it alive.
    (record,) = peer.list_supervisors()
    assert record.alive(peer.lease_time(), LEASE)

    # Within its lease its fenced write goes through (ahead: its own clock is past the end).
    skewed.set_run_status(kept, RunStatus.SUCCEEDED, owner="skewed")

    # Past its lease, not yet reaped: refused, though (behind) its clock says it has time.
    waited_for(lambda: lease_ended(peer, lapsed), 10, "the lease ends")
    with pytest.raises(RunStatusChanged, match="lease of skewed expired"):
        skewed.set_run_status(lapsed, RunStatus.SUCCEEDED, owner="skewed")
    # Ahead: a lease that ended long ago by its own clock; it was not taken early either.
    assert peer.reap_expired_leases() == [lapsed]


def test_a_skewed_supervisors_recorder_drops_events_once_its_lease_ends(
    store_factory: StoreFactory, request: pytest.FixtureRequest
) -> None:
    """The recorder's fence (a shared server only: a SQLite file has one supervisor)."""
    if "sqlite" in request.node.callspec.id:
        pytest.skip("events are fenced on a shared server; a SQLite file has one supervisor")
    peer = supervisor(store_factory)
    behind = supervisor(store_factory, -SKEW)
    (run_id,) = queued(peer)
    behind.register_supervisor("behind", host="pc-4")
    claim(behind, "behind", run_id)
    at = datetime.now(UTC)

    def note(text: str, seq: int) -> LogEmitted:
        return LogEmitted(run_id=run_id, seq=seq, at=at, node_id=None, level="info", message=text)

    behind.record([note("within the lease", 1)])
    waited_for(lambda: lease_ended(peer, run_id), 10, "the lease ends")
    behind.record([note("after the lease", 2)])
    assert [event.message for event in peer.events(run_id)] == ["within the lease"]
