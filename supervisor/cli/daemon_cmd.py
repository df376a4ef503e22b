"""``deskpilot supervisor start|stop|status``, ``triggers``, ``workers``.

Everything here goes through the supervisor's local API (``SupervisorClient``);
only starting and stopping also look at the daemon's instance lock, which
tells the truth even when the API does not answer.

Exported for ``supervisor.cli.main``: ``supervisor_group``, ``triggers_group``,
``workers_cmd`` (``submit`` lives in ``supervisor.cli.submit_cmd``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from supervisor.cli import output
from supervisor.errors import SupervisorError
from supervisor.instance_lock import LOCK_FILE, history_lock, read_lock_holder
from supervisor.paths import HOME_VARIABLE, DeskpilotPaths
from supervisor.stop_marker import mark_stopped

if TYPE_CHECKING:  # the API client and the daemon load when a command runs, not for '--help'
    from supervisor.api.models import Health, TriggerInfo
    from supervisor.client import SupervisorClient
    from supervisor.parts import DaemonParts


def _client(paths: DeskpilotPaths | None = None, *, local: bool = False) -> SupervisorClient:
    """A client of the chosen supervisor; ``local``: this machine's, whatever ``--api`` says
    (start, stop and status manage the daemon whose lock is here)."""
    from supervisor.client import SupervisorClient

    if local:
        return SupervisorClient(paths or _paths(), remote=None)
    return SupervisorClient(paths or _paths())


def _paths() -> DeskpilotPaths:
    return DeskpilotPaths.from_env()


def _lock_holder(paths: DeskpilotPaths) -> int | None:
    return read_lock_holder(paths.state_dir / LOCK_FILE)


def _pid_text(pid: int | None) -> str:
    return "pid unknown" if pid is None or pid < 0 else f"pid {pid}"


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


# -- supervisor start / stop / status ----------------------------------------------------


@click.group("supervisor")
def supervisor_group() -> None:
    """The background supervisor (deskpilotd): runs queued, scheduled and triggered workflows."""


@supervisor_group.command("start")
@click.option("--foreground", is_flag=True, help="Run in this terminal until Ctrl+C.")
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(1, 600),
    help="Seconds to wait for a background start.",
)
def start_cmd(foreground: bool, timeout: float) -> None:
    """Start the supervisor (in the background unless --foreground)."""
    paths = _paths().ensure()
    holder = _lock_holder(paths)
    if holder is not None:
        _wait_for_running(paths, holder, timeout)
    shared_file = history_lock(paths)
    if shared_file is not None:
        shared_file.check_free()  # another home's supervisor writes this SQLite file
    if foreground:
        _run_foreground(paths)
        return
    pid = _spawn(paths, timeout)
    output.line(f"supervisor started ({_pid_text(pid)}); log: {paths.log_dir / 'deskpilotd.log'}")


def _wait_for_running(paths: DeskpilotPaths, holder: int, timeout: float) -> None:
    """A supervisor holds the lock: it may be starting, so wait for its API, never start
    another. Exits 1 once it answers, as before (this command did not start it); returns
    if it stopped instead, so the caller starts one."""
    from supervisor.starting import wait_for_api

    if wait_for_api(paths, holder, timeout):
        raise SupervisorError(
            f"the supervisor is already running ({_pid_text(_lock_holder(paths) or holder)}); "
            "'deskpilot supervisor status' shows what it is doing"
        )


def _run_foreground(paths: DeskpilotPaths) -> None:
    def ready(parts: DaemonParts) -> None:
        output.line(f"supervisor running (pid {os.getpid()}); press Ctrl+C to stop it")

    import asyncio  # here: 'supervisor --help' does not pay for the event loop

    from supervisor.daemon import Daemon

    daemon = Daemon(paths)
    asyncio.run(daemon.serve(ready=ready))
    if daemon.stopped_because is not None:
        output.line(f"supervisor stopped: {daemon.stopped_because}")
        output.line("start it again to rejoin as a new machine")
    else:
        output.line("supervisor stopped")


def _spawn(paths: DeskpilotPaths, timeout: float) -> int:
    env = dict(os.environ)
    if env.get(HOME_VARIABLE):
        # The daemon runs from '/', so a relative home would point elsewhere.
        env[HOME_VARIABLE] = str(Path(env[HOME_VARIABLE]).expanduser().resolve())
    from supervisor.client import START_LOG, is_running, start_log_tail
    from supervisor.starting import lock_holder, start_unless_running

    deadline = time.monotonic() + timeout
    while True:
        process = start_unless_running(paths, env, requested_by="'deskpilot supervisor start'")
        if process is not None:
            break
        # another window or command started one since we looked (or one was stopping)
        _wait_for_running(paths, lock_holder(paths) or -1, max(1.0, deadline - time.monotonic()))
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise SupervisorError(
                f"the supervisor exited while starting (code {code}):\n{start_log_tail(paths)}"
            )
        if is_running(paths, timeout=1.0):
            # Detached on purpose: it outlives us, and we must not reap or warn about it.
            process.returncode = 0
            return process.pid
        time.sleep(0.1)
    raise SupervisorError(
        f"the supervisor (pid {process.pid}) did not answer within {timeout:g}s; "
        f"see {paths.log_dir / START_LOG} and {paths.log_dir / 'deskpilotd.log'}"
    )


@supervisor_group.command("stop")
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(1, 600),
    help="Seconds to wait for running steps to finish before signalling the process.",
)
def stop_cmd(timeout: float) -> None:
    """Stop the supervisor: running steps get their grace period, the rest resume next start."""
    paths = _paths()
    holder = _lock_holder(paths)
    if holder is None:
        output.line("supervisor is not running")
        return
    from supervisor.client import SupervisorUnavailable

    signalled = False
    try:
        with _client(paths, local=True) as client:
            client.shutdown()
    except SupervisorUnavailable:
        signalled = _terminate(holder)
    if not _wait_unlocked(paths, timeout) and not signalled:
        _terminate(holder)
        _wait_unlocked(paths, 15.0)
    still = _lock_holder(paths)
    if still is not None:
        raise SupervisorError(
            f"the supervisor ({_pid_text(still)}) did not stop; "
            f"look at {paths.log_dir / 'deskpilotd.log'}, or end it with 'kill -9 {still}'"
        )
    # the window and the tray offer to start it again rather than doing so by themselves
    mark_stopped(paths.state_dir, "deskpilot supervisor stop")
    output.line(f"supervisor stopped ({_pid_text(holder)})")


def _terminate(pid: int) -> bool:
    if pid <= 0:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    return True


def _wait_unlocked(paths: DeskpilotPaths, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _lock_holder(paths) is not None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


@supervisor_group.command("status")
@click.option("--json", "as_json", is_flag=True)
def status_cmd(as_json: bool) -> None:
    """Whether the supervisor runs, and what it is doing; exit 1 if it is not running."""
    paths = _paths()
    holder = _lock_holder(paths)
    health: Health | None = None
    if holder is not None:
        from supervisor.client import SupervisorUnavailable

        with contextlib.suppress(SupervisorUnavailable), _client(paths, local=True) as client:
            health = client.health()
    if as_json:
        # One shape whatever the state: "running" is always a boolean (the health's run
        # count used to overwrite it), and the health report sits under its own key.
        output.emit_json(
            {
                "running": holder is not None,
                "answering": health is not None,
                "pid": holder,
                "health": None if health is None else health.model_dump(mode="json"),
            }
        )
    elif holder is None:
        output.line("supervisor: not running")
    elif health is None:
        output.line(
            f"supervisor: {_pid_text(holder)} holds the lock but its API does not answer "
            "(starting or stopping?)"
        )
    else:
        _show_health(health)
    sys.exit(0 if health is not None else 1)


def _show_health(health: Health) -> None:
    output.line(
        f"supervisor: running (pid {health.pid}, up {_ago(health.uptime_seconds)}, "
        f"version {health.version})"
    )
    output.line(f"  status: {health.status}; database: {health.database}")
    output.line(
        f"  runs: {health.running} running, {health.queue_depth} queued; "
        f"{'accepting runs' if health.accepting else 'shutting down'}"
    )
    output.line(f"  triggers: {'on' if health.triggers else 'off'}")
    for name, state in health.breakers.items():
        output.line(f"  breaker {state}: {name}")
    output.line()
    _workers_table(health)


def _workers_table(health: Health) -> None:
    if not health.workers:
        output.line("no worker processes")
        return
    output.table(
        [
            (w.id, w.pid, w.state, w.run_id or "", w.heartbeats, _when(w.last_heartbeat))
            for w in health.workers
        ],
        ["worker", "pid", "state", "run", "heartbeats", "last heartbeat"],
    )


def _when(value: Any) -> str:
    return value.astimezone().strftime("%H:%M:%S") if value else ""


# -- workers ------------------------------------------------------------------------------


@click.command("workers")
@click.option("--json", "as_json", is_flag=True)
def workers_cmd(as_json: bool) -> None:
    """The supervisor's worker processes and their heartbeats."""
    with _client() as client:
        health = client.health()
    if as_json:
        output.emit_json([w.model_dump(mode="json") for w in health.workers])
        return
    _workers_table(health)


