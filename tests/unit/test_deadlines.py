"""The test helpers' stretched deadlines (``tests.helpers.deadlines``)."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import deadlines


def test_a_deadline_stretches_with_the_load_per_core_up_to_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deadlines.os, "cpu_count", lambda: 2)
    for load, factor in ((0.5, 1.0), (2.0, 1.0), (5.0, 2.5), (40.0, deadlines.MAX_FACTOR)):
        monkeypatch.setattr(deadlines.os, "getloadavg", lambda load=load: (load, load, load))
        assert deadlines.scaled(10.0) == pytest.approx(10.0 * factor)


def test_a_stop_that_never_ends_fails_saying_what_did_not_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deadlines, "load_factor", lambda: 1.0)

    async def scenario() -> None:
        with pytest.raises(AssertionError, match="machine b did not stop within 0 s"):
            await deadlines.stopped(asyncio.Event().wait(), "machine b", seconds=0.05)
        await deadlines.stopped(asyncio.sleep(0), "machine a", seconds=0.05)  # ends: no error

    asyncio.run(scenario())
