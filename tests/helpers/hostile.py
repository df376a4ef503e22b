"""Hostile workflow files and an event-loop lag probe for a real ``deskpilotd``.

``HOSTILE_FILES`` are small (or, for ``huge``, large) files that once stalled
the supervisor when dropped into its workflows folder.  ``DaemonProcess``
runs ``python -m supervisor.daemon`` (the ``deskpilotd`` entry point) under a
temporary DESKPILOT_HOME; ``HealthProbe`` calls its ``/health`` over the real
socket from a process of its own, back to back, and keeps each answer's latency: how long
the event loop is busy elsewhere shows there.

Used by ``tests/integration/supervisor/test_hostile_files.py`` (CI, small) and
``tests/benchmarks/bench_hostile.py`` (more rounds, a table).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from supervisor.api.endpoint import locate
from supervisor.api.tokenfile import token_path
from supervisor.paths import DeskpilotPaths
from tests.helpers.common import eventually
from tests.helpers.daemon import short_home

NOTIFY = "nodes:\n  x:\n    block: notify.log\n    with:\n      message: {message}\n"


def billion_laughs(name: str = "laughs") -> str:
    """Under 1 KB: ten levels of nine aliases each, 9**10 strings once expanded."""
    lines = [f"name: {name}", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n" + NOTIFY.format(message="*a9")


def huge_exponent(name: str = "power") -> str:
    return f"name: {name}\n" + NOTIFY.format(message='"{{ 7 ** 99999999 }}"')


def huge_file(name: str = "huge") -> str:
    """Twelve megabytes: past the size budget, refused without being parsed."""
    filler = "".join(f"  k{i}: {'x' * 100}\n" for i in range(120_000))
    return f"name: {name}\nvars:\n{filler}" + NOTIFY.format(message="hi")


def deep_nesting(name: str = "deep") -> str:
    """Lists nested 50,000 deep inside a flow sequence."""
    return f"name: {name}\n" + NOTIFY.format(message="[" * 50_000 + "]" * 50_000)


def deep_json(name: str = "deepjson") -> str:
    return (
        f'{{"name": "{name}", "nodes": {{"x": {{"block": "notify.log", "with": '
        f'{{"message": {"[" * 50_000}{"]" * 50_000}}}}}}}}}'
    )


def long_integer(name: str = "digits") -> str:
    return (
        f'{{"name": "{name}", "nodes": {{"x": {{"block": "notify.log", "with": '
        f'{{"message": {"9" * 5000}}}}}}}}}'
    )


#: file name -> text; each must be reported invalid, and quickly.
HOSTILE_FILES: dict[str, str] = {
    "laughs.yaml": billion_laughs(),
    "power.yaml": huge_exponent(),
    "huge.yaml": huge_file(),
    "deep.yaml": deep_nesting(),
    "deepjson.json": deep_json(),
    "digits.json": long_integer(),
}


class DaemonProcess:
    """``deskpilotd`` as a real process under a fresh DESKPILOT_HOME."""

    def __init__(self) -> None:
        self.home = short_home("dp-hostile-")
        self.paths = DeskpilotPaths.under(self.home).ensure()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> DaemonProcess:
        env = dict(os.environ, DESKPILOT_HOME=str(self.home))
        with (self.home / "deskpilotd.out").open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "supervisor.daemon"], env=env, stdout=log, stderr=log
            )
        eventually(self._serving, timeout=timeout, interval=0.05)
        return self

    def _serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"deskpilotd exited: {self.output()}")
        if locate(self.paths.state_dir) is None:
            return False
        try:
            with self.http() as client:
                return client.get("/health").status_code == 200
        except (httpx.HTTPError, OSError, AssertionError):
            return False

    def http(self, timeout: float = 10.0) -> httpx.Client:
        endpoint = locate(self.paths.state_dir)
        assert endpoint is not None, "deskpilotd advertises no API endpoint"
        token = token_path(self.paths.config_dir).read_text().strip()
        return httpx.Client(
            transport=endpoint.http_transport(),
            base_url=endpoint.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def output(self) -> str:
        with contextlib.suppress(OSError):
            return (self.home / "deskpilotd.out").read_text(errors="replace")[-4000:]
        return ""

    def drop(self, name: str, text: str) -> None:
        """Write a file into the watched folder the way an editor saves: whole, then renamed."""
        partial = self.paths.workflows_dir / f".{name}.partial"
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, self.paths.workflows_dir / name)

    def workflows(self) -> dict[str, dict[str, object]]:
        with self.http() as client:
            return {Path(w["path"]).name: w for w in client.get("/workflows").json()}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.home, ignore_errors=True)


@dataclass(frozen=True)
class Lag:
    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, latencies: list[float]) -> Lag:
        ordered = sorted(latencies)
        assert ordered, "/health never answered"
        return cls(
            samples=len(ordered),
            p50_ms=statistics.median(ordered) * 1000,
            p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
            max_ms=ordered[-1] * 1000,
        )

    def row(self) -> str:
        return f"{self.samples:>8} {self.p50_ms:>8.1f} {self.p99_ms:>8.1f} {self.max_ms:>8.1f}"


class HealthProbe:
    """Calls ``/health`` back to back from its own process and keeps every latency.

    A process of its own, so the test's threads (writing files, reading
    ``/workflows``) cannot delay it: what it measures is the daemon.
    """

    def __init__(self, daemon: DaemonProcess) -> None:
        self.daemon = daemon
        self.folder = Path(tempfile.mkdtemp(prefix="probe-", dir=daemon.home))
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> HealthProbe:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.hostile", str(self.daemon.home), str(self.folder)]
        )
        return self

    def count(self) -> int:
        """Answers so far (the probe reports them every 100)."""
        with contextlib.suppress(OSError, ValueError):
            return int((self.folder / "count").read_text() or 0)
        return 0

    def __exit__(self, *_exc: object) -> None:
        assert self.process is not None
        (self.folder / "stop").touch()
        self.process.wait(60)
        result = json.loads((self.folder / "result.json").read_text())
        self.latencies, self.failures = result["latencies"], result["failures"]

    def lag(self) -> Lag:
        return Lag.of(self.latencies)


def _probe(home: Path, folder: Path) -> None:
    """The probe process: ``/health`` until ``folder/stop`` appears, then ``result.json``."""
    daemon = DaemonProcess.__new__(DaemonProcess)
    daemon.home, daemon.paths = home, DeskpilotPaths.under(home)
    latencies: list[float] = []
    failures: list[str] = []
    stop = folder / "stop"
    with daemon.http(timeout=60) as client:
        while not stop.exists():
            started = time.perf_counter()
            try:
                status = client.get("/health").status_code
            except httpx.HTTPError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies.append(time.perf_counter() - started)
            if status != 200:
                failures.append(f"/health answered {status}")
            if len(latencies) % 100 == 0:
                (folder / "count").write_text(str(len(latencies)))
            time.sleep(0.002)
    partial = folder / "result.partial"
    partial.write_text(json.dumps({"latencies": latencies, "failures": failures}))
    os.replace(partial, folder / "result.json")


if __name__ == "__main__":
    _probe(Path(sys.argv[1]), Path(sys.argv[2]))
