"""process.* and system.load against real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from automation.blocks import process as process_blocks
from automation.blocks.context import CancelToken
from automation.blocks.process import ProcessIsRunning, ProcessKill, ProcessRun, SystemLoad
from automation.blocks.registry import BlockRegistry
from automation.errors import BlockError, BlockInputError, StepCancelled, StepTimeout
from automation.testing import run_block
from tests.helpers.common import eventually

PY = sys.executable
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses sh and POSIX signals")


def gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class SleepWatch:
    """Collects this test process's descendants running ``sleep`` as they appear."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.found: dict[int, psutil.Process] = {}
        self.ready = threading.Event()

    def poll(self, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.ready.is_set():
            for child in psutil.Process().children(recursive=True):
                try:
                    if child.name() == "sleep":
                        self.found.setdefault(child.pid, child)
                except psutil.NoSuchProcess:
                    continue
            if len(self.found) >= self.count:
                self.ready.set()
            time.sleep(0.01)

    def all_gone(self) -> bool:
        return all(gone(p) for p in self.found.values())

    def kill_leftovers(self) -> None:
        for proc in self.found.values():
            if not gone(proc):
                proc.kill()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "30"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_blocks_register():
    registry = BlockRegistry()
    registry.register_module(process_blocks)
    assert registry.ids() == ["process.is_running", "process.kill", "process.run", "system.load"]
    assert registry["process.run"].idempotent is False
    assert registry["process.kill"].idempotent is False


# -- process.run -----------------------------------------------------------------------


def test_run_captures_output_exit_code_and_pid(tmp_path):
    code = "import os,sys; print('hello'); print('warn', file=sys.stderr); print(os.getpid())"
    out = run_block(ProcessRun, {"args": [PY, "-c", code]}, workflow_dir=tmp_path).last

    lines = out["stdout"].splitlines()
    assert lines[0] == "hello"
    assert int(lines[1]) == out["pid"]
    assert out["stderr"] == "warn\n"
    assert out["exit_code"] == 0
    assert out["duration"] > 0
    assert out["stdout_truncated"] is out["stderr_truncated"] is False


def test_non_zero_exit_fails_with_the_end_of_stderr(tmp_path):
    code = (
        "import sys\n"
        "for i in range(30): print(f'noise {i}', file=sys.stderr)\n"
        "print('FATAL: config missing', file=sys.stderr)\n"
        "sys.exit(3)"
    )

    with pytest.raises(BlockError) as caught:
        run_block(ProcessRun, {"args": [PY, "-c", code]}, workflow_dir=tmp_path)

    message = str(caught.value)
    assert "exited with code 3" in message
    assert "FATAL: config missing" in message
    assert "noise 29" in message and "noise 5\n" not in message
    assert PY in message


def test_non_zero_exit_is_an_output_when_check_is_off(tmp_path):
    out = run_block(
        ProcessRun,
        {"args": [PY, "-c", "raise SystemExit(4)"], "check": False},
        workflow_dir=tmp_path,
    ).last
    assert out["exit_code"] == 4


def test_stdin_env_and_cwd(tmp_path):
    (tmp_path / "work").mkdir()
    code = "import os,sys; print(sys.stdin.read().upper(), os.environ['DP_TEST'], os.getcwd())"

    out = run_block(
        ProcessRun,
        {"args": [PY, "-c", code], "stdin": "abc", "env": {"DP_TEST": "v1"}, "cwd": "work"},
        workflow_dir=tmp_path,
    ).last

    assert out["stdout"].split() == ["ABC", "v1", str(tmp_path / "work")]


def test_default_cwd_is_the_workflow_folder(tmp_path):
    out = run_block(
        ProcessRun, {"args": [PY, "-c", "import os; print(os.getcwd())"]}, workflow_dir=tmp_path
    ).last
    assert out["stdout"].strip() == str(tmp_path)


def test_shell_command(tmp_path):
    out = run_block(
        ProcessRun,
        {"command": "echo $DP_X | tr a-z A-Z", "shell": True, "env": {"DP_X": "piped"}},
        workflow_dir=tmp_path,
    ).last
    assert out["stdout"] == "PIPED\n"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"command": "ls"}, "set shell: true"),
        ({"args": ["ls"], "shell": True}, "give 'command'"),
        ({}, "give 'args'"),
    ],
)
def test_inconsistent_command_inputs_are_rejected(tmp_path, inputs, message):
    with pytest.raises(BlockInputError, match=message):
        run_block(ProcessRun, inputs, workflow_dir=tmp_path)


