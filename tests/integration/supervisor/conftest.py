"""Fixtures of the supervisor fault tests; the machinery is in ``harness``.

``SUPTEST_FORK=1`` in the environment runs every in-process supervisor of
these tests with the fork-server launcher instead of one interpreter per
worker (the tests that need a particular launcher say so themselves).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.common import eventually
from tests.integration.supervisor.harness import (
    BASE_CONFIG,
    DaemonProcess,
    SupervisorThread,
    Xterms,
    describe,
    pid_gone,
    small_config,
    worker_env,
    write_plugin,
)


@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_plugin(tmp_path_factory.mktemp("supervisor-plugin"))


@pytest.fixture
def start_supervisor(
    tmp_path: Path, plugin_path: Path
) -> Iterator[Callable[..., SupervisorThread]]:
    """Start a supervisor with ``small_config(**overrides)``; stopped (and checked) at the end.

    ``env=`` replaces the workers' environment (by default they see the test blocks)."""
    started: list[SupervisorThread] = []

    def start(home: Path | None = None, **overrides: Any) -> SupervisorThread:
        rng = overrides.pop("rng", None)
        start_timeout = overrides.pop("worker_start_timeout", None)
        python = overrides.pop("python", None)
        fork = overrides.pop("fork", os.environ.get("SUPTEST_FORK") == "1")
        env = overrides.pop("env", None)
        busy_timeout = overrides.pop("busy_timeout", None)
        harness = SupervisorThread(
            home or tmp_path / f"home{len(started)}",
            small_config(**overrides),
            env=worker_env(plugin_path) if env is None else env,
            rng=rng,
            fork=fork,
            worker_start_timeout=start_timeout,
            python=python,
            busy_timeout=busy_timeout,
        )
        started.append(harness)
        return harness.start()

    yield start
    for harness in started:
        harness.stop()
    for harness in started:
        # every worker is gone once the supervisor stopped: none left running unsupervised
        for pid in harness.worker_pids():
            try:
                eventually(functools.partial(pid_gone, pid), timeout=10)
            except AssertionError:
                raise AssertionError(
                    f"worker {pid} outlived its supervisor: {describe(pid)}"
                ) from None


@pytest.fixture
def daemon_process(tmp_path: Path, plugin_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    made: list[DaemonProcess] = []

    def make(**options: Any) -> DaemonProcess:
        values = {k: v for k, v in BASE_CONFIG.items() if k != "breaker"}
        values.update(options)
        daemon = DaemonProcess(tmp_path / f"daemon{len(made)}", values, plugin_path)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.stop()


@pytest.fixture
def xterms(xvfb_display: Any) -> Iterator[Xterms]:
    """Every window with one of the titles it gave is killed after the test."""
    import contextlib
    import signal

    from automation.blocks.desktop.windows import list_windows

    made = Xterms()
    yield made
    for window in list_windows():
        if window.title in made.titles and window.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(window.pid, signal.SIGKILL)
