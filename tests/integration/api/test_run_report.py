"""One JSON shape for a run: ``run --json``, ``submit --wait --json``, ``runs show --json``
and ``runs wait --json`` all print the ``RunReport`` that ``deskpilot schema run`` publishes.

Real CLI processes, a real daemon with real workers, the real history file.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema

from supervisor.client import SupervisorClient
from supervisor.run_report import report_from_api, report_json
from supervisor.store import HistoryStore
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

    submitted = _json(
        deskpilot_cli(home, "submit", str(flow), "-i", "word=same", "--wait", "--json")
    )
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


def test_a_waiting_run_says_why_in_show_its_json_and_the_api(
    api_daemon: RunningDaemon, deskpilot_cli: Cli
) -> None:
    """A run queued for a machine no supervisor runs on, and one waiting out its restart
    delay: ``runs show``, ``runs show --json`` and ``GET /runs/{id}`` say the same.

    The daemon is shared: no supervisor row is added (the Machines panel's tests count
    them), and both runs are cancelled at the end.  ``tests/integration/api/test_machines``
    covers a machine whose supervisor went silent."""
    # rows as a submit on another machine and a restarting run would have written them
    store = HistoryStore.open(api_daemon.paths.database_url)
    try:
        now = store.clock.now()
        stranded_run = store.create_run(uuid.uuid4().hex, "away-report", target_host="desk-away")
        # restarting: queued again with its delay's end, which no claim may take before
        again_run = store.create_run(uuid.uuid4().hex, "restart-report", status="running")
        store.set_run_status(again_run.id, "interrupted")
        resume_at = now + timedelta(hours=1)
        store.set_run_status(again_run.id, "queued", not_before=resume_at)
    finally:
        store.close()
    try:
        _waiting_runs_say_why(api_daemon, deskpilot_cli, stranded_run.id, again_run.id, resume_at)
    finally:
        store = HistoryStore.open(api_daemon.paths.database_url)
        try:
            for run_id in (stranded_run.id, again_run.id):
                store.set_run_status(run_id, "cancelled")
        finally:
            store.close()


def _waiting_runs_say_why(
    api_daemon: RunningDaemon, deskpilot_cli: Cli, stranded: str, again: str, resume_at: datetime
) -> None:
    home = api_daemon.home
    why = "no supervisor on machine 'desk-away' has joined this database; it runs once one does"
    shown = deskpilot_cli(home, "runs", "show", stranded[:12])
    assert shown.returncode == 0, shown.stderr
    assert f"machine: desk-away; waiting: {why}" in shown.stdout
    assert "waiting to restart" not in shown.stdout
    printed = _json(deskpilot_cli(home, "runs", "show", stranded, "--json"))
    jsonschema.Draft202012Validator(_json(deskpilot_cli(home, "schema", "run"))).validate(printed)
    assert (printed["status"], printed["machine"], printed["waiting"]) == (
        "queued",
        "desk-away",
        why,
    )
    assert printed["not_before"] is None

    shown = deskpilot_cli(home, "runs", "show", again)
    assert shown.returncode == 0, shown.stderr
    # its end on this machine's clock (the database's is this one's here), to the second
    local = {
        (resume_at + timedelta(seconds=off)).astimezone().strftime("%H:%M:%S")
        for off in (-2, -1, 0, 1, 2)
    }
    line = next(x for x in shown.stdout.splitlines() if "waiting to restart" in x)
    assert line.split(" (in ")[0].removeprefix("  waiting to restart until ") in local, line
    assert line.startswith("  waiting to restart until ") and line.endswith(" s)")
    assert 3500 <= int(line.split("(in ")[1].split()[0]) <= 3600
    again_json = _json(deskpilot_cli(home, "runs", "show", again, "--json"))
    assert again_json["waiting"] is None and again_json["machine"] is None
    assert again_json["not_before"] is not None

    with SupervisorClient(api_daemon.paths) as client:
        away = client.get_run(stranded).run
        restarting = client.get_run(again).run
        # the report built from the API is the one read from the store, value for value
        assert report_json(report_from_api(client, stranded)) == printed
        # but for its countdown, read a moment later
        from_api = report_json(report_from_api(client, again))
        assert {**from_api, "restart_in": 0} == {**again_json, "restart_in": 0}
    assert 3500 <= again_json["restart_in"] <= from_api["restart_in"] + 60 <= 3660
    assert printed["restart_in"] is None and again_json["running_for"] is None
    assert (away.target_host, away.waiting) == ("desk-away", why)
    assert restarting.waiting is None and restarting.not_before == resume_at
    assert restarting.restart_in is not None and 3500 <= restarting.restart_in <= 3600
    assert away.restart_in is None
