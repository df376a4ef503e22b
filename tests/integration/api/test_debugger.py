"""The step debugger through the API, on a real daemon with real worker processes.

Submit with a breakpoint, see the pause (state and event), inspect, edit,
step, continue; the run succeeds with the edited value.  A pause nobody
answers times out into the history; a pause outlives heartbeat leases and
the run's time limit; "run from here" replays what came before the node.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from supervisor.api.models import DebugState
from supervisor.client import SupervisorApiError, SupervisorClient
from tests.helpers.common import eventually
from tests.helpers.daemon import RunningDaemon, write_workflow


def _paused_at(client: SupervisorClient, run_id: str, node: str) -> DebugState:
    def check() -> DebugState | None:
        state = client.debug_state(run_id)
        return state if state.paused and state.node_id == node else None

    return eventually(check, timeout=30)


def _kinds(client: SupervisorClient, run_id: str) -> list[tuple[str, str | None]]:
    return [(e.kind, e.node_id) for e in client.run_events(run_id)]


def test_pause_inspect_edit_step_and_continue(api_client: SupervisorClient, tmp_path: Path) -> None:
    path = write_workflow(tmp_path, "debugged")
    run_id = api_client.submit(path, inputs={"word": "original"}, breakpoints=["first"]).run_id

    state = _paused_at(api_client, run_id, "first")
    assert state.reason == "breakpoint" and state.breakpoints == ["first"]
    assert state.inputs == {"value": "original"}  # rendered from {{ inputs.word }}
    assert state.seconds_left is not None and 0 < state.seconds_left <= 600
    # the pause is live at once; its event reaches the history with the recorder's next batch
    eventually(
        lambda: ("node_paused", "first") in _kinds(api_client, run_id), timeout=30, interval=0.1
    )

    after = api_client.debug(run_id, "step", inputs={"value": "edited"}, variables={"note": 1})
    assert not after.paused
    state = _paused_at(api_client, run_id, "second")
    assert (state.reason, state.pins) == ("step", {"value": "edited"})
    assert state.vars == {"note": 1}

    api_client.debug(run_id, "continue")
    run = api_client.wait(run_id, timeout=30).run
    assert run.status == "succeeded"
    assert api_client.get_run(run_id).steps[-1].outputs == {"value": "edited"}
    events = [e for e in api_client.run_events(run_id) if e.kind == "node_resumed"]
    assert [(e.node_id, (e.data or {}).get("edited")) for e in events] == [
        ("first", ["inputs.value", "vars.note"]),
        ("second", []),
    ]


def test_commands_need_a_paused_run_and_known_nodes(
    api_client: SupervisorClient, tmp_path: Path
) -> None:
    path = write_workflow(tmp_path, "typo")
    with pytest.raises(SupervisorApiError, match="no node 'frist'"):
        api_client.submit(path, breakpoints=["frist"])
    run_id = api_client.submit(path).run_id
    api_client.wait(run_id, timeout=30)
    with pytest.raises(SupervisorApiError, match="not paused"):
        api_client.debug(run_id, "continue")


def test_an_unanswered_pause_times_out_into_history_and_the_run_goes_on(
    api_client: SupervisorClient, tmp_path: Path
) -> None:
    path = write_workflow(tmp_path, "forgotten")
    run_id = api_client.submit(path, breakpoints=["first", "second"], pause_timeout=0.5).run_id
    run = api_client.wait(run_id, timeout=30).run
    assert run.status == "succeeded"
    [resumed] = [e for e in api_client.run_events(run_id) if e.kind == "node_resumed"]
    assert resumed.node_id == "first" and resumed.level == "warning"
    assert resumed.data is not None and resumed.data["timed_out"] is True
    assert "nobody answered the pause" in (resumed.message or "")
    assert ("node_paused", "second") not in _kinds(api_client, run_id)  # dropped with the timeout


def test_a_long_pause_is_neither_a_hang_nor_the_run_running_late(
    api_daemon: RunningDaemon, api_client: SupervisorClient, tmp_path: Path
) -> None:
    path = write_workflow(tmp_path, "patient")
    lease = api_daemon.parts.supervisor.config.lease
    run_id = api_client.submit(path, breakpoints=["second"], deadline_seconds=1.0).run_id
    _paused_at(api_client, run_id, "second")
    held = time.monotonic() + max(3 * lease, 1.5)  # past the lease and the run's time limit
    eventually(lambda: time.monotonic() >= held and api_client.debug_state(run_id).paused)
    api_client.debug(run_id, "continue")
    run = api_client.wait(run_id, timeout=30).run
    assert run.status == "succeeded", run.error
    assert not [e for e in api_client.run_events(run_id) if e.kind == "run_interrupted"]


def test_run_from_here_reuses_the_upstream_outputs(
    api_client: SupervisorClient, tmp_path: Path
) -> None:
    path = write_workflow(tmp_path, "again")
    first_id = api_client.submit(path, inputs={"word": "from history"}).run_id
    assert api_client.wait(first_id, timeout=30).run.status == "succeeded"

    rerun_id = api_client.rerun(first_id, "from_node", node="second", breakpoints=["second"]).run_id
    state = _paused_at(api_client, rerun_id, "second")
    assert state.pins == {"value": "from history"}
    api_client.debug(rerun_id, "continue")
    assert api_client.wait(rerun_id, timeout=30).run.status == "succeeded"
    kinds = _kinds(api_client, rerun_id)
    assert ("node_replayed", "first") in kinds
    steps = api_client.get_run(rerun_id).steps
    assert [s.node_id for s in steps] == ["second"]  # only the node run from, run again


def test_run_from_here_on_the_file_as_edited_since(
    api_client: SupervisorClient, tmp_path: Path
) -> None:
    path = write_workflow(tmp_path, "edited")
    first_id = api_client.submit(path, inputs={"word": "kept"}).run_id
    assert api_client.wait(first_id, timeout=30).run.status == "succeeded"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  second:\n    block: control.pass\n",
                                 "  second:\n    block: data.template\n"
                                 "    with: {text: \"{{ nodes.first.value }}, then edited\"}\n")
                    .replace("first.value -> second.value", "first -> second")
                    .replace("nodes.second.value", "nodes.second.text"),
                    encoding="utf-8")  # fmt: skip
    rerun_id = api_client.rerun(first_id, "from_node", node="second", path=path).run_id
    run = api_client.wait(rerun_id, timeout=30).run
    assert run.status == "succeeded", run.error
    assert run.outputs == {"echoed": "kept, then edited"}
    assert [s.node_id for s in api_client.get_run(rerun_id).steps] == ["second"]


SLOW_WORKFLOW = """\
deskpilot: 1
name: {name}
inputs:
  word: {{type: string, default: hello}}
  wait: {{type: number, default: 0}}
