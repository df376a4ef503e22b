"""The supervisor's own routes: health, workers, metrics, OpenAPI, breakers, triggers, webhooks."""

from __future__ import annotations

import os
import time

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from automation.secrets import KeyringSecretStore
from supervisor.client import SupervisorApiError, SupervisorClient
from supervisor.webhook_signature import sign
from tests.helpers.common import eventually
from tests.helpers.daemon import FAILING_WORKFLOW, RunningDaemon, write_workflow

HEALTH_FIELDS = {
    "status",
    "accepting",
    "queue_depth",
    "running",
    "workers",
    "database",
    "breakers",
    "pid",
    "uptime_seconds",
    "version",
    "triggers",
}

METRICS = {
    "deskpilot_runs",
    "deskpilot_queue_depth",
    "deskpilot_runs_running",
    "deskpilot_workers",
    "deskpilot_worker_restarts",
    "deskpilot_heartbeat_misses",
    "deskpilot_workers_started",
    "deskpilot_runs_finished",
    "deskpilot_breakers_open",
    "deskpilot_event_subscribers",
    "deskpilot_uptime_seconds",
    "deskpilot_step_duration_seconds",
    "deskpilot_runs_ended",
    "deskpilot_breaker_open",
    "deskpilot_supervisors",
    "deskpilot_supervisor_heartbeat_age_seconds",
    "deskpilot_oldest_queued_run_age_seconds",
}


