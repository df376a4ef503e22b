"""Runs through the API: submit, wait, list, inspect, stream, cancel, re-run, and bad input."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import httpx
import pytest

from supervisor.client import SupervisorApiError, SupervisorClient
from tests.helpers.common import eventually
from tests.helpers.daemon import RunningDaemon, write_workflow

LOGGING_WORKFLOW = """\
deskpilot: 1
name: {name}
nodes:
  start:
    block: control.pass
  say:
    block: notify.log
    with: {{message: "written to the run's log"}}
links:
  - start -> say
"""

SLOW_WORKFLOW = """\
deskpilot: 1
name: {name}
nodes:
  nap:
    block: control.delay
    with: {{seconds: 30}}
"""

INVALID_WORKFLOW = """\
deskpilot: 1
name: broken
nodes:
  mystery:
    block: no.such_block
"""


@pytest.fixture(scope="module")
def tiny_run(api_daemon: RunningDaemon, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One finished run of the tiny workflow, shared by the tests that only read it."""
    path = write_workflow(tmp_path_factory.mktemp("flows"), "tiny")
    with api_daemon.client() as client:
        run_id = client.submit(path, inputs={"word": "hi"}).run_id
        assert client.wait(run_id, timeout=30).finished
    return run_id


def test_a_submitted_run_succeeds_and_shows_in_the_history(
    api_client: SupervisorClient, tiny_run: str
) -> None:
    result = api_client.wait(tiny_run, timeout=30)
    assert result.finished
    assert result.run.workflow_name == "tiny"
    assert result.run.status == "succeeded"
    assert result.run.outputs == {"echoed": "hi"}
    assert result.run.trigger == "api"

    detail = api_client.get_run(tiny_run)
    assert [(s.node_id, s.status) for s in detail.steps] == [
        ("first", "succeeded"),
        ("second", "succeeded"),
    ]
    assert detail.steps[0].block == "control.pass"

    newest = api_client.list_runs(workflow="tiny", limit=1)
    assert [r.id for r in newest.runs] == [tiny_run]
    assert tiny_run not in [r.id for r in api_client.list_runs(status="failed").runs]


def test_runs_page_newest_first(api_client: SupervisorClient, tmp_path: Path) -> None:
    path = write_workflow(tmp_path, "paged")
    # Low priority, cancelled at the end if still going: only their place in the history
    # matters here.
    ids = [api_client.submit(path, priority=-5).run_id for _ in range(3)]
    first = api_client.list_runs(workflow="paged", limit=2)
    assert [r.id for r in first.runs] == [ids[2], ids[1]]
    assert first.next_before == ids[1]
    second = api_client.list_runs(workflow="paged", limit=2, before=first.next_before)
    assert [r.id for r in second.runs] == [ids[0]]
    assert second.next_before is None
    for run_id in ids:
        with contextlib.suppress(SupervisorApiError):  # already ended: forked workers are quick
            api_client.cancel(run_id)


def test_the_event_stream_follows_one_run_to_its_end_and_its_log_is_kept(
    api_client: SupervisorClient, tmp_path: Path
) -> None:
    path = write_workflow(tmp_path, "chatty", LOGGING_WORKFLOW)
    run_id = uuid.uuid4().hex
    with api_client.events(run_id=run_id) as stream:
        api_client.submit(path, run_id=run_id)
        items = list(stream)  # a one-run stream closes itself after the run
    kinds = [item["kind"] for item in items]
    assert kinds[0] == "run_queued"
    assert kinds[-1] == "run_status"
    assert items[-1]["status"] == "succeeded"
    engine = [k for k in kinds if k not in ("run_queued", "run_status")]
    assert engine[0] == "run_started"
    assert engine[-1] == "run_finished"
    assert engine.count("node_started") == engine.count("node_finished") == 2
    assert "log" in engine
    assert {item["run_id"] for item in items} == {run_id}

    stored = api_client.run_events(run_id)
    assert any(e.kind == "log" and e.message == "written to the run's log" for e in stored)
    last = max(e.seq for e in stored)
    assert api_client.run_events(run_id, after=last) == []