def test_missing_program_is_not_retryable(tmp_path):
    with pytest.raises(BlockError, match="'no-such-program-dp' was not found") as caught:
        run_block(ProcessRun, {"args": ["no-such-program-dp"]}, workflow_dir=tmp_path)
    assert caught.value.retryable is False


def test_missing_cwd_is_not_retryable(tmp_path):
    with pytest.raises(BlockError, match="does not exist") as caught:
        run_block(ProcessRun, {"args": ["true"], "cwd": "nowhere"}, workflow_dir=tmp_path)
    assert caught.value.retryable is False


def test_output_is_truncated_with_a_flag(tmp_path):
    code = "import sys; sys.stdout.write('x' * 200000); sys.stderr.write('e' * 10)"

    out = run_block(
        ProcessRun, {"args": [PY, "-c", code], "max_output": 1000}, workflow_dir=tmp_path
    ).last

    assert out["stdout"] == "x" * 1000
    assert out["stdout_truncated"] is True
    assert out["stderr"] == "e" * 10
    assert out["stderr_truncated"] is False


def test_timeout_kills_the_whole_process_tree(tmp_path):
    watch = SleepWatch(count=2)
    threading.Thread(target=watch.poll, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(StepTimeout, match="stopped together with every process"):
            run_block(
                ProcessRun,
                {"command": "sleep 30 & sleep 30", "shell": True, "timeout": 2},
                workflow_dir=tmp_path,
            )
        assert watch.ready.is_set(), "the command's sleeps never appeared"
        assert time.monotonic() - started < 10
        eventually(watch.all_gone, timeout=5)
    finally:
        watch.ready.set()
        watch.kill_leftovers()


def test_cancellation_kills_the_tree_and_raises_cancelled(tmp_path):
    watch = SleepWatch(count=2)
    token = CancelToken()

    def cancel_when_running() -> None:
        watch.poll()
        token.set()

    timer = threading.Timer(0.05, cancel_when_running)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(StepCancelled):
            run_block(
                ProcessRun,
                {"command": "sleep 30 & sleep 30", "shell": True},
                workflow_dir=tmp_path,
                cancel=token,
            )
        assert len(watch.found) >= 2
        assert time.monotonic() - started < 10
        eventually(watch.all_gone, timeout=5)
    finally:
        timer.cancel()
        watch.ready.set()
        watch.kill_leftovers()


def test_step_deadline_stops_the_command(tmp_path):
    started = time.monotonic()
    with pytest.raises(StepTimeout, match="past its deadline"):
        run_block(
            ProcessRun, {"args": ["sleep", "30"]}, workflow_dir=tmp_path, deadline=started + 0.5
        )
    assert time.monotonic() - started < 5


def in_session(sid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid and not gone(proc):
                found.append(proc)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            continue
    return found


def test_background_job_holding_output_does_not_hang_the_step(tmp_path):
    started = time.monotonic()
    result = run_block(
        ProcessRun,
        {"command": "echo started; sleep 30 &", "shell": True, "timeout": 20},
        workflow_dir=tmp_path,
    )
    left_running = in_session(result.last["pid"])  # the block gave the command its own session
    try:
        assert time.monotonic() - started < 10
        assert result.last["stdout"] == "started\n"
        assert any("still holds its output open" in message for _, message, _ in result.logs)
        assert [p.name() for p in left_running] == ["sleep"]  # a launched app keeps running
    finally:
        for proc in left_running:
            proc.kill()


# -- process.is_running / process.kill ---------------------------------------------------


def test_is_running_by_pid_and_by_name(sleeper):
    by_pid = run_block(ProcessIsRunning, {"pid": sleeper.pid}).last
    by_name = run_block(ProcessIsRunning, {"name": "SLE*"}).last
    by_cmdline = run_block(ProcessIsRunning, {"name": "sleep 30", "match_command_line": True}).last

    assert by_pid == {"running": True, "pids": [sleeper.pid]}
    assert sleeper.pid in by_name["pids"] and by_name["running"]
    assert sleeper.pid in by_cmdline["pids"]


def test_is_running_is_false_after_exit(sleeper):
    sleeper.kill()
    sleeper.wait()

    assert run_block(ProcessIsRunning, {"pid": sleeper.pid}).last == {"running": False, "pids": []}
    assert run_block(ProcessIsRunning, {"name": "no-such-proc-*"}).last["running"] is False


def test_is_running_never_matches_deskpilot_itself():
    me = psutil.Process()
    out = run_block(ProcessIsRunning, {"name": me.name()}).last
    assert me.pid not in out["pids"]


def test_select_needs_exactly_one_of_name_and_pid(sleeper):
    with pytest.raises(BlockInputError, match="either 'name' or 'pid'"):
        run_block(ProcessIsRunning, {"name": "sleep", "pid": sleeper.pid})
    with pytest.raises(BlockInputError, match="either 'name' or 'pid'"):
        run_block(ProcessKill, {})


def test_kill_by_pid_terminates(sleeper):
    out = run_block(ProcessKill, {"pid": sleeper.pid}).last

    assert out == {"killed": [sleeper.pid]}
    assert sleeper.wait(timeout=5) == -signal.SIGTERM


def test_kill_escalates_to_kill_after_the_grace_period(tmp_path):
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)"
    )
    stubborn = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE)
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
        started = time.monotonic()

        result = run_block(ProcessKill, {"pid": stubborn.pid, "grace": "300ms"})

        assert result.last == {"killed": [stubborn.pid]}
        assert stubborn.wait(timeout=5) == -signal.SIGKILL
        assert time.monotonic() - started >= 0.3
        assert any("ignored TERM" in message for _, message, _ in result.logs)
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
        stubborn.wait()
        assert stubborn.stdout is not None
        stubborn.stdout.close()


