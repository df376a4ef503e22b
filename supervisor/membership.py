"""This supervisor's place among others sharing one database: who it is, and its lease.

Every supervisor registers itself in the store's ``supervisors`` table at
start and renews its heartbeat every ``renew_every`` seconds.  On a shared
database (PostgreSQL) each run it claims is held under a lease of
``lease_seconds`` that the heartbeat extends; a supervisor that stops
renewing (killed, frozen, cut off) loses its runs to whichever supervisor
reaps them next, and from then on the store refuses its writes for them
(``HistoryStore.set_run_status(..., owner=...)``).

A supervisor must notice it lost its lease before it acts on a run again:
``lease_holds`` is that check, a pure function of the monotonic clock and
when the last renewal that succeeded was sent.  Past it the supervisor
stops its workers and writes nothing more for their runs; they resume
wherever they are claimed next, through the ordinary resume path.

On SQLite (one machine, one supervisor per database) runs are claimed
without a lease (``lease_seconds`` None): nothing expires, so a database
locked for a while delays a supervisor but never takes its runs away.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from supervisor.machine import machine_host, supervisor_id

#: Lease on each claimed run of a shared database: a supervisor that stops renewing it
#: loses its runs this long after its last renewal (plus one reaper's pass).
DEFAULT_LEASE_SECONDS = 8.0
#: How often a supervisor renews its heartbeat, reaps expired leases and looks for work.
DEFAULT_RENEW_EVERY = 2.0
#: Without a shared database a renewal writes nothing (its heartbeat is read as "now" while
#: it runs, ``HistoryStore.alone_as``); it still looks at its claims and chains this often.
ALONE_RENEW_EVERY = 30.0
#: Stop acting on runs this long before the lease the store holds would expire.
SAFETY_MARGIN = 0.5


@dataclass(frozen=True, kw_only=True)
class Membership:
    """Who this supervisor is in the fleet, and how it holds its runs."""

    #: Stable per Deskpilot home (``supervisor.machine.supervisor_id``).
    id: str
    #: Its machine's name: desktop runs are routed by it.
    host: str
    #: Lease on each claimed run, renewed by the heartbeat; None: no lease (SQLite).
    lease_seconds: float | None = None
    renew_every: float = DEFAULT_RENEW_EVERY

    @property
    def shared(self) -> bool:
        """Whether other supervisors may share its database (it holds runs under leases).

        Without leases (SQLite) it is alone with its history (``HistoryLock``):
        nobody else writes breakers or debugger requests for it to pick up, so
        the loops that look for them are not started.
        """
        return self.lease_seconds is not None

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > 32:
            raise ValueError(f"a supervisor id is 1 to 32 characters, got {self.id!r}")
        if self.renew_every <= 0:
            raise ValueError(f"renew_every must be positive, got {self.renew_every}")
        if self.lease_seconds is not None and self.lease_seconds < 2 * self.renew_every + 1:
            raise ValueError(
                f"a lease of {self.lease_seconds} s would expire between two renewals "
                f"{self.renew_every} s apart; make it at least {2 * self.renew_every + 1} s"
            )

    @classmethod
    def of_home(
        cls,
        data_dir: Path,
        *,
        shared: bool,
        environ: Mapping[str, str] = os.environ,
    ) -> Membership:
        """This home's id and this machine's host; leases on a ``shared`` database."""
        return cls(
            id=supervisor_id(data_dir),
            host=machine_host(environ),
            lease_seconds=DEFAULT_LEASE_SECONDS if shared else None,
            renew_every=DEFAULT_RENEW_EVERY if shared else ALONE_RENEW_EVERY,
        )


def lease_holds(
    now: float, renewed_at: float | None, lease_seconds: float | None, margin: float = SAFETY_MARGIN
) -> bool:
    """Whether the runs this supervisor claimed are still its own, at ``now`` (monotonic).

    ``renewed_at`` is when the last renewal that succeeded was sent (its
    lease counts from no later than that); None: it never renewed.  Without
    a lease nothing expires.
    """
    if lease_seconds is None:
        return True
    if renewed_at is None:
        return False
    return now < renewed_at + lease_seconds - margin
