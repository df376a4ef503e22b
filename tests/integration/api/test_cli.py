"""``deskpilot supervisor start/status/stop``, ``submit --wait``, ``runs``, ``triggers`` and
``workers`` as a user runs them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import psutil

from supervisor.instance_lock import read_lock_holder
from tests.helpers.common import eventually
from tests.helpers.daemon import FAILING_WORKFLOW, RunningDaemon, short_home, write_workflow

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_background_supervisor_lifecycle_from_the_command_line(
    deskpilot_cli: Cli, tmp_path: Path
) -> None:
    home = short_home("dp-cli-")
    lock = home / "state" / "deskpilotd.lock"
    pid: int | None = None
    try:
        started = deskpilot_cli(home, "supervisor", "start")
        assert started.returncode == 0, started.stderr
        found = re.search(r"supervisor started \(pid (\d+)\)", started.stdout)
        assert found, started.stdout
        pid = int(found.group(1))
        assert read_lock_holder(lock) == pid
        assert os.getsid(pid) == pid, "detached: it leads a session of its own"

        again = deskpilot_cli(home, "supervisor", "start")
        assert again.returncode == 1
        assert f"already running (pid {pid})" in again.stderr

        status = deskpilot_cli(home, "supervisor", "status")
        assert status.returncode == 0, status.stderr
        assert f"supervisor: running (pid {pid}" in status.stdout
        assert "database: ok" in status.stdout
        status_json = json.loads(deskpilot_cli(home, "supervisor", "status", "--json").stdout)
        assert status_json["running"] is True and status_json["answering"] is True
        assert status_json["pid"] == pid and status_json["health"]["running"] == 0

        flow = write_workflow(tmp_path, "tiny")
        waited = deskpilot_cli(home, "submit", str(flow), "--input", "word=cli", "--wait", "--json")
        assert waited.returncode == 0, waited.stderr
        result = json.loads(waited.stdout)
        assert result["status"] == "succeeded"
        assert result["outputs"] == {"echoed": "cli"}
        assert [s["node_id"] for s in result["steps"]] == ["first", "second"]

        failing = write_workflow(tmp_path, "always-fails", FAILING_WORKFLOW)
        failed = deskpilot_cli(home, "submit", str(failing), "--wait")
        assert failed.returncode == 1, failed.stderr
        assert "always-fails: failed" in failed.stdout
        assert "failed on purpose" in failed.stdout + failed.stderr
        assert "boom started" in failed.stderr, "progress is shown while waiting"

        stopped = deskpilot_cli(home, "supervisor", "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert f"supervisor stopped (pid {pid})" in stopped.stdout
        assert read_lock_holder(lock) is None
        gone = pid
        eventually(lambda: not psutil.pid_exists(gone) or psutil.Process(gone).status() == "zombie")
        assert not (home / "state" / "api.sock").exists()

        after = deskpilot_cli(home, "supervisor", "status", "--json")
        assert after.returncode == 1
        assert json.loads(after.stdout) == {
            "running": False,
            "answering": False,
            "pid": None,
            "health": None,
        }
        pid = None
    finally:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)


def test_commands_that_need_the_supervisor_say_how_to_start_it(deskpilot_cli: Cli) -> None:
    home = short_home("dp-cli-")
    try:
        workers = deskpilot_cli(home, "workers")
        assert workers.returncode == 1
        assert "not running" in workers.stderr
        assert "deskpilot supervisor start" in workers.stderr
        assert "Traceback" not in workers.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)


WAITS_FOR_A_FILE = """\
deskpilot: 1
name: cli-waits
nodes:
  gate:
    block: file.wait
    with: {path: never-there, timeout: 120, poll_interval: 0.05}