def test_the_unfiltered_stream_sends_heartbeats_and_unsubscribes(
    api_daemon: RunningDaemon, api_http: httpx.Client
) -> None:
    def subscribers() -> int:
        return api_daemon.call(lambda: api_daemon.parts.supervisor.bus.subscribers)

    before = subscribers()
    with api_http.stream("GET", "/events", params={"heartbeat": 0.5}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert subscribers() == before + 1
        lines = response.iter_lines()
        assert next(lines) == ": subscribed"
        assert ": keepalive" in (next(lines), next(lines), next(lines))
    eventually(lambda: subscribers() == before, timeout=10)


def test_a_stream_of_a_finished_run_ends_at_once(
    api_client: SupervisorClient, tiny_run: str
) -> None:
    with api_client.events(run_id=tiny_run) as stream:
        items = list(stream)
    assert items == [
        {"kind": "run_status", "run_id": tiny_run, "status": "succeeded", "error": None}
    ]


def test_cancelling_a_running_run(api_client: SupervisorClient, tmp_path: Path) -> None:
    run_id = api_client.submit(write_workflow(tmp_path, "sleepy", SLOW_WORKFLOW)).run_id
    eventually(lambda: api_client.get_run(run_id).run.status == "running", timeout=30)
    answer = api_client.cancel(run_id)
    assert answer.cancelled
    result = api_client.wait(run_id, timeout=20)
    assert result.finished and result.run.status == "cancelled"
    with pytest.raises(SupervisorApiError, match="already ended") as again:
        api_client.cancel(run_id)
    assert again.value.status == 409


def test_rerunning_a_finished_run(api_client: SupervisorClient, tiny_run: str) -> None:
    again = api_client.rerun(tiny_run, "start").run_id
    current = api_client.rerun(tiny_run, "current").run_id  # the file, as it is now
    for run_id in (again, current):
        result = api_client.wait(run_id, timeout=30)
        assert result.run.status == "succeeded"
        assert result.run.trigger == f"rerun:{tiny_run}"
        assert result.run.outputs == {"echoed": "hi"}


def test_an_invalid_workflow_is_a_422_with_its_issues(
    api_client: SupervisorClient, api_http: httpx.Client, tmp_path: Path
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(INVALID_WORKFLOW, encoding="utf-8")
    response = api_http.post("/runs", json={"path": str(path)})
    assert response.status_code == 422
    body = response.json()
    assert "broken.yaml:5:5: mystery.block: unknown block 'no.such_block'" in body["error"]
    assert any(issue["node"] == "mystery" for issue in body["issues"])
    with pytest.raises(SupervisorApiError) as caught:
        api_client.submit(path)
    assert caught.value.status == 422
    assert caught.value.issues and "no.such_block" in caught.value.issues[0].message


def test_unknown_runs_are_404(api_http: httpx.Client) -> None:
    for method, url in [
        ("GET", "/runs/nope"),
        ("GET", "/runs/nope/events"),
        ("GET", "/runs/nope/wait?timeout=0"),
        ("POST", "/runs/nope/cancel"),
        ("POST", "/runs/nope/rerun"),
    ]:
        response = api_http.request(method, url)
        assert response.status_code == 404, (method, url, response.text)
        assert "no run with id 'nope'" in response.json()["error"]


@pytest.mark.parametrize(
    ("method", "url", "body", "expected"),
    [
        ("GET", "/runs?status=bogus", None, "status"),
        ("GET", "/runs?limit=0", None, "limit"),
        ("GET", "/runs?before=nope", None, "before"),
        ("POST", "/runs", {}, "exactly one of"),
        ("POST", "/runs", {"path": "relative.yaml"}, "not an absolute path"),
        ("POST", "/runs", {"path": "/nonexistent/flow.yaml"}, "no such workflow file"),
        ("POST", "/runs", {"path": "/tmp"}, "is a folder"),
        ("POST", "/runs", {"path": "/dev/zero"}, "not a regular file"),
        ("POST", "/runs", {"path": "/x.yaml", "priority": 10**30}, "priority"),
        ("POST", "/runs", {"path": "/x.yaml", "surprise": 1}, "surprise"),
        ("POST", "/runs", {"workflow": "no-such-workflow"}, "no valid workflow named"),
        ("POST", "/runs/x/rerun", {"mode": "sideways"}, "mode"),
    ],
)
def test_bad_requests_are_4xx_with_a_message(
    api_http: httpx.Client, method: str, url: str, body: object, expected: str
) -> None:
    response = api_http.request(method, url, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert expected in response.text


def test_inputs_the_workflow_does_not_declare_are_refused(
    api_client: SupervisorClient, tiny_workflow: Path
) -> None:
    with pytest.raises(SupervisorApiError, match="unknown input 'colour'") as caught:
        api_client.submit(tiny_workflow, inputs={"colour": "red"})
    assert caught.value.status == 422


def test_a_chosen_run_id_cannot_be_reused(
    api_client: SupervisorClient, tiny_workflow: Path
) -> None:
    run_id = uuid.uuid4().hex
    api_client.submit(tiny_workflow, run_id=run_id)
    with pytest.raises(SupervisorApiError, match="already exists") as caught:
        api_client.submit(tiny_workflow, run_id=run_id)
    assert caught.value.status == 409
    api_client.wait(run_id, timeout=30)  # leave the shared daemon idle
