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
from dataclasses import dataclass, field
from pathlib import Path

from supervisor.machine import ID_FILE
from tests.helpers.daemon import CLI_BOOT, short_home


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
        for host, home in self.homes.items():
            env = {
                **os.environ,
                "DESKPILOT_HOME": str(home),
                "DESKPILOT_DATABASE_URL": self.url,
                "DESKPILOT_HOST": host,
                "SHELL": "/bin/sh",
                **self.envs.get(host, {}),
            }
            with (home / "stderr.txt").open("w") as errors:  # the child keeps its own copy
                self.processes[host] = subprocess.Popen(
                    [sys.executable, "-c", CLI_BOOT, "supervisor", "start", "--foreground"],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=errors,
                    text=True,
                )
        for host, process in self.processes.items():
            assert process.stdout is not None
            line = process.stdout.readline()
            if "supervisor running" not in line:
                tail = (self.homes[host] / "stderr.txt").read_text()[-3000:]
                raise AssertionError(f"supervisor {host} did not start: {line!r} {tail}")

    def supervisor_id(self, host: str) -> str:
        return (self.homes[host] / "data" / ID_FILE).read_text().strip()

    def host_of(self, supervisor_id: str | None) -> str | None:
        for host in self.homes:
            if supervisor_id is not None and self.supervisor_id(host) == supervisor_id:
                return host
        return None

    def signal(self, host: str, signum: signal.Signals) -> None:
        self.processes[host].send_signal(signum)

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
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
