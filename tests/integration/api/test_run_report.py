"""One JSON shape for a run: ``run --json``, ``submit --wait --json``, ``runs show --json``
and ``runs wait --json`` all print the ``RunReport`` that ``deskpilot schema run`` publishes.

Real CLI processes, a real daemon with real workers, the real history file.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema

from supervisor.client import SupervisorClient
from tests.helpers.common import eventually
from tests.helpers.daemon import RunningDaemon, write_workflow

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def _shape(value: Any) -> Any:
    """The keys of a JSON value, all the way down (lists by their first item)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


def test_run_submit_show_and_wait_print_one_schema(
    api_daemon: RunningDaemon, deskpilot_cli: Cli, tmp_path: Path
) -> None:
    home = api_daemon.home
    schema = _json(deskpilot_cli(home, "schema", "run"))
    validator = jsonschema.Draft202012Validator(schema)
    flow = write_workflow(tmp_path, "report-shape")

    submitted = _json(deskpilot_cli(home, "submit", str(flow), "-i", "word=same", "--wait", "--json"))
    validator.validate(submitted)
    assert submitted["status"] == "succeeded" and submitted["finished"] is True
    assert submitted["outputs"] == {"echoed": "same"}
    assert [s["node_id"] for s in submitted["steps"]] == ["first", "second"]
    assert submitted["nodes"]["first"]["outputs"] == {"value": "same"}

    # the same run, read back by a prefix of its id: the same document, value for value
    short = submitted["run_id"][:8]
    assert _json(deskpilot_cli(home, "runs", "show", short, "--json")) == submitted
    assert _json(deskpilot_cli(home, "runs", "wait", short, "--json")) == submitted

    ran = _json(deskpilot_cli(home, "run", str(flow), "-i", "word=same", "--json"))
    validator.validate(ran)
    assert ran["run_id"] != submitted["run_id"]
    assert _shape(ran) == _shape(submitted)
    assert {k: ran[k] for k in ("workflow", "status", "inputs", "outputs")} == {
        k: submitted[k] for k in ("workflow", "status", "inputs", "outputs")
    }
    assert _json(deskpilot_cli(home, "runs", "show", ran["run_id"], "--json")) == ran


def test_a_failed_run_reports_its_node_in_the_same_shape(
    api_daemon: RunningDaemon, deskpilot_cli: Cli, tmp_path: Path
) -> None:
    home = api_daemon.home
    validator = jsonschema.Draft202012Validator(_json(deskpilot_cli(home, "schema", "run")))
    flow = tmp_path / "report-fails.yaml"
    flow.write_text(
        "name: report-fails\nnodes:\n  boom:\n    block: control.fail\n"
        "    with: {message: failed on purpose}\n",
        encoding="utf-8",
    )
    failed = deskpilot_cli(home, "submit", str(flow), "--wait", "--json")
    assert failed.returncode == 1
    report = json.loads(failed.stdout)
    validator.validate(report)
    assert (report["status"], report["failed_node"]) == ("failed", "boom")
    assert report["nodes"]["boom"]["status"] == "failed"
    assert "failed on purpose" in report["nodes"]["boom"]["error"]
    local = _json(deskpilot_cli(home, "run", str(flow), "--json"))
    validator.validate(local)
    assert _shape(local) == _shape(report)


def test_debugger_pauses_are_in_the_report_and_the_text_with_edited_names_only(
    api_daemon: RunningDaemon, api_client: SupervisorClient, deskpilot_cli: Cli, tmp_path: Path
) -> None:
    home = api_daemon.home
    validator = jsonschema.Draft202012Validator(_json(deskpilot_cli(home, "schema", "run")))
    assert "pauses" in validator.schema["properties"]
    path = write_workflow(tmp_path, "report-pauses")
    run_id = api_client.submit(path, inputs={"word": "plain"}, breakpoints=["first"]).run_id
    eventually(lambda: api_client.debug_state(run_id).node_id == "first", timeout=30)
    api_client.debug(run_id, "step", inputs={"value": "hunter2-typed-while-paused"})
    eventually(lambda: api_client.debug_state(run_id).node_id == "second", timeout=30)
    api_client.debug(run_id, "continue")
    assert api_client.wait(run_id, timeout=30).run.status == "succeeded"

    shown = deskpilot_cli(home, "runs", "show", run_id[:10], "--json")
    report = _json(shown)
    validator.validate(report)
    first, second = report["pauses"]
    assert (first["node_id"], first["reason"], first["ended"], first["edited"]) == (
        "first", "breakpoint", "stepped", ["inputs.value"],
    )  # fmt: skip
    assert (second["node_id"], second["reason"], second["ended"], second["edited"]) == (
        "second", "step", "continued", [],
    )  # fmt: skip
    assert first["waited"] > 0 and first["timeout"] > 0 and first["resumed_at"] is not None
    assert first["paused_at"] <= first["resumed_at"] <= second["paused_at"]
    assert "hunter2" not in json.dumps(report["pauses"])

    text = deskpilot_cli(home, "runs", "show", run_id[:10])
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    pauses = lines[lines.index("pauses:") + 1 :][:2]
    assert "before 'first' (breakpoint, step 1): stepped after" in pauses[0]
    assert pauses[0].endswith(", edited inputs.value")
    assert "before 'second' (step, step 2): continued after" in pauses[1]
    assert "hunter2" not in " ".join(pauses)  # the step's outputs show it; the pauses never


def test_a_pause_nobody_answered_reports_timed_out(
    api_daemon: RunningDaemon, api_client: SupervisorClient, deskpilot_cli: Cli, tmp_path: Path
) -> None:
    path = write_workflow(tmp_path, "report-forgotten")
    run_id = api_client.submit(path, breakpoints=["second"], pause_timeout=0.3).run_id
    assert api_client.wait(run_id, timeout=30).run.status == "succeeded"
    report = _json(deskpilot_cli(api_daemon.home, "runs", "show", run_id, "--json"))
    [pause] = report["pauses"]
    assert (pause["node_id"], pause["ended"], pause["timeout"]) == ("second", "timed_out", 0.3)
    assert pause["waited"] >= 0.3