# -- triggers -----------------------------------------------------------------------------


@click.group("triggers")
def triggers_group() -> None:
    """Schedules, file watches, webhooks, hotkeys and chained workflows."""


def _triggers_table(triggers: list[TriggerInfo]) -> None:
    if not triggers:
        output.line("no triggers (workflows in the workflows folder declare them)")
        return
    rows = []
    for t in triggers:
        if t.enabled is False:
            state = "disabled"
        elif t.paused:
            state = f"paused ({t.paused_reason})" if t.paused_reason else "paused"
        else:
            state = "active"
        next_fire = (
            t.next_fire_at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if t.next_fire_at else ""
        )
        rows.append((t.key, t.type or "", t.spec or "", state, next_fire, t.last_error or ""))
    output.table(rows, ["trigger", "type", "when", "state", "next", "last error"])


@triggers_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def triggers_list(as_json: bool) -> None:
    """Every trigger of every workflow in the catalog."""
    with _client() as client:
        triggers = client.triggers()
    if as_json:
        output.emit_json([t.model_dump(mode="json") for t in triggers])
    else:
        _triggers_table(triggers)


def _change(key: str | None, every: bool, verb: str) -> None:
    if (key is None) == (not every):
        raise click.UsageError(f"give a trigger key or --all (not both) to {verb}")
    with _client() as client:
        if every:
            changed = client.pause_all() if verb == "pause" else client.resume_all()
            output.line(f"{verb}d every trigger ({len(changed)})")
        else:
            assert key is not None
            changed = client.pause_trigger(key) if verb == "pause" else client.resume_trigger(key)
            for trigger in changed:
                still = (
                    " (its workflow's breaker keeps it paused)"
                    if verb == "resume" and trigger.paused
                    else ""
                )
                output.line(f"{verb}d {trigger.key}{still}")


@triggers_group.command("pause")
@click.argument("key", required=False)
@click.option("--all", "every", is_flag=True, help="Pause every trigger.")
def triggers_pause(key: str | None, every: bool) -> None:
    """Pause a trigger (KEY is 'workflow:index', or a workflow name for all of its triggers).

    Manual runs still work while a trigger is paused."""
    _change(key, every, "pause")


@triggers_group.command("resume")
@click.argument("key", required=False)
@click.option("--all", "every", is_flag=True, help="Resume every trigger.")
def triggers_resume(key: str | None, every: bool) -> None:
    """Resume a paused trigger."""
    _change(key, every, "resume")
