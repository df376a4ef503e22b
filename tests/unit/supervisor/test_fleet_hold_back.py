"""Another supervisor's runs start here only once a look after their grace found them queued.

``FleetLink``'s look and its reaction to a lost claim, driven with a plain
clock, a look's answer given by the test and no store: which runs of
another supervisor's share may start, and when.
"""

from __future__ import annotations

import asyncio
from typing import Any

from supervisor.fleetlink import SHARE_GRACE, FleetLink
from supervisor.membership import Membership
from supervisor.runqueue import QueuedRun

RENEW = 1.0


class Link(FleetLink):
    """What the look and the lost claim use of a supervisor, and nothing else."""

    def __init__(self) -> None:
        self.membership = Membership(id="a", host="pc-a", lease_seconds=5.0, renew_every=RENEW)
        self.now = 100.0
        self.clock = lambda: self.now
        self.queue: dict[str, QueuedRun] = {}
        self.active: dict[str, Any] = {}
        self._starting: dict[str, Any] = {}
        self._settling: dict[str, Any] = {}
        self._finishing: dict[str, Any] = {}
        self._share: set[str] = set()
        self._held_back: dict[str, float] = {}
        self._grace_ends: dict[str, float] = {}
        self.config = type("Config", (), {"worker_limit": 2})()
        self.answer: tuple[list[QueuedRun], set[str], set[str]] = ([], set(), set())
        self.pokes = 0

    def poke(self) -> None:
        self.pokes += 1

    def _dispatch(self) -> None:
        pass

    async def _in_store(self, function: Any, *args: Any) -> Any:
        return self.answer

    def look(self, found: list[str], gone: set[str], share: set[str]) -> None:
        self.answer = ([_entry(run_id) for run_id in found], gone, share)
        asyncio.run(self._load_queued_work())

    def may_start(self) -> set[str]:
        return {run_id for run_id, entry in self.queue.items() if entry.not_before <= self.now}


def _entry(run_id: str) -> QueuedRun:
    return QueuedRun(run_id=run_id, workflow="w", text="", path=None, inputs={})


def test_others_runs_wait_for_a_look_after_their_grace() -> None:
    link = Link()
    link.look(["mine-1", "theirs-1", "mine-2", "theirs-2"], set(), {"mine-1", "mine-2"})
    assert link.may_start() == {"mine-1", "mine-2"}

    link.now += SHARE_GRACE + 0.01
    # The grace is over, but what the look read is old: no start on it.
    assert link.may_start() == {"mine-1", "mine-2"}

    # The look after the grace: theirs-1 was claimed by its owner meanwhile.
    link.look([], {"theirs-1"}, set())
    assert link.may_start() == {"mine-1", "mine-2", "theirs-2"}
    assert "theirs-1" not in link.queue


def test_without_a_look_they_start_a_renewal_after_the_grace() -> None:
    link = Link()
    link.look(["mine", "theirs"], set(), {"mine"})
    link.now += SHARE_GRACE + RENEW
    assert link.may_start() == {"mine", "theirs"}


def test_a_lost_claim_holds_the_others_runs_back_until_the_look_it_pokes() -> None:
    link = Link()
    link.look(["mine", "theirs-1", "theirs-2", "theirs-3"], set(), {"mine"})
    link.now += SHARE_GRACE + 0.01
    link.look([], set(), set())  # all still queued after the grace: they may start here
    assert link.may_start() == {"mine", "theirs-1", "theirs-2", "theirs-3"}

    link.queue.pop("theirs-1")  # dispatched, and its owner had claimed it first
    pokes = link.pokes
    link._claim_lost("theirs-1")

    assert link.pokes == pokes + 1
    assert link.may_start() == {"mine"}  # not theirs-2 and -3, loaded by the same look
    link.look([], {"theirs-2"}, set())
    assert link.may_start() == {"mine", "theirs-3"}


def test_losing_a_run_of_its_own_share_holds_nothing_back() -> None:
    link = Link()
    link.look(["mine-1", "mine-2", "theirs"], set(), {"mine-1", "mine-2"})
    link.now += SHARE_GRACE + 0.01
    link.look([], set(), set())
    link.queue.pop("mine-1")
    link._claim_lost("mine-1")
    assert link.may_start() == {"mine-2", "theirs"}
