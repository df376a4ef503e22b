"""``deskpilot submit`` with the step debugger: breakpoints and "run from here" through the
supervisor, answered from the command line (piped commands), on a real daemon and workers."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.helpers.daemon import RunningDaemon, write_workflow

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_submit_pauses_takes_commands_and_runs_from_here(
    api_daemon: RunningDaemon, deskpilot_cli: Cli, tmp_path: Path
) -> None:
    home = api_daemon.home
    flow = write_workflow(tmp_path, "cli-debugged")
    paused = deskpilot_cli(
        home, "submit", str(flow), "--break", "first", "--break-timeout", "30", "--wait", "--json",
        input="p\nset value=edited\nc\n",
    )  # fmt: skip
    assert paused.returncode == 0, paused.stderr
    first = json.loads(paused.stdout)
    assert first["outputs"] == {"echoed": "edited"}
    assert "paused before node 'first' (control.pass), step 1 [breakpoint]" in paused.stderr
    assert 'value = "hello"' in paused.stderr  # the rendered input, shown before the edit

    # run from 'second' in a worker: 'first' is not run again, its edited output is reused
    again = deskpilot_cli(home, "submit", str(flow), "--from", "second", "--wait", "--json", input="")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["trigger"] == f"rerun:{first['run_id']}"
    assert report["outputs"] == {"echoed": "edited"}
    assert list(report["nodes"]) == ["second"]
    # run from here with an input, a priority, a time limit and a pause timeout of its own
    changed = deskpilot_cli(
        home, "submit", str(flow), "--from", "second", "--of", first["run_id"],
        "--input", "word=changed",
        "--priority", "9", "--deadline", "60", "--break", "second", "--break-timeout", "30",
        "--wait", "--json", input="c\n",
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    report = json.loads(changed.stdout)
    assert "paused before node 'second'" in changed.stderr
    assert (report["inputs"]["word"], report["priority"]) == ("changed", 9)
    assert report["outputs"] == {"echoed": "edited"}  # 'first' replayed from the earlier run
    # the same from a run id alone: 'runs rerun RUN --node NODE'
    queued = deskpilot_cli(home, "runs", "rerun", first["run_id"][:10], "--node", "second", "--json")
    assert queued.returncode == 0, queued.stderr
    rerun_id = json.loads(queued.stdout)["run_id"]
    waited = json.loads(deskpilot_cli(home, "runs", "wait", rerun_id, "--json").stdout)
    assert (waited["outputs"], list(waited["nodes"])) == ({"echoed": "edited"}, ["second"])

    # a breakpoint saved in the file pauses a submitted run too
    flow.write_text(
        flow.read_text(encoding="utf-8").replace(
            "  first:\n    block: control.pass\n", "  first:\n    block: control.pass\n    break: true\n"
        ),
        encoding="utf-8",
    )
    saved = deskpilot_cli(
        home, "submit", str(flow), "--break-timeout", "30", "--wait", input="set value=saved\nc\n"
    )
    assert saved.returncode == 0, saved.stderr
    assert "paused before node 'first'" in saved.stderr
    assert "echoed: saved" in saved.stdout


def test_submit_without_wait_leaves_the_pause_to_the_window(
    api_daemon: RunningDaemon, deskpilot_cli: Cli, tmp_path: Path
) -> None:
    home = api_daemon.home
    flow = write_workflow(tmp_path, "cli-queued-debug")
    queued = deskpilot_cli(home, "submit", str(flow), "--break", "second", "--break-timeout", "0.5")
    assert queued.returncode == 0, queued.stderr
    assert "it pauses before second: answer in the window's debug panel" in queued.stdout
    run_id = queued.stdout.split()[2]
    # nobody answers: the pause times out into the history and the run goes on
    waited = deskpilot_cli(home, "runs", "wait", run_id[:10], "--timeout", "30", "--json")
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["status"] == "succeeded"
    with api_daemon.client() as client:
        pauses = [(e.kind, e.node_id) for e in client.run_events(run_id) if "node_" in e.kind]
        resumed = [e for e in client.run_events(run_id) if e.kind == "node_resumed"]
    assert ("node_paused", "second") in pauses
    assert resumed and resumed[0].data is not None and resumed[0].data.get("timed_out") is True
