"""Which of the queued runs every supervisor sees each one tries first.

Supervisors of a fleet each load the same next queued runs (claim order:
priority, then age) and each dispatches the first of them.  When two or
three choose the same run, one claim wins and the others are lost: with
three supervisors on one machine about two lost claims per run, each a
transaction and another dispatch, and the losers' next choice is again the
winner's next one.  So each live supervisor, ``index`` of ``count`` (by
id), has a share of the runs: those whose id hashes to its index modulo
``count`` (CRC-32: the same in every process, unlike ``hash``).  It tries
its share first, then the others, each in claim order.  A share is a
property of the run, not of its place in one look: supervisors that looked
a moment apart, and so loaded windows shifted by the runs claimed between,
still agree on whose each run is.  No run is held back from anyone: the
others' runs stay in each queue, after its own share, for when a
supervisor is stopped or busy; and priority still comes first, since only
the order within one look is changed.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Iterable, Sequence

from supervisor.runqueue import QueuedRun


def share_of(member: str, live: Sequence[str], run_ids: Sequence[str]) -> list[int]:
    """Positions of the runs in ``run_ids`` that ``member`` tries first.

    ``live``: the supervisors claiming now, this one among them.  Alone, or
    not among them (its heartbeat is late: it has no share to keep), every
    run is its own.
    """
    peers = sorted(set(live))
    if member not in peers or len(peers) < 2:
        return list(range(len(run_ids)))
    index, count = peers.index(member), len(peers)
    return [i for i, run_id in enumerate(run_ids) if zlib.crc32(run_id.encode()) % count == index]


def spread(entries: Sequence[QueuedRun], member: str, live: Sequence[str]) -> set[str]:
    """The ids of ``member``'s share of ``entries`` (one look, in claim order)."""
    return {entries[i].run_id for i in share_of(member, live, [e.run_id for e in entries])}


def put_first(entries: Iterable[QueuedRun], first: Collection[str]) -> None:
    """Order ``entries`` so those in ``first`` come before the others, each in their order.

    The entries keep the ``order`` numbers they had, dealt out again: a
    queue holds runs of several looks, and a run of an earlier look left to
    its owner must not come before this supervisor's own share of a later one.
    """
    held = sorted(entries, key=lambda entry: entry.order)
    orders = [entry.order for entry in held]
    ranked = [e for e in held if e.run_id in first] + [e for e in held if e.run_id not in first]
    for entry, order in zip(ranked, orders, strict=True):
        entry.order = order
