"""Fixtures and helpers every test may use."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from automation.blocks.registry import BlockRegistry
from automation.clock import FakeClock

T = TypeVar("T")


def eventually(check: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.01) -> T:
    """Poll ``check`` until it returns a truthy value or ``timeout`` passes.

    Returns the value; on timeout re-raises the last assertion or fails.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except AssertionError as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            if last_error is not None:
                raise last_error
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def stop_processes(processes: list[subprocess.Popen[bytes]], timeout: float = 5.0) -> None:
    """SIGTERM each, the last started first; SIGKILL what has not exited ``timeout`` s later;
    close the pipes the test read from."""
    for process in reversed(processes):
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def registry() -> BlockRegistry:
    return BlockRegistry.with_builtins(plugins=False)


@pytest.fixture
def deskpilot_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated DESKPILOT_HOME for one test."""
    home = tmp_path / "deskpilot-home"
    home.mkdir()
    monkeypatch.setenv("DESKPILOT_HOME", str(home))
    yield home
