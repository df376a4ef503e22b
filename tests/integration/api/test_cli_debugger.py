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
    again = deskpilot_cli(
        home, "submit", str(flow), "--from", "second", "--wait", "--json", input=""
    )
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
    queued = deskpilot_cli(
        home, "runs", "rerun", first["run_id"][:10], "--node", "second", "--json"
    )
    assert queued.returncode == 0, queued.stderr
    rerun_id = json.loads(queued.stdout)["run_id"]
    waited = json.loads(deskpilot_cli(home, "runs", "wait", rerun_id, "--json").stdout)
    assert (waited["outputs"], list(waited["nodes"])) == ({"echoed": "edited"}, ["second"])

    # a breakpoint saved in the file pauses a submitted run too
    flow.write_text(
        flow.read_text(encoding="utf-8").replace(
            "  first:\n    block: control.pass\n",
            "  first:\n    block: control.pass\n    break: true\n",
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


def test_rerun_from_a_rerun_from_here_in_a_worker_reuses_the_whole_chain(
    api_daemon: RunningDaemon, deskpilot_cli: Cli, tmp_path: Path
) -> None:
    """'runs rerun' takes --input, --priority and --deadline as 'submit' does and prints the
    run schema; a run from here of a run from here reuses what both reused or computed."""
    from supervisor.run_report import RunReport
    from tests.integration.test_cli_debugger import CHAIN

    home = api_daemon.home
    flow = tmp_path / "chain-worker.yaml"
    flow.write_text(CHAIN.format(name="chain-worker"), encoding="utf-8")
    start = deskpilot_cli(home, "submit", str(flow), "-i", "word=one", "--wait", "--json")
    assert start.returncode == 0, start.stderr
    first = json.loads(start.stdout)["run_id"]
    middle = deskpilot_cli(
        home, "runs", "rerun", first[:10], "--node", "second", "-i", "word=two", "-i", "count=5",
        "--priority", "7", "--deadline", "60", "--wait", "--json", input="",
    )  # fmt: skip
    assert middle.returncode == 0, middle.stderr
    report = json.loads(middle.stdout)
    assert (report["priority"], report["inputs"]) == (7, {"word": "two", "count": 5})
    assert list(report["nodes"]) == ["second", "third"]
    assert report["outputs"] == {"echoed": "third saw second saw one"}

    queued = deskpilot_cli(
        home, "runs", "rerun", report["run_id"][:10], "--node", "third", "--input", "word=x",
        "--json",
    )  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    shown = RunReport.model_validate(json.loads(queued.stdout))  # the one run schema
    assert shown.trigger == f"rerun:{report['run_id']}" and shown.inputs["word"] == "x"
    waited = json.loads(deskpilot_cli(home, "runs", "wait", shown.run_id, "--json").stdout)
    assert list(waited["nodes"]) == ["third"], "'first' and 'second' are reused, not run"
    assert waited["outputs"] == {"echoed": "third saw second saw one"}

    # an input is read by its declared type, as 'run' and 'submit' read it
    wrong = deskpilot_cli(home, "runs", "rerun", first[:10], "-i", "count=lots")
    assert wrong.returncode == 1 and "input 'count' must be of type integer" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    bad = deskpilot_cli(home, "runs", "rerun", first[:10], "-i", "count")
    assert bad.returncode == 2 and "'count' is not NAME=VALUE" in bad.stderr
