"""A run resumed after its worker was SIGKILLed checks the focus as the first worker would have.

Real supervisor, real workers, a real SIGKILL, real Xvfb and two real
xterms (Debian's ``xterm``).  The flow launches xterm A (its window becomes
the one the next keys must reach), waits for a file, then types into the
focused window without naming one.  While the worker waits, xterm B opens
and takes the focus, and the worker is killed.  On the first worker the
typing would be refused (B took the focus since A was launched); the
resumed run replays the launch from history, its memory of A with it, so
the typing is refused there too, naming both windows, and B gets nothing.
Before the memory was recorded, the resumed run typed into B and succeeded.
With A focused instead, the resumed run types into A.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from automation.blocks.desktop.windows import list_windows
from automation.engine.events import RunStatus
from tests.integration.supervisor.harness import Xterms, wait_for

pytestmark = pytest.mark.timeout(90)

NODES = """\
nodes:
  launch:
    block: app.launch
    with: {{command: [xterm, -T, {a}], window: "^{a}$", timeout: 30}}
  wait:
    block: file.wait
    with: {{path: go.txt, timeout: 60}}
  type:
    block: keyboard.type
    retry: 1
    with: {{text: "echo typed > {typed}\\n"}}
links: [launch -> wait, wait -> type]
"""


def _window(title: str) -> int | None:
    return next((w.id for w in list_windows(f"^{title}$", include_hidden=False)), None)


@pytest.mark.parametrize("focused", ["other", "launched"])
def test_resumed_keys_are_held_to_the_window_the_finished_steps_acted_on(
    start_supervisor, xterms: Xterms, tmp_path: Path, focused: str
) -> None:
    harness = start_supervisor()
    a, b = xterms.title("A"), xterms.title("B")
    typed = tmp_path / "typed.txt"
    run_id = harness.submit(harness.flow("resume-focus", NODES.format(a=a, typed=typed)))

    def waiting() -> bool | None:
        steps = harness.store.steps(run_id)
        return any(s.node_id == "wait" and str(s.status) == "running" for s in steps) or None

    wait_for(waiting, timeout=30)
    b_process = subprocess.Popen(["xterm", "-T", b], stderr=subprocess.DEVNULL)
    try:
        b_id = wait_for(lambda: _window(b), timeout=20)
        a_id = _window(a)
        assert a_id is not None
        chosen = b_id if focused == "other" else a_id
        subprocess.run(["xdotool", "windowfocus", "--sync", str(chosen)], check=True, timeout=10)
        harness.kill_worker(run_id)
        (harness.workflows / "go.txt").touch()
        record = harness.wait_terminal(run_id, timeout=60)
    finally:
        b_process.kill()
        b_process.wait()
    steps = [(s.node_id, s.attempt, s.failure) for s in harness.store.steps(run_id)]
    assert ("wait", 1, "interrupted") in steps, steps
    if focused == "other":
        assert record.status is RunStatus.FAILED, "the resumed run typed into another window"
        error = record.error or ""
        assert f"'{b}'" in error and f"'{a}'" in error, error
        assert "the window node 'launch' acted on" in error, error
        assert not typed.exists(), "B got the keys"
    else:
        assert record.status is RunStatus.SUCCEEDED, record.error
        wait_for(lambda: typed.exists() or None, timeout=10)
