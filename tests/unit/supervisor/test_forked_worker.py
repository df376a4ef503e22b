"""A forked worker's stdin pipe closes once its exit is known, with or without a waiter."""

from __future__ import annotations

import asyncio
import os

from supervisor.workers import ForkedWorker


async def _worker() -> tuple[ForkedWorker, asyncio.Future[int | None], int]:
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe()
    transport, protocol = await loop.connect_write_pipe(
        lambda: asyncio.streams.FlowControlMixin(loop=loop),
        os.fdopen(write_fd, "wb", buffering=0),
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    exited: asyncio.Future[int | None] = loop.create_future()
    return ForkedWorker(4242, writer, asyncio.StreamReader(), exited), exited, read_fd


def test_the_pipe_closes_when_the_exit_is_known_though_nobody_waits() -> None:
    """The fork server lost: the exit comes from a watcher and no one awaits ``wait()``."""

    async def scenario() -> bool:
        worker, exited, read_fd = await _worker()
        try:
            exited.set_result(None)
            await asyncio.sleep(0)  # done callbacks run on the next loop turn
            assert worker.stdin is not None
            return worker.stdin.is_closing()
        finally:
            os.close(read_fd)

    assert asyncio.run(scenario())


def test_a_cancelled_waiter_leaves_the_pipe_of_a_live_worker_open() -> None:
    async def scenario() -> tuple[bool, bool]:
        worker, exited, read_fd = await _worker()
        try:
            waiter = asyncio.ensure_future(worker.wait())
            await asyncio.sleep(0)
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
            assert worker.stdin is not None
            open_while_alive = not worker.stdin.is_closing()
            exited.set_result(0)
            assert await worker.wait() == 0
            return open_while_alive, worker.stdin.is_closing()
        finally:
            os.close(read_fd)

    assert asyncio.run(scenario()) == (True, True)
