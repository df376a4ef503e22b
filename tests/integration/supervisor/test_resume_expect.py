"""Resume checks postconditions: a desktop step cut short by SIGKILL is repeated only if needed.

Real supervisor, real worker processes, a real SIGKILL, real Xvfb and xterm
(Debian's ``xterm``).  The step is a real ``app.launch`` whose ``expect``
names the xterm window:

* held: the step started xterm and then hung (it waits for a window title
  that never comes, as a step stuck after its effect would) when the worker
  is killed; on resume the window is there, so the step is not run again:
  one xterm, and the history says "postcondition held: not repeated";
* not held: the worker is killed before the step's effect (the first time,
  its command only waits); on resume the window is not there, so the step
  runs again, and this time it starts xterm.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.blocks.desktop.windows import list_windows
from automation.engine.events import RunStatus
from tests.integration.supervisor.harness import Xterms, kill_noted, lines, wait_for

pytestmark = pytest.mark.timeout(120)

NODES = """\
nodes:
  launch:
    block: app.launch
    timeout: 60
    with:
      command: {command}
      window: "{wait_title}"
      timeout: 50
      expect:
        window: {{title: "^{title}$"}}
        timeout: {expect_timeout}
  after:
    block: file.append
    with: {{path: after.txt, content: "after {{{{ nodes.launch.title }}}}\\n"}}
links:
  - launch -> after
"""


def _windows(title: str) -> list[int]:
    return [w.id for w in list_windows(f"^{title}$", include_hidden=False)]


def _decisions(harness, run_id: str) -> list[tuple[str, bool]]:
    return [
        (e.data["resume_check"], e.data["repeated"])
        for e in harness.store.events(run_id, limit=None)
        if e.data and "resume_check" in e.data
    ]


def test_step_whose_postcondition_held_is_not_run_again(start_supervisor, xterms: Xterms) -> None:
    harness = start_supervisor()
    title = xterms.title("Held")
    nodes = NODES.format(
        command=f"[xterm, -T, {title}]",
        wait_title="^a title that never comes$",
        title=title,
        expect_timeout=5,
    )
    run_id = harness.submit(harness.flow("resume-held", nodes))
    # the step's effect happened: xterm's window is up; the step itself is still running
    wait_for(lambda: _windows(title) or None, timeout=30)
    assert harness.run(run_id).status is RunStatus.RUNNING
    harness.kill_worker(run_id)

    record = harness.wait_terminal(run_id, timeout=60)
    assert record.status is RunStatus.SUCCEEDED, record.error
    assert len(_windows(title)) == 1, "the launch was repeated: a second xterm opened"
    assert _decisions(harness, run_id) == [("held", False)]
    launch = [s for s in harness.store.steps(run_id) if s.node_id == "launch"]
    assert [(s.attempt, str(s.status), s.failure) for s in launch] == [
        (1, "failed", "interrupted"),
        (2, "succeeded", None),
    ]
    workdir = harness.workflows
    # the launch was not run again, yet its outputs are there: the window its expect names
    assert lines(workdir / "after.txt") == [f"after {title}"]
    message = next(
        e.message for e in harness.store.events(run_id) if e.data and "resume_check" in e.data
    )
    assert "postcondition held: not repeated" in (message or "")


def test_step_whose_postcondition_did_not_hold_runs_again(start_supervisor, xterms: Xterms) -> None:
    harness = start_supervisor()
    title = xterms.title("Fresh")
    started = harness.workflows / "started.txt"
    # Each run of the step notes its pid; the first then waits without doing anything
    # (its effect never happens), the second starts xterm.
    script = (
        f"echo $$ >> {started}; "
        f"if [ $(wc -l < {started}) -gt 1 ]; then exec xterm -T {title}; fi; exec sleep 60"
    )
    nodes = NODES.format(
        command=f'[sh, -c, "{script}"]',
        wait_title=f"^{title}$",
        title=title,
        expect_timeout=1,
    )
    run_id = harness.submit(harness.flow("resume-not-held", nodes))
    try:
        wait_for(lambda: started.exists() or None, timeout=30)
        harness.kill_worker(run_id)
        assert _windows(title) == []
        record = harness.wait_terminal(run_id, timeout=60)
    finally:
        kill_noted(lines(started)[:1])  # the first run's shell, still waiting
    assert record.status is RunStatus.SUCCEEDED, record.error
    assert _decisions(harness, run_id) == [("not_held", True)]
    assert len(lines(started)) == 2, "the step was not run again"
    assert len(_windows(title)) == 1
    launch = [s for s in harness.store.steps(run_id) if s.node_id == "launch"]
    assert [(s.attempt, str(s.status)) for s in launch] == [(1, "failed"), (2, "succeeded")]


def test_a_desktop_run_on_wayland_without_x_fails_at_start_with_what_works(
    start_supervisor, plugin_path
) -> None:
    """The worker checks the session before the first step: one sentence, no traceback."""
    from tests.integration.supervisor.harness import worker_env

    display = next(n for n in range(150, 400) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    harness = start_supervisor(
        env={**worker_env(plugin_path), "DISPLAY": f":{display}", "WAYLAND_DISPLAY": "wayland-0"}
    )
    flow = "deskpilot: 1\nname: wl\nnodes:\n  click:\n    block: mouse.click\n"
    run_id = harness.submit(harness.workflow("wl", flow))
    record = harness.wait_terminal(run_id)
    assert record.status is RunStatus.FAILED
    error = record.error or ""
    assert error.startswith("this workflow drives the desktop, but cannot connect to the X display")
    assert "Wayland session" in error and "XWayland" in error
    assert harness.store.steps(run_id) == []  # failed before any step ran
