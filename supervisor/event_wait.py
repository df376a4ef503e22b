"""Waiting for an asyncio event with a time limit, without losing a cancellation.

Python 3.11's ``asyncio.wait_for`` returns the awaited result when the task
waiting in it is cancelled in the same loop pass as the awaited thing
finishes: the cancellation is lost.  A loop that waits on an event that way,
woken just as its owner stops it, waits again, and the owner's ``await task``
never returns: a supervisor's stop hung in 1 of about 10 runs of a fleet
test in which the end of a run woke the look for queued work as the
supervisor stopped.  Here the wait is ``asyncio.timeout`` (which keeps an
outside cancellation apart from its own), and a cancellation requested while
the event was being set is raised all the same.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """True when ``event`` is set within ``timeout`` seconds, False after them.

    Raises ``CancelledError`` when the waiting task was cancelled meanwhile,
    even if the event was set in the same loop pass.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
        woken = True
    except TimeoutError:
        woken = False
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    return woken
