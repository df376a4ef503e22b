"""Real supervisors as a fleet: ``deskpilot supervisor start --foreground`` processes on one database.

Each gets its own short home (its API socket must fit in 108 bytes) and its
own ``DESKPILOT_HOST``, so one machine plays several.  ``start_all`` starts
them together and waits for each to say it serves; ``supervisor_id`` reads
the id each made in its home, to tell which one claimed a run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from automation.engine.events import RunStatus
from supervisor.client import SupervisorClient
from supervisor.machine import ID_FILE
from supervisor.paths import DeskpilotPaths
from supervisor.store import HistoryStore
from tests.helpers.daemon import CLI_BOOT, short_home

#: Seconds a teardown waits for cancelled runs to end before it stops the supervisors anyway.
CANCEL_WAIT = 15.0


@dataclass
class FleetDaemons:
    url: str
    homes: dict[str, Path] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    #: Extra environment of each supervisor (``prepare``'s ``env``).
    envs: dict[str, dict[str, str]] = field(default_factory=dict)

    def prepare(
        self,
        host: str,
        workflows: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> Path:
        home = short_home("dpf-")
        self.homes[host] = home
        self.envs[host] = dict(env or {})
        (home / "workflows").mkdir()
        for name, text in (workflows or {}).items():
            (home / "workflows" / f"{name}.yaml").write_text(text)
        return home

    def start_all(self) -> None:
        """Start every prepared supervisor at once, then wait for each to serve."""
        for host in self.homes:
            self.spawn(host)
        for host in self.homes:
            self.wait_serving(host)

    def spawn(self, host: str) -> subprocess.Popen[str]:
        """Start supervisor ``host`` (``prepare`` first); its stderr goes to its home."""
        earlier = self.processes.get(host)
        if earlier is not None:  # it ended (refused, or stopped): this start replaces it
            assert earlier.poll() is not None, f"supervisor {host} still runs"
            if earlier.stdout is not None:
                earlier.stdout.close()
        home = self.homes[host]
        env = {
            **os.environ,
            "DESKPILOT_HOME": str(home),
            "DESKPILOT_DATABASE_URL": self.url,
            "DESKPILOT_HOST": host,
            "SHELL": "/bin/sh",
            **self.envs.get(host, {}),
        }
        with (home / "stderr.txt").open("w") as errors:  # the child keeps its own copy
            process = self.processes[host] = subprocess.Popen(
                [sys.executable, "-c", CLI_BOOT, "supervisor", "start", "--foreground"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        return process

    def wait_serving(self, host: str) -> None:
        process = self.processes[host]
        assert process.stdout is not None
        line = process.stdout.readline()
        if "supervisor running" not in line:
            raise AssertionError(f"supervisor {host} did not start: {line!r} {self.stderr(host)}")

    def stderr(self, host: str) -> str:
        return (self.homes[host] / "stderr.txt").read_text()[-3000:]

    def _cancel_running(self) -> None:
        """Cancel what still runs, so the stops need not wait out their shutdown grace."""
        live = {
            self.supervisor_id(host)
            for host, process in self.processes.items()
            if process.poll() is None
        }
        if not self.url.startswith("postgresql"):
            return  # a SQLite history has one supervisor; its stop is quick enough
        store = HistoryStore.open(self.url)
        try:

            def held() -> list[str]:
                return [
                    run.id
                    for run in store.list_runs(status=RunStatus.RUNNING, limit=None)
                    if run.claimed_by in live  # a killed one's wait for their lease to expire
                ]

            cancelled = set(held())
            for run_id in cancelled:
                store.request_cancel(run_id)
            deadline = time.monotonic() + CANCEL_WAIT
            while cancelled & set(held()) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            store.close()

    def supervisor_id(self, host: str) -> str:
        return (self.homes[host] / "data" / ID_FILE).read_text().strip()

    def host_of(self, supervisor_id: str | None) -> str | None:
        for host in self.homes:
            if supervisor_id is not None and self.supervisor_id(host) == supervisor_id:
                return host
        return None

    def worker_pid(self, host: str, run_id: str) -> int:
        """The pid of the worker that supervisor ``host`` runs ``run_id`` in (its API says)."""
        client = SupervisorClient(DeskpilotPaths.under(self.homes[host]))
        try:
            pids = [worker.pid for worker in client.workers() if worker.run_id == run_id]
        finally:
            client.close()
        assert len(pids) == 1, f"{host} runs {run_id} in workers {pids}"
        return pids[0]

    def signal(self, host: str, signum: signal.Signals) -> None:
        self.processes[host].send_signal(signum)

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
        self._cancel_running()
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        for home in self.homes.values():
            shutil.rmtree(home, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs: a zombie (dead, not yet reaped) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def slow_workflow(seconds: float) -> str:
    """Workflow "slow": one delay of ``seconds``, the run a test acts on while it runs."""
    return f"""\
deskpilot: 1
name: slow
nodes:
  wait:
    block: control.delay
    with: {{seconds: {seconds:g}}}
"""


#: A run that waits two minutes: still running whenever a test acts on its machine.
SLOW = slow_workflow(120)

#: Workflow "quick": one step that passes its value on, a run that ends as soon as it starts.
QUICK = """\
deskpilot: 1
name: quick
nodes:
  only:
    block: control.pass
    with: {value: 1}
"""


@contextmanager
def two_machines(url: str, b_workflows: dict[str, str] | None = None) -> Iterator[FleetDaemons]:
    """Supervisors "pc-a" and "pc-b" serving on ``url`` (pc-b with ``b_workflows``), stopped
    on the way out: the fleet the forget and cross-machine tests act on."""
    daemons = FleetDaemons(url)
    daemons.prepare("pc-a")
    daemons.prepare("pc-b", workflows=b_workflows)
    try:
        daemons.start_all()
        yield daemons
    finally:
        daemons.close()


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``deskpilot ARGS`` run as a user would on the machine whose home is ``home``."""
    return subprocess.run(
        [sys.executable, "-c", CLI_BOOT, *args],
        env={**os.environ, "DESKPILOT_HOME": str(home), "SHELL": "/bin/sh"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
