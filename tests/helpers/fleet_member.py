"""A supervisor's store loop in a process of its own: claims, leases, fencing, cancels, takeover.

    python -m tests.helpers.fleet_member URL SUPERVISOR_ID HOST LOG [OPTIONS_JSON]

It does with the store what a supervisor of a fleet does, with the work of
a run replaced by a sleep (``inputs.seconds``, default 0): register; wait on
``QueueWatcher`` (NOTIFY on PostgreSQL) and claim up to its free workers
under a lease; renew the lease every ``beat`` seconds, stopping the runs the
renewal reports lost and cancelling those with a cancel requested; reap
other members' expired leases; record each run's end fenced by its claim.
Before writing it checks its own lease by the monotonic clock: once that
ran out (the process was frozen past it) it stops the run and writes
nothing.  Every decision is a line appended to LOG (``start``, ``done``,
``refused``, ``lost``, ``cancelled``, ``reaped``, with the run id and
``time.time()``), so tests see what each process did even after a SIGKILL.

OPTIONS_JSON: ``workers`` (2), ``lease`` (3.0 s), ``beat`` (0.5 s),
``poll`` (1.0 s), ``notify`` (true; false polls only).  The fleet tests and ``tests/benchmarks/bench_fleet.py``
run three of these on one PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from automation.engine.events import RunStatus
from supervisor.errors import RunStatusChanged
from supervisor.store import HistoryStore
from supervisor.store.notify import QueueWatcher


class Member:
    def __init__(self, url: str, me: str, host: str, log: Path, options: dict[str, Any]) -> None:
        self.url = url
        self.me = me
        self.host = host
        self.workers = int(options.get("workers", 2))
        self.lease = float(options.get("lease", 3.0))
        self.beat = float(options.get("beat", 0.5))
        self.poll = float(options.get("poll", 1.0))
        #: False: never LISTEN, only poll (to compare with NOTIFY).
        self.notify = bool(options.get("notify", True))
        self.store = HistoryStore.open(url, busy_timeout=30.0)
        self.log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.running: dict[str, asyncio.Task[None]] = {}
        self.watcher = QueueWatcher(url, host=host, poll_interval=self.poll)
        #: Monotonic time until which this member's leases hold, as far as it knows.
        self.lease_until = 0.0

    def note(self, what: str, run_id: str = "-") -> None:
        # One write() per line, O_APPEND: whole lines even if the process dies here.
        os.write(self.log_fd, f"{what} {run_id} {time.time():.6f}\n".encode())

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(
            self.store.register_supervisor, self.me, host=self.host, pid=os.getpid()
        )
        watcher = self.watcher
        if self.notify:
            await watcher.start()
        self.lease_until = loop.time() + self.lease
        beating = loop.create_task(self.heartbeats())
        self.note("ready")
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        try:
            while True:
                free = self.workers - len(self.running)
                if free > 0 and loop.time() < self.lease_until:
                    claimed = await asyncio.to_thread(
                        self.store.claim_queued,
                        self.me,
                        limit=free,
                        host=self.host,
                        lease_seconds=self.lease,
                        fenced=True,
                    )
                    for run in claimed:
                        seconds = float((run.inputs or {}).get("seconds", 0))
                        self.note("start", run.id)
                        self.running[run.id] = loop.create_task(self.work(run.id, seconds))
                    if len(claimed) == free:
                        continue  # maybe more waiting: claim again before sleeping
                await watcher.wait()
        finally:
            beating.cancel()
            await watcher.close()

    async def heartbeats(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sent = loop.time()
            renewal = await asyncio.to_thread(
                self.store.supervisor_heartbeat,
                self.me,
                lease_seconds=self.lease,
                holding=list(self.running),
            )
            self.lease_until = sent + self.lease
            for run_id in renewal.lost:
                self.stop(run_id, "lost")
            for run_id in renewal.cancel_requested:
                if self.stop(run_id, "cancelled"):
                    with contextlib.suppress(RunStatusChanged):
                        await asyncio.to_thread(
                            self.store.set_run_status,
                            run_id,
                            RunStatus.CANCELLED,
                            owner=self.me,
                            stopped_reason="cancelled on request",
                        )
            for run_id in await asyncio.to_thread(self.store.reap_expired_leases):
                self.note("reaped", run_id)
            await asyncio.sleep(max(0.0, self.beat - (loop.time() - sent)))

    def stop(self, run_id: str, why: str) -> bool:
        task = self.running.pop(run_id, None)
        if task is None:
            return False
        task.cancel()
        self.note(why, run_id)
        return True

    async def work(self, run_id: str, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.sleep(seconds)
            if loop.time() >= self.lease_until:
                # Frozen or cut off past the lease: the run may be someone else's now.
                self.note("lost", run_id)
                return
            try:
                await asyncio.to_thread(
                    self.store.set_run_status, run_id, RunStatus.SUCCEEDED, owner=self.me
                )
            except RunStatusChanged:
                self.note("refused", run_id)
                return
            self.note("done", run_id)
        finally:
            if self.running.get(run_id) is asyncio.current_task():
                del self.running[run_id]
            self.watcher.poke()  # a worker is free: claim again now


def main() -> None:
    url, me, host, log = sys.argv[1:5]
    options = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    asyncio.run(Member(url, me, host, Path(log), options).serve())


if __name__ == "__main__":
    main()
