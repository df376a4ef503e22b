"""supervisord as the reference beside Deskpilot's supervisor in ``bench_supervisor``.

supervisord runs a child importing what a worker imports, then sleeping, with
``autorestart=true`` and its defaults (``startsecs=1``).  It is found in
``.venv/supervisord`` (``bash packaging/bootstrap.sh dev,bench``), outside the
venv itself: its package is named ``supervisor`` too and would shadow
Deskpilot's.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psutil

from tests.benchmarks._process_counters import idle_figures
from tests.benchmarks._util import ROOT
from tests.integration.supervisor.harness import wait_for

SUPERVISORD_HOME = ROOT / ".venv" / "supervisord"
#: The child supervisord keeps running: the imports of a worker, then sleep (a ready file says when).
CHILD = (
    "import os, sys, time\n"
    "from automation.blocks.registry import BlockRegistry\n"
    "import supervisor.worker\n"
    "BlockRegistry.with_builtins()\n"
    "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
    "while True: time.sleep(3600)\n"
)


@dataclass
class ReferenceFigures:
    """supervisord's figures, as the benchmark's table shows them beside Deskpilot's."""

    restart_ms: list[float] = field(default_factory=list)
    ready_ms: list[float] = field(default_factory=list)
    hang_note: str | None = None
    idle: dict[str, float] = field(default_factory=dict)


def supervisord_available() -> bool:
    return (SUPERVISORD_HOME / "supervisor" / "supervisord.py").exists()


class Supervisord:
    """supervisord in the foreground with one program, controlled over XML-RPC on 127.0.0.1."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="bench-supervisord-"))
        self.ready = self.home / "child.ready"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        child = self.home / "child.py"
        child.write_text(CHILD, encoding="utf-8")
        config = self.home / "supervisord.conf"
        config.write_text(
            f"""[supervisord]
nodaemon=true
logfile={self.home}/supervisord.log
pidfile={self.home}/supervisord.pid
childlogdir={self.home}

[inet_http_server]
port=127.0.0.1:{self.port}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[program:child]
command={sys.executable} {child} {self.ready}
directory={ROOT}
environment=PYTHONPATH="{ROOT}"
autorestart=true
stdout_logfile={self.home}/child.out
stderr_logfile={self.home}/child.err
""",
            encoding="utf-8",
        )
        env = {**os.environ, "PYTHONPATH": str(SUPERVISORD_HOME)}
        # outside the repository, so that ``supervisor`` is supervisord's package
        self.process = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(config)],
            cwd=self.home,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.rpc = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{self.port}/RPC2")
        wait_for(self._running_pid, timeout=60)
        wait_for(lambda: self.ready.exists() or None, timeout=60)

    def info(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.rpc.supervisor.getProcessInfo("child"))

    def child_is(self, pid: int, same: bool = True) -> bool | None:
        """Whether the ready file names ``pid`` (or, with ``same=False``, another process)."""
        with contextlib.suppress(OSError):
            return (self.ready.read_text() == str(pid)) == same or None
        return None

    def _running_pid(self) -> int | None:
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            info = self.info()
            if info["statename"] == "RUNNING":
                return int(info["pid"])
        return None

    def close(self) -> None:
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            self.rpc.supervisor.shutdown()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        shutil.rmtree(self.home, ignore_errors=True)


def measure_supervisord(samples: int, hang_wait: float, idle_seconds: float) -> ReferenceFigures:
    """Kill -> RUNNING again and kill -> new child ready, a SIGSTOPped child after
    ``hang_wait``, and supervisord's idle cost."""
    column = ReferenceFigures()
    daemon = Supervisord()
    try:
        for _ in range(samples):
            old = wait_for(daemon._running_pid, timeout=60)
            wait_for(functools.partial(daemon.child_is, old), timeout=60)
            killed = time.monotonic()
            os.kill(old, signal.SIGKILL)
            ready_at = None
            while True:
                now = time.monotonic()
                with contextlib.suppress(OSError, ValueError):
                    if ready_at is None and int(daemon.ready.read_text() or 0) not in (0, old):
                        ready_at = now
                pid = daemon._running_pid()
                if pid is not None and pid != old:
                    break
                if now - killed > 60:
                    raise RuntimeError("supervisord did not restart its child within 60 s")
                time.sleep(0.002)
            column.restart_ms.append((now - killed) * 1000)
            if ready_at is None:
                wait_for(functools.partial(daemon.child_is, old, False), timeout=60)
                ready_at = time.monotonic()
            column.ready_ms.append((ready_at - killed) * 1000)
        # a frozen child: does supervisord notice?
        pid = wait_for(daemon._running_pid, timeout=60)
        os.kill(pid, signal.SIGSTOP)
        stopped = time.monotonic()
        time.sleep(hang_wait)  # the measurement: whether anything happens in this time
        info = daemon.info()
        os.kill(pid, signal.SIGCONT)
        if info["pid"] == pid and info["statename"] == "RUNNING":
            column.hang_note = f"not detected ({time.monotonic() - stopped:.0f} s)"
        else:
            column.hang_note = f"{info['statename']} after {hang_wait:g} s"
        column.idle = idle_figures(
            daemon.process.pid,
            lambda: [p.pid for p in psutil.Process(daemon.process.pid).children()],
            idle_seconds,
        )
    finally:
        daemon.close()
    return column
