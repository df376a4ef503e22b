"""A loop waiting on an event stops when cancelled, even as the event is set.

``asyncio.wait_for`` (Python 3.11) lost the cancellation when both happened in
one loop pass: the loop waited again and whoever stopped it waited forever.
"""

from __future__ import annotations

import asyncio

import pytest

from supervisor.event_wait import wait_event


async def _looping(event: asyncio.Event, passes: list[int]) -> None:
    while True:  # as the look for queued work: until cancelled
        await wait_event(event, 30.0)
        event.clear()
        passes.append(1)


def test_a_cancel_in_the_pass_that_sets_the_event_stops_the_loop() -> None:
    async def scenario() -> list[int]:
        event, passes = asyncio.Event(), []
        task = asyncio.create_task(_looping(event, passes))
        await asyncio.sleep(0)  # the loop is waiting
        event.set()  # woken...
        task.cancel()  # ...and stopped, in the same pass
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5.0)
        return passes

    assert asyncio.run(scenario()) == []


def test_it_answers_whether_the_event_came_or_the_time_ran_out() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        event = asyncio.Event()
        late = await wait_event(event, 0.01)
        asyncio.get_running_loop().call_later(0.01, event.set)
        woken = await wait_event(event, 5.0)
        already = await wait_event(event, 0.0)
        return late, woken, already

    assert asyncio.run(scenario()) == (False, True, True)


def test_a_plain_cancel_while_waiting_is_raised() -> None:
    async def scenario() -> None:
        task = asyncio.create_task(wait_event(asyncio.Event(), 30.0))
        await asyncio.sleep(0)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario())