nodes:
  first:
    block: control.pass
    with: {{value: "{{{{ inputs.word }}}}"}}
  pause:
    block: control.delay
    with: {{seconds: "{{{{ inputs.wait }}}}"}}
  second:
    block: data.template
    with: {{text: "{{{{ nodes.first.value }}}} {{{{ inputs.word }}}}"}}
links:
  - first -> pause
  - pause -> second
outputs:
  echoed: "{{{{ nodes.second.text }}}}"
"""


def test_run_from_here_takes_new_inputs_priority_deadline_and_pause_timeout(
    api_client: SupervisorClient, tmp_path: Path
) -> None:
    """A re-run request changes inputs (as values or as text read by type), the priority,
    the time limit and the pause timeout; what it does not change is the earlier run's."""
    path = write_workflow(tmp_path, "changed", SLOW_WORKFLOW)
    first_id = api_client.submit(path, inputs={"word": "old"}, priority=3).run_id
    assert api_client.wait(first_id, timeout=30).run.status == "succeeded"

    rerun_id = api_client.rerun(
        first_id,
        "from_node",
        node="second",
        breakpoints=["second"],
        text_inputs={"word": "new"},
        priority=7,
        pause_timeout=42,
    ).run_id
    state = _paused_at(api_client, rerun_id, "second")
    assert state.seconds_left is not None and 30 < state.seconds_left <= 42
    api_client.debug(rerun_id, "continue")
    run = api_client.wait(rerun_id, timeout=30).run
    assert run.status == "succeeded", run.error
    # 'first' is replayed from history (its value stays "old"); the input is the new one
    assert run.outputs == {"echoed": "old new"}
    assert (run.inputs or {})["word"] == "new"
    assert run.priority == 7

    kept = api_client.rerun(first_id, "from_node", node="second").run_id
    run = api_client.wait(kept, timeout=30).run
    assert ((run.inputs or {})["word"], run.priority) == ("old", 3)
    assert run.outputs == {"echoed": "old old"}

    # the time limit applies to the new run: a 2 s delay under a 0.5 s limit fails it
    slow = api_client.rerun(
        first_id, "from_node", node="pause", inputs={"wait": 2}, deadline_seconds=0.5
    ).run_id
    run = api_client.wait(slow, timeout=30).run
    assert run.status != "succeeded" and run.status.terminal, run.status
    assert run.error is not None and "deadline" in run.error, run.error
    assert run.failed_node == "pause"