"""


def test_runs_triggers_and_workers_commands_against_a_running_supervisor(
    api_daemon: RunningDaemon, deskpilot_cli: Cli, tmp_path: Path
) -> None:
    home = api_daemon.home
    flow = tmp_path / "cli-waits.yaml"
    flow.write_text(WAITS_FOR_A_FILE, encoding="utf-8")
    with api_daemon.client() as client:
        run_id = client.submit(flow).run_id
        eventually(lambda: client.get_run(run_id).run.status == "running", timeout=30)

    prefix = run_id[:7]  # a unique prefix is enough, as with git's commit ids
    waited = deskpilot_cli(home, "runs", "wait", prefix, "--timeout", "0.5")
    assert waited.returncode == 2, waited.stderr
    assert f"run {run_id} is still running" in waited.stdout

    cancelled = deskpilot_cli(home, "runs", "cancel", prefix)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"cancelled run {run_id}" in cancelled.stdout
    ended = deskpilot_cli(home, "runs", "wait", run_id, "--json")
    assert ended.returncode == 1, ended.stderr
    result = json.loads(ended.stdout)
    assert result["finished"] is True and result["status"] == "cancelled"
    again = deskpilot_cli(home, "runs", "cancel", run_id)
    assert again.returncode == 1 and "already ended" in again.stderr
    assert "Traceback" not in again.stderr
    unknown = deskpilot_cli(home, "runs", "cancel", "zz")
    assert unknown.returncode == 1 and "no run with id 'zz'" in unknown.stderr

    rerun = deskpilot_cli(home, "runs", "rerun", prefix, "--json")
    assert rerun.returncode == 0, rerun.stderr
    second = json.loads(rerun.stdout)["run_id"]
    assert second != run_id and json.loads(rerun.stdout)["workflow"] == "cli-waits"
    assert deskpilot_cli(home, "runs", "cancel", second).returncode == 0

    listed = deskpilot_cli(home, "runs", "list", "--workflow", "cli-waits", "--json")
    assert [r["id"] for r in json.loads(listed.stdout)] == [second, run_id]
    table = deskpilot_cli(home, "runs", "list", "--workflow", "cli-waits").stdout
    [row] = [line for line in table.splitlines() if line.startswith(run_id)]
    assert "cli-waits" in row and "cancelled" in row, "a piped table never wraps a row"
    shown = deskpilot_cli(home, "runs", "show", run_id, "--json")
    assert json.loads(shown.stdout)["status"] == "cancelled"

    triggers = deskpilot_cli(home, "triggers", "list", "--json")
    assert triggers.returncode == 0, triggers.stderr
    assert {"hooked:0", "nightly:0"} <= {t["key"] for t in json.loads(triggers.stdout)}
    try:
        paused = deskpilot_cli(home, "triggers", "pause", "nightly:0")
        assert paused.returncode == 0 and "paused nightly:0" in paused.stdout, paused.stderr
        table = deskpilot_cli(home, "triggers", "list").stdout
        assert any(line.startswith("nightly:0") and "paused" in line for line in table.splitlines())
    finally:
        resumed = deskpilot_cli(home, "triggers", "resume", "nightly:0")
    assert resumed.returncode == 0 and "resumed nightly:0" in resumed.stdout, resumed.stderr
    [nightly] = [
        t
        for t in json.loads(deskpilot_cli(home, "triggers", "list", "--json").stdout)
        if t["key"] == "nightly:0"
    ]
    assert nightly["paused"] is False

    workflows = deskpilot_cli(home, "workflows", "list", "--json")
    assert workflows.returncode == 0, workflows.stderr
    assert {"hooked", "nightly"} <= {w["name"] for w in json.loads(workflows.stdout)}
    assert "nightly" in deskpilot_cli(home, "workflows", "list").stdout
    breakers = deskpilot_cli(home, "breakers", "list", "--json")
    assert breakers.returncode == 0 and isinstance(json.loads(breakers.stdout), list)
    reset = deskpilot_cli(home, "breakers", "reset", "cli-waits", "--json")
    assert reset.returncode == 0, reset.stderr
    assert json.loads(reset.stdout) | {"failures": 0} == {
        "workflow": "cli-waits",
        "state": "closed",
        "failures": 0,
        "reopens_in": None,
    }
    never = deskpilot_cli(home, "breakers", "reset", "nightly")
    assert never.returncode == 1 and "has not run yet" in never.stderr

    workers = deskpilot_cli(home, "workers", "--json")
    assert workers.returncode == 0, workers.stderr
    pids = {w["pid"] for w in json.loads(workers.stdout)}
    assert pids and all(psutil.pid_exists(pid) for pid in pids)


COUNTS = """\
deskpilot: 1
name: counts
inputs:
  n: {type: integer, required: true}
nodes:
  only:
    block: control.pass
    with: {value: "{{ inputs.n }}"}
outputs:
  doubled: "{{ nodes.only.value * 2 }}"
"""


def test_submit_reads_inputs_by_their_declared_type_as_run_does(
    api_daemon: RunningDaemon, deskpilot_cli: Cli, tmp_path: Path
) -> None:
    flow = tmp_path / "counts.yaml"
    flow.write_text(COUNTS, encoding="utf-8")
    home = api_daemon.home
    submitted = deskpilot_cli(home, "submit", str(flow), "--input", "n=5", "--wait", "--json")
    assert submitted.returncode == 0, submitted.stderr
    assert json.loads(submitted.stdout)["outputs"] == {"doubled": 10}
    ran = deskpilot_cli(home, "run", str(flow), "--input", "n=5", "--json")
    assert ran.returncode == 0, ran.stderr
    for command in ("submit", "run"):
        refused = deskpilot_cli(home, command, str(flow), "--input", "n=0.5")
        assert refused.returncode != 0
        assert "input 'n' must be of type integer, got '0.5'" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
