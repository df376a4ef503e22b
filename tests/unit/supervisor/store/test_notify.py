"""Queued work wakes a waiting supervisor: NOTIFY on PostgreSQL, a poll on every store.

The PostgreSQL tests use the suite's real server: the notification comes from
the trigger migration 0005 installs, sent by another connection's commit.
Their poll interval is 30 s, so a wake-up within a second can only be NOTIFY.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from automation.engine.events import RunStatus
from supervisor.store import HistoryStore
from supervisor.store.notify import QueueWatcher
from supervisor.store.store import QueuedRow

SLOW_POLL = 30.0


def queue_one(store: HistoryStore, host: str | None = None) -> str:
    version = store.save_workflow_version("invoices", None, "nodes: []\n")
    run_id = uuid.uuid4().hex
    store.create_runs([QueuedRow(run_id, "invoices", version, target_host=host)])
    return run_id


async def woken_within(watcher: QueueWatcher, seconds: float) -> float | None:
    """Seconds until the watcher woke, or None if it did not within ``seconds``."""
    started = time.monotonic()
    if await watcher.wait(seconds):
        return time.monotonic() - started
    return None


def test_a_queued_run_wakes_the_listener_at_once(postgres_migrated_url: str) -> None:
    store = HistoryStore.open(postgres_migrated_url)

    async def scenario() -> list[float | None]:
        watcher = QueueWatcher(postgres_migrated_url, host="pc-1", poll_interval=SLOW_POLL)
        await watcher.start()
        try:
            assert watcher.listening
            await watcher.wait(0.01)  # the wake-up every (re)connection gives
            waits = []
            for host in (None, "pc-1"):
                pending = asyncio.ensure_future(woken_within(watcher, 10))
                await asyncio.to_thread(queue_one, store, host)
                waits.append(await pending)
            # Work for another machine does not wake this one.
            pending = asyncio.ensure_future(woken_within(watcher, 0.5))
            await asyncio.to_thread(queue_one, store, "pc-2")
            waits.append(await pending)
            assert watcher.notified == 2
            return waits
        finally:
            await watcher.close()

    try:
        first, second, other = asyncio.run(scenario())
    finally:
        store.close()
    assert first is not None and first < 1.0
    assert second is not None and second < 1.0
    assert other is None


def test_a_run_queued_again_is_announced_too(postgres_migrated_url: str) -> None:
    store = HistoryStore.open(postgres_migrated_url)
    run_id = queue_one(store)
    store.claim_queued("sup-a")
    store.set_run_status(run_id, RunStatus.INTERRUPTED, owner="sup-a")

    async def scenario() -> float | None:
        watcher = QueueWatcher(postgres_migrated_url, poll_interval=SLOW_POLL)
        await watcher.start()
        try:
            await watcher.wait(0.01)
            pending = asyncio.ensure_future(woken_within(watcher, 10))
            await asyncio.to_thread(store.set_run_status, run_id, RunStatus.QUEUED)
            return await pending
        finally:
            await watcher.close()

    try:
        woke = asyncio.run(scenario())
    finally:
        store.close()
    assert woke is not None and woke < 1.0


def test_the_listener_reconnects_after_its_connection_is_killed(postgres_migrated_url: str) -> None:
    store = HistoryStore.open(postgres_migrated_url)

    async def scenario() -> float | None:
        watcher = QueueWatcher(postgres_migrated_url, poll_interval=SLOW_POLL)
        await watcher.start()
        try:
            await watcher.wait(0.01)
            with store.engine.begin() as connection:
                killed = connection.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            assert killed == 1
            # The reconnection itself wakes the waiter: notifications may have been lost.
            assert await woken_within(watcher, 10) is not None
            deadline = time.monotonic() + 10
            while not watcher.listening and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert watcher.listening
            await watcher.wait(0.01)
            pending = asyncio.ensure_future(woken_within(watcher, 10))
            await asyncio.to_thread(queue_one, store)
            return await pending
        finally:
            await watcher.close()

    try:
        woke = asyncio.run(scenario())
    finally:
        store.close()
    assert woke is not None and woke < 1.0


def test_without_notify_the_watcher_polls_and_can_be_poked(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, float, bool]:
        watcher = QueueWatcher(f"sqlite:///{tmp_path / 'h.sqlite3'}", poll_interval=0.2)
        await watcher.start()
        try:
            started = time.monotonic()
            polled = await watcher.wait()
            waited = time.monotonic() - started
            watcher.poke()
            poked = await watcher.wait()
            return polled, waited, poked
        finally:
            await watcher.close()

    polled, waited, poked = asyncio.run(scenario())
    assert polled is False and waited >= 0.19
    assert poked is True


def test_a_server_that_cannot_be_reached_leaves_polling(unused_tcp_port: int) -> None:
    url = f"postgresql+psycopg://nobody@127.0.0.1:{unused_tcp_port}/none"

    async def scenario() -> tuple[bool, bool]:
        watcher = QueueWatcher(url, poll_interval=0.2)
        await watcher.start()
        try:
            listening = watcher.listening
            # Woken by the failure (so the caller polls the store), then by each poll.
            return listening, await watcher.wait()
        finally:
            await watcher.close()

    listening, woke = asyncio.run(scenario())
    assert listening is False
    assert woke is True


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