@pytest.fixture(scope="module")
def finished_runs(
    api_daemon: RunningDaemon, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """One succeeded and one failed run, for the tests that look at what runs leave behind."""
    folder = tmp_path_factory.mktemp("flows")
    with api_daemon.client() as client:
        ok = client.submit(write_workflow(folder, "metered")).run_id
        bad = client.submit(write_workflow(folder, "always-fails", FAILING_WORKFLOW)).run_id
        for run_id in (ok, bad):
            assert client.wait(run_id, timeout=30).finished
    return {"succeeded": ok, "failed": bad}


def test_health_reports_workers_queue_and_database(
    api_http: httpx.Client, api_client: SupervisorClient
) -> None:
    body = api_http.get("/health").json()
    assert set(body) == HEALTH_FIELDS
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["accepting"] is True
    assert body["triggers"] is True
    assert body["pid"] == os.getpid()  # this test runs the daemon in a thread
    assert body["uptime_seconds"] > 0
    workers = eventually(lambda: api_client.health().workers, timeout=20)
    assert all(psutil.pid_exists(worker.pid) for worker in workers)


def test_workers_heartbeat(api_client: SupervisorClient) -> None:
    def beating() -> bool:
        return any(w.heartbeats > 0 and w.last_heartbeat for w in api_client.workers())

    eventually(beating, timeout=20)
    worker = api_client.workers()[0]
    assert worker.state in ("starting", "idle", "busy", "stopping")
    assert psutil.Process(worker.pid).is_running()


def test_metrics_parse_and_count_what_happened(
    api_http: httpx.Client, finished_runs: dict[str, str]
) -> None:
    response = api_http.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert set(families) >= METRICS
    runs = {s.labels["status"]: s.value for s in families["deskpilot_runs"].samples}
    assert runs["succeeded"] >= 1 and runs["failed"] >= 1
    steps = families["deskpilot_step_duration_seconds"].samples
    passed = [
        s for s in steps if s.name.endswith("_count") and s.labels.get("block") == "control.pass"
    ]
    assert passed and passed[0].value >= 2, "both control.pass steps of a run observed"
    finished = families["deskpilot_runs_finished"].samples[0].value
    assert finished >= 2


def test_the_openapi_document_is_valid_and_complete(api_client: SupervisorClient) -> None:
    document = api_client.openapi()
    try:
        from openapi_spec_validator import validate
    except ImportError:  # a dev dependency; the structural checks below still run
        assert document["openapi"].startswith("3.")
    else:
        validate(document)
    paths = document["paths"]
    expected = {
        "/health": {"get"},
        "/metrics": {"get"},
        "/runs": {"get", "post"},
        "/runs/{run_id}": {"get"},
        "/runs/{run_id}/events": {"get"},
        "/runs/{run_id}/cancel": {"post"},
        "/runs/{run_id}/rerun": {"post"},
        "/runs/{run_id}/wait": {"get"},
        "/runs/{run_id}/debug": {"get", "post"},
        "/runs/{run_id}/breakpoints": {"put"},
        "/events": {"get"},
        "/workflows": {"get"},
        "/triggers": {"get"},
        "/triggers/{key}/pause": {"post"},
        "/triggers/{key}/resume": {"post"},
        "/triggers/pause-all": {"post"},
        "/triggers/resume-all": {"post"},
        "/webhooks/{name}": {"post"},
        "/workers": {"get"},
        "/machines": {"get"},
        "/machines/{machine_id}": {"delete"},
        "/runs/{run_id}/artifacts/{artifact_id}": {"get"},
        "/breakers": {"get"},
        "/breakers/{workflow}/reset": {"post"},
        "/shutdown": {"post"},
    }
    assert {path: set(ops) for path, ops in paths.items()} == expected
    schemes = document["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    for path, operations in paths.items():
        for operation in operations.values():
            names = {name for item in operation.get("security", []) for name in item}
            if path == "/webhooks/{name}":
                assert names == {"WebhookSignature"}
            else:
                assert names == {"HTTPBearer"}, path
    submit = paths["/runs"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "SubmitRequest"
    )
    assert "RunDetail" in document["components"]["schemas"]


def test_breakers_are_listed_and_can_be_reset(
    api_daemon: RunningDaemon, api_client: SupervisorClient, finished_runs: dict[str, str]
) -> None:
    breakers = {b.workflow: b for b in api_client.breakers()}
    assert breakers["always-fails"].state == "closed"
    assert breakers["always-fails"].failures == 1

    def trip() -> None:
        sup = api_daemon.parts.supervisor
        breaker = sup.breaker("always-fails")
        while breaker.opened_at is None:
            breaker.record_failure(sup.clock())

    api_daemon.call(trip)
    tripped = {b.workflow: b for b in api_client.breakers()}["always-fails"]
    assert tripped.state == "open"
    assert tripped.reopens_in is not None and tripped.reopens_in > 0
    assert api_client.health().breakers == {"always-fails": "open"}

    with api_client.events() as stream:
        reset = api_client.reset_breaker("always-fails")
        closed = next(item for item in stream if item["kind"] == "breaker_closed")
    assert closed["workflow"] == "always-fails"
    assert (reset.state, reset.failures) == ("closed", 0)
    assert api_client.health().breakers == {}
    with pytest.raises(SupervisorApiError, match="has no circuit breaker") as caught:
        api_client.reset_breaker("never/ran")
    assert caught.value.status == 404


def test_the_catalog_lists_the_workflows_folder(api_client: SupervisorClient) -> None:
    workflows = {w.name: w for w in api_client.workflows()}
    # The daemon is shared, so other tests may have added workflows of their own.
    assert {"hooked", "nightly"} <= set(workflows)
    assert workflows["hooked"].valid and workflows["hooked"].triggers == 1
    assert workflows["nightly"].path is not None and workflows["nightly"].path.endswith(
        "nightly.yaml"
    )


def test_a_catalog_workflow_can_be_submitted_by_name(api_client: SupervisorClient) -> None:
    run_id = api_client.submit(workflow="hooked", inputs={"who": "the api"}).run_id
    result = api_client.wait(run_id, timeout=30)
    assert result.run.outputs == {"greeting": "hello the api"}


def test_triggers_pause_and_resume(api_client: SupervisorClient) -> None:
    triggers = {t.key: t for t in api_client.triggers()}
    assert {t.type for t in triggers.values()} == {"webhook", "schedule"}
    nightly = next(t for t in triggers.values() if t.workflow == "nightly")
    assert nightly.next_fire_at is not None and not nightly.paused
    try:
        [paused] = api_client.pause_trigger(nightly.key)
        assert paused.paused and paused.next_fire_at is None
        [resumed] = api_client.resume_trigger(nightly.key)
        assert not resumed.paused
        # armed once its newest recorded fire is read, on the store lane (off the loop)
        eventually(
            lambda: (
                next(t for t in api_client.triggers() if t.key == nightly.key).next_fire_at
                is not None
            )
        )
        by_workflow = api_client.pause_trigger("hooked")
        assert [t.workflow for t in by_workflow] == ["hooked"] and by_workflow[0].paused
        assert all(t.paused for t in api_client.pause_all())
        assert not any(t.paused for t in api_client.resume_all())
        with pytest.raises(
            SupervisorApiError, match="neither a trigger key nor a workflow"
        ) as caught:
            api_client.pause_trigger("nope:9")
        assert caught.value.status == 404
    finally:
        api_client.resume_all()


def test_webhooks_answer_to_their_signature_not_to_the_token(
    api_daemon: RunningDaemon, api_client: SupervisorClient, secret_store: KeyringSecretStore
) -> None:
    secret_store.set("hook_secret", "open sesame")
    now = int(time.time())

    def signed(body: bytes, secret: str = "open sesame", at: int = now) -> dict[str, str]:
        return {"X-Deskpilot-Signature": sign(secret, body, at)}

    with api_daemon.http(token="") as outsider:
        refused = [
            outsider.post("/webhooks/deploy", json={"who": "x"}),
            outsider.post("/webhooks/deploy", content=b"{}", headers=signed(b"{}", "guess")),
            outsider.post("/webhooks/deploy", content=b"{}", headers=signed(b"{ }")),
            outsider.post("/webhooks/deploy", content=b"{}", headers=signed(b"{}", at=now - 301)),
            outsider.post(
                "/webhooks/deploy", content=b"{}", headers={"X-Deskpilot-Signature": "t=x"}
            ),
            # unknown names get the very same answer: no 404-vs-401 oracle
            outsider.post("/webhooks/nothing-here", content=b"{}", headers=signed(b"{}")),
            outsider.post("/webhooks/nothing-here", json={}),
        ]
        assert {r.status_code for r in refused} == {401}
        assert len({r.json()["error"] for r in refused}) == 1
        assert "X-Deskpilot-Signature" in refused[0].json()["error"]
        # a bad body is only looked at once the signature holds
        assert outsider.post("/webhooks/nothing-here", content=b"[1, 2]").status_code == 401
        not_an_object = outsider.post(
            "/webhooks/deploy", content=b"[1, 2]", headers=signed(b"[1, 2]")
        )
        assert not_an_object.status_code == 422
        digits = b'{"n": ' + b"9" * 5000 + b"}"
        assert (
            outsider.post("/webhooks/deploy", content=digits, headers=signed(digits)).status_code
            == 422
        )
        # The webhook route is the only one a signature opens.
        assert outsider.get("/health", headers=signed(b"")).status_code == 401
        # a captured request cannot be replayed
        body = b'{"who": "once"}'
        headers = signed(body)
        first = outsider.post("/webhooks/deploy", content=body, headers=headers)
        assert first.status_code == 202
        again = outsider.post("/webhooks/deploy", content=body, headers=headers)
        assert again.status_code == 409 and "already accepted" in again.json()["error"]
        assert api_client.wait(first.json()["run_id"], timeout=30).finished
    with api_daemon.http() as insider:  # the API token is no substitute for the signature
        assert insider.post("/webhooks/deploy", json={}).status_code == 401

    accepted = api_client.webhook("deploy", "open sesame", {"who": "a webhook"})
    assert accepted.run_id is not None
    result = api_client.wait(accepted.run_id, timeout=30)
    assert result.run.trigger == "webhook:deploy"
    assert result.run.outputs == {"greeting": "hello a webhook"}