def test_kill_by_command_line_pattern_with_tree(tmp_path):
    marker = f"dp-kill-{os.getpid()}"
    parent = subprocess.Popen(["sh", "-c", f"sleep 30 & sleep 30; : {marker}"])
    watch = SleepWatch(count=2)
    try:
        watch.poll()
        out = run_block(
            ProcessKill, {"name": f"*{marker}*", "match_command_line": True, "tree": True}
        ).last

        assert parent.pid in out["killed"]
        assert set(watch.found) <= set(out["killed"])
        parent.wait(timeout=5)
        eventually(watch.all_gone, timeout=5)
    finally:
        watch.kill_leftovers()
        if parent.poll() is None:
            parent.kill()
        parent.wait()


def test_kill_with_nothing_matching(tmp_path):
    assert run_block(ProcessKill, {"name": "no-such-proc-*"}).last == {"killed": []}
    with pytest.raises(BlockError, match="no running process matches") as caught:
        run_block(ProcessKill, {"name": "no-such-proc-*", "missing_ok": False})
    assert caught.value.retryable is False


def test_kill_refuses_deskpilot_itself():
    with pytest.raises(BlockError, match="Deskpilot itself") as caught:
        run_block(ProcessKill, {"pid": os.getpid()})
    assert caught.value.retryable is False


# -- system.load -----------------------------------------------------------------------


def test_system_load_reports_plausible_numbers(tmp_path: Path):
    out = run_block(SystemLoad, {"interval": "100ms"}, workflow_dir=tmp_path).last

    assert 0 <= out["cpu_percent"] <= 100
    assert 0 < out["memory_percent"] < 100
    assert out["memory_available"] > 0
    assert 0 < out["disk_percent"] <= 100
    assert out["disk_free"] == psutil.disk_usage(str(tmp_path)).free or out["disk_free"] > 0
    assert len(out["load_average"]) == 3


def test_system_load_missing_path_is_not_retryable(tmp_path):
    with pytest.raises(BlockError, match="cannot read disk usage") as caught:
        run_block(SystemLoad, {"path": "missing"}, workflow_dir=tmp_path)
    assert caught.value.retryable is False
