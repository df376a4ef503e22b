"""Several store-level supervisors (``tests.helpers.fleet_member``) on one database, for tests.

``Fleet`` starts member processes, signals them (SIGKILL, SIGSTOP, SIGCONT),
and reads back what each did from its log.  ``queue_runs`` fills the queue.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.store import HistoryStore
from supervisor.store.store import QueuedRow

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 120.0


@dataclass(frozen=True)
class Entry:
    what: str
    run_id: str
    at: float
    member: str


@dataclass
class Fleet:
    url: str
    folder: Path
    options: dict[str, Any] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[str]] = field(default_factory=dict)

    def start(self, name: str, host: str | None = None) -> None:
        """Start member ``name`` (its supervisor id), on machine ``host`` (default: its name)."""
        me = name.ljust(32, "0")[:32]
        with open(self.folder / f"{name}.err", "w") as errors:  # the child keeps its own copy
            process = self._spawn(me, name, host, errors)
        self.processes[name] = process
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            process.kill()
            raise RuntimeError(
                f"member {name} did not start: {line!r} "
                f"{(self.folder / f'{name}.err').read_text()[-3000:]}"
            )

    def _spawn(self, me: str, name: str, host: str | None, errors: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.helpers.fleet_member",
                self.url,
                me,
                host or name,
                str(self.log(name)),
                json.dumps(self.options),
            ],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def signal(self, name: str, signum: signal.Signals) -> None:
        self.processes[name].send_signal(signum)

    def entries(self) -> list[Entry]:
        found = []
        for name in self.processes:
            path = self.log(name)
            if not path.exists():
                continue
            for line in path.read_text().splitlines():
                what, run_id, at = line.split()
                found.append(Entry(what, run_id, float(at), name))
        return sorted(found, key=lambda entry: entry.at)

    def starts(self) -> Counter[str]:
        return Counter(entry.run_id for entry in self.entries() if entry.what == "start")

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
            process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()


def queue_runs(store: HistoryStore, count: int, seconds: float = 0.0, **row: Any) -> list[str]:
    """Queue ``count`` runs whose work (in a fleet member) lasts ``seconds``."""
    version = store.save_workflow_version("fleet", None, "nodes: []\n")
    ids = [uuid.uuid4().hex for _ in range(count)]
    for start in range(0, count, 500):
        store.create_runs(
            [
                QueuedRow(run_id, "fleet", version, inputs={"seconds": seconds}, **row)
                for run_id in ids[start : start + 500]
            ]
        )
    return ids


def waited_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> float:
    """Poll ``check`` until true; returns the seconds it took, or fails saying ``what``."""
    started = time.monotonic()
    deadline = started + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(every)
    return time.monotonic() - started
