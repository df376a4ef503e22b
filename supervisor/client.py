"""Talking to a running supervisor: the client the CLI, the tray and the GUI share.

One method per API route, answers parsed into the API's own models
(``supervisor.api.models``).  Its errors, and the messages that say what
to do about each, are ``supervisor.client_errors``'s (the hierarchy is drawn
there); the classes are re-exported here.

Which supervisor answers is ``supervisor.remote``'s choice: this machine's
(socket or loopback port, with the ``api-token`` file's token), or another
machine's API by URL, over TLS, with a token from the environment or keyring.
The token and the target are read on first use, so making a client is free
and never fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from automation.errors import DeskpilotError
from supervisor import webhook_signature as signature
from supervisor.api.endpoint import Endpoint, locate
from supervisor.api.models import (
    BreakerInfo,
    CancelResult,
    DebugState,
    EventInfo,
    Health,
    MachineForgotten,
    MachineInfo,
    RunDetail,
    RunPage,
    ShutdownAccepted,
    Submitted,
    TriggerInfo,
    TriggersChanged,
    WaitResult,
    WebhookAccepted,
    WorkerInfo,
    WorkflowInfo,
)
from supervisor.api.tokenfile import read_token, token_path

# re-exported: the errors' own module keeps the messages
from supervisor.client_errors import START_HINT as START_HINT
from supervisor.client_errors import SupervisorApiError as SupervisorApiError
from supervisor.client_errors import SupervisorAuthError as SupervisorAuthError
from supervisor.client_errors import SupervisorTlsError as SupervisorTlsError
from supervisor.client_errors import SupervisorUnavailable as SupervisorUnavailable
from supervisor.client_errors import SupervisorVersionMismatch as SupervisorVersionMismatch
from supervisor.client_errors import (
    local_unavailable,
    no_token,
    not_running,
    remote_unavailable,
    token_refused,
    version_mismatch,
)
from supervisor.interpreter import module_args
from supervisor.paths import DeskpilotPaths
from supervisor.remote import RemoteApi, check_transport_security, resolve

M = TypeVar("M", bound=BaseModel)
#: What starts a supervisor (a frozen app answers ``-m`` itself).
DAEMON_MODULE = "supervisor.daemon"
#: The detached supervisor's own stdout and stderr, in the log folder.
START_LOG = "deskpilotd.out"


class EventReader:
    """The items of an event stream, as dicts with a ``kind``, in order."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    def __iter__(self) -> Iterator[dict[str, Any]]:
        data: list[str] = []
        for line in self.response.iter_lines():
            if line.startswith(":"):
                continue
            if line == "":
                if data:
                    item = json.loads("\n".join(data))
                    data = []
                    if isinstance(item, dict):
                        yield item
                continue
            field, _, value = line.partition(":")
            if field == "data":
                data.append(value[1:] if value.startswith(" ") else value)


class SupervisorClient:
    """A synchronous client of a supervisor's API: this machine's (its Unix socket, or
    loopback TCP) or another machine's by URL.

    ``remote`` picks the target: ``"auto"`` (the default) resolves it as
    ``supervisor.remote.resolve`` says (``--api``, ``DESKPILOT_REMOTE``, the saved
    connection) on first use; None is this machine's supervisor; a ``RemoteApi`` is that one.
    """

    def __init__(
        self,
        paths: DeskpilotPaths | None = None,
        *,
        timeout: float = 10.0,
        remote: RemoteApi | None | Literal["auto"] = "auto",
    ) -> None:
        self.paths = paths or DeskpilotPaths.from_env()
        self.timeout = timeout
        #: Where the open connection goes (found when the first request is made).
        self.endpoint: Endpoint | None = None
        self._http: httpx.Client | None = None
        self._remote_resolved = remote != "auto"
        self._remote: RemoteApi | None = None if remote == "auto" else remote

    @property
    def remote(self) -> RemoteApi | None:
        """The remote API this client talks to; None: this machine's supervisor."""
        if not self._remote_resolved:
            self._remote = resolve(self.paths.config_dir, os.environ)
            self._remote_resolved = True
        return self._remote

    # -- plumbing -------------------------------------------------------------------------
    def _client(self) -> httpx.Client:
        if self._http is None and self.remote is not None:
            self._http = self._connect_remote(self.remote)
        if self._http is None:
            endpoint = locate(self.paths.state_dir)
            if endpoint is None:
                raise not_running(self.paths.state_dir)
            token = read_token(token_path(self.paths.config_dir))
            self._http = httpx.Client(
                transport=endpoint.http_transport(),
                base_url=endpoint.base_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
            )
            self.endpoint = endpoint
        return self._http

    def _connect_remote(self, remote: RemoteApi) -> httpx.Client:
        """A client for ``remote``, once its release is known to match this one."""
        check_transport_security(remote.url, os.environ)
        if remote.token is None:
            raise no_token(remote)
        client = httpx.Client(
            base_url=remote.url,
            headers={"Authorization": f"Bearer {remote.token}"},
            timeout=self.timeout,
            verify=remote.ssl_context() if remote.secure else True,
            trust_env=False,  # a proxy from the environment would see the token
        )
        try:
            health = Health.model_validate(self._send(client, "GET", "/health").json())
            theirs, ours = health.version, client_version()
            if not compatible_versions(theirs, ours):
                raise version_mismatch(remote.url, theirs, ours)
        except BaseException:
            client.close()
            raise
        return client

    @property
    def where(self) -> str:
        """The endpoint in use, or where one is looked for, for messages."""
        if self._remote is not None:
            return self._remote.url
        return str(self.endpoint) if self.endpoint else str(self.paths.state_dir)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> SupervisorClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _unavailable(self, exc: Exception) -> SupervisorUnavailable:
        if self._remote is not None:
            return remote_unavailable(self._remote, exc)
        return local_unavailable(self.where, exc)

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """One request; errors come back as ``SupervisorApiError`` / ``SupervisorUnavailable``."""
        return self._send(
            self._client(), method, url, json=json, params=params, headers=headers, timeout=timeout
        )

    def _send(
        self,
        client: httpx.Client,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = client.request(
                method,
                url,
                json=json,
                params=query,
                headers=headers,
                timeout=self.timeout if timeout is None else timeout,
            )
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from None
        if response.status_code >= 400:
            raise self._refused(response)
        return response

    def _refused(self, response: httpx.Response) -> SupervisorApiError:
        error = SupervisorApiError.from_response(response)
        if response.status_code == 401 and self._remote is not None:
            return token_refused(self._remote, error.body)
        return error

    def _get(self, url: str, model: type[M], **params: Any) -> M:
        return model.model_validate(self.request("GET", url, params=params).json())

    def _list(self, url: str, model: type[M], **params: Any) -> list[M]:
        data = self.request("GET", url, params=params).json()
        return TypeAdapter(list[model]).validate_python(data)  # type: ignore[valid-type]

    def _post(self, url: str, model: type[M], body: Any = None, **kwargs: Any) -> M:
        return model.model_validate(self.request("POST", url, json=body, **kwargs).json())

    # -- the supervisor ---------------------------------------------------------------------
    def health(self) -> Health:
        return self._get("/health", Health)

    def metrics(self) -> str:
        return self.request("GET", "/metrics").text

    def openapi(self) -> dict[str, Any]:
        data: dict[str, Any] = self.request("GET", "/openapi.json").json()
        return data

    def machines(self) -> list[MachineInfo]:
        """Every supervisor sharing the database, as this one sees them."""
        return self._list("/machines", MachineInfo)

    def forget_machine(self, machine_id: str, *, force: bool = False) -> MachineForgotten:
        """Forget a supervisor removed for good (``deskpilot machines forget``)."""
        response = self.request("DELETE", f"/machines/{_seg(machine_id)}", params={"force": force})
        return MachineForgotten.model_validate(response.json())

    def workers(self) -> list[WorkerInfo]:
        return self._list("/workers", WorkerInfo)

    def breakers(self) -> list[BreakerInfo]:
        return self._list("/breakers", BreakerInfo)

    def reset_breaker(self, workflow: str) -> BreakerInfo:
        return self._post(f"/breakers/{_seg(workflow)}/reset", BreakerInfo)

    def shutdown(self) -> ShutdownAccepted:
        return self._post("/shutdown", ShutdownAccepted)

    # -- runs ----------------------------------------------------------------------------
    def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> RunPage:
        return self._get(
            "/runs", RunPage, workflow=workflow, status=status, limit=limit, before=before
        )

    def get_run(self, run_id: str) -> RunDetail:
        return self._get(f"/runs/{_seg(run_id)}", RunDetail)

    def artifact(self, run_id: str, artifact_id: int) -> bytes:
        """An artifact's bytes, whichever machine made it (the history keeps a copy)."""
        return self.request("GET", f"/runs/{_seg(run_id)}/artifacts/{int(artifact_id)}").content

    def run_events(self, run_id: str, *, after: int = 0, limit: int = 1000) -> list[EventInfo]:
        return self._list(f"/runs/{_seg(run_id)}/events", EventInfo, after=after, limit=limit)

    def submit(
        self,
        path: str | Path | None = None,
        *,
        workflow: str | None = None,
        inputs: dict[str, Any] | None = None,
        text_inputs: dict[str, str] | None = None,
        priority: int = 0,
        deadline_seconds: float | None = None,
        run_id: str | None = None,
        breakpoints: Sequence[str] = (),
        pause_timeout: float | None = None,
        on: str | None = None,
    ) -> Submitted:
        """Queue a run of a workflow file (made absolute here) or of a catalog workflow.

        ``text_inputs`` are values written as text (``--input n=5``): the supervisor reads
        each by its declared type, as ``deskpilot run`` does.  ``on`` names the machine
        that must run it.
        """
        body: dict[str, Any] = {"inputs": inputs or {}, "priority": priority}
        if text_inputs:
            body["text_inputs"] = text_inputs
        if path is not None:
            body["path"] = str(Path(path).expanduser().absolute())
        if workflow is not None:
            body["workflow"] = workflow
        if deadline_seconds is not None:
            body["deadline_seconds"] = deadline_seconds
        if run_id is not None:
            body["run_id"] = run_id
        if breakpoints:
            body["breakpoints"] = list(breakpoints)
        if pause_timeout is not None:
            body["pause_timeout"] = pause_timeout
        if on is not None:
            body["on"] = on
        return self._post("/runs", Submitted, body)

    def cancel(self, run_id: str) -> CancelResult:
        return self._post(f"/runs/{_seg(run_id)}/cancel", CancelResult)

    def rerun(
        self,
        run_id: str,
        mode: Literal["start", "failed_node", "from_node", "current"] = "start",
        *,
        path: str | Path | None = None,
        node: str | None = None,
        breakpoints: Sequence[str] = (),
        inputs: Mapping[str, Any] | None = None,
        text_inputs: Mapping[str, str] | None = None,
        priority: int | None = None,
        deadline_seconds: float | None = None,
        pause_timeout: float | None = None,
        on: str | None = None,
    ) -> Submitted:
        """Run a finished run again; ``from_node`` with ``node`` is "run from here".

        ``inputs`` and ``text_inputs`` replace those of the earlier run's inputs;
        ``priority`` replaces its priority (by default the earlier run's).
        """
        body: dict[str, Any] = {"mode": mode}
        if inputs:
            body["inputs"] = dict(inputs)
        if text_inputs:
            body["text_inputs"] = dict(text_inputs)
        if priority is not None:
            body["priority"] = priority
        if deadline_seconds is not None:
            body["deadline_seconds"] = deadline_seconds
        if pause_timeout is not None:
            body["pause_timeout"] = pause_timeout
        if path is not None:
            body["path"] = str(Path(path).expanduser().absolute())
        if node is not None:
            body["node"] = node
        if breakpoints:
            body["breakpoints"] = list(breakpoints)
        if on is not None:
            body["on"] = on
        return self._post(f"/runs/{_seg(run_id)}/rerun", Submitted, body)

    # -- the step debugger --------------------------------------------------------------------
    def debug_state(self, run_id: str) -> DebugState:
        return self._get(f"/runs/{_seg(run_id)}/debug", DebugState)

    def debug(
        self,
        run_id: str,
        action: Literal["continue", "step", "abort"] = "continue",
        *,
        inputs: dict[str, Any] | None = None,
        variables: dict[str, Any] | None = None,
    ) -> DebugState:
        """Answer a paused run; ``inputs`` and ``variables`` replace values before it goes on."""
        body = {"action": action, "inputs": inputs or {}, "vars": variables or {}}
        return self._post(f"/runs/{_seg(run_id)}/debug", DebugState, body)

    def set_breakpoints(self, run_id: str, nodes: Sequence[str]) -> DebugState:
        data = self.request(
            "PUT", f"/runs/{_seg(run_id)}/breakpoints", json={"nodes": list(nodes)}
        ).json()
        return DebugState.model_validate(data)

    def wait(self, run_id: str, timeout: float = 30.0) -> WaitResult:
        """Block until the run ends or ``timeout`` passes (``finished`` tells which)."""
        response = self.request(
            "GET",
            f"/runs/{_seg(run_id)}/wait",
            params={"timeout": timeout},
            timeout=timeout + self.timeout,
        )
        return WaitResult.model_validate(response.json())

    @contextmanager
    def events(
        self,
        run_id: str | None = None,
        *,
        heartbeat: float | None = None,
        read_timeout: float = 60.0,
    ) -> Iterator[EventReader]:
        """Follow the live event stream; subscribed once this context is entered.

        A stream of one run ends after its final ``run_status`` item.
        """
        client = self._client()
        params = {
            k: v for k, v in {"run_id": run_id, "heartbeat": heartbeat}.items() if v is not None
        }
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        try:
            with client.stream("GET", "/events", params=params, timeout=timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._refused(response)
                yield EventReader(response)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from None

    # -- workflows and triggers -----------------------------------------------------------------
    def workflows(self) -> list[WorkflowInfo]:
        return self._list("/workflows", WorkflowInfo)

    def triggers(self) -> list[TriggerInfo]:
        return self._list("/triggers", TriggerInfo)

    def pause_trigger(self, key: str) -> list[TriggerInfo]:
        """Pause a trigger (``workflow:index``) or every trigger of a workflow (its name)."""
        return self._post(f"/triggers/{_seg(key)}/pause", TriggersChanged).triggers

    def resume_trigger(self, key: str) -> list[TriggerInfo]:
        return self._post(f"/triggers/{_seg(key)}/resume", TriggersChanged).triggers

    def pause_all(self) -> list[TriggerInfo]:
        return self._post("/triggers/pause-all", TriggersChanged).triggers

    def resume_all(self) -> list[TriggerInfo]:
        return self._post("/triggers/resume-all", TriggersChanged).triggers

    def webhook(self, name: str, secret: str, payload: Any = None) -> WebhookAccepted:
        """Fire a webhook trigger the way an outside program would: the body signed with the
        trigger's secret, no API token."""
        client = self._client()
        body = json.dumps(payload if payload is not None else {}).encode("utf-8")
        request = client.build_request(
            "POST",
            f"/webhooks/{_seg(name)}",
            content=body,
            headers={
                "Content-Type": "application/json",
                signature.HEADER: signature.sign(secret, body, int(time.time())),
            },
        )
        del request.headers["Authorization"]
        try:
            response = client.send(request)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from None
        if response.status_code >= 400:
            raise SupervisorApiError.from_response(response)
        return WebhookAccepted.model_validate(response.json())


def client_version() -> str:
    from supervisor.release import installed_version

    return installed_version() or "unknown"


def compatible_versions(theirs: str, ours: str) -> bool:
    """Whether a client of release ``ours`` may talk to a supervisor of release ``theirs``.

    The API changes only with minor releases, so major.minor must match; an
    unknown version (a source tree without metadata) is not held against anyone.
    """
    if "unknown" in (theirs, ours):
        return True
    return theirs.split(".")[:2] == ours.split(".")[:2]


def _seg(value: str) -> str:
    """One path segment, whatever the name holds ('/' included)."""
    return quote(value, safe="")


def is_running(paths: DeskpilotPaths | None = None, *, timeout: float = 2.0) -> bool:
    """Whether a supervisor answers ``/health`` for this DESKPILOT_HOME (this machine's,
    whatever remote connection is chosen)."""
    paths = paths or DeskpilotPaths.from_env()
    if not endpoint_answers(paths, timeout=timeout):
        return False
    try:
        with SupervisorClient(paths, timeout=timeout, remote=None) as client:
            client.health()
    except DeskpilotError:
        return False
    return True


def endpoint_answers(paths: DeskpilotPaths, *, timeout: float = 1.0) -> bool:
    """Whether something accepts connections where this home's supervisor would listen.

    A cheap probe before a request: pollers ask it while the supervisor is
    down, where a refused request costs more (and httpcore leaks the socket
    of a refused Unix-socket connection).
    """
    endpoint = locate(paths.state_dir)
    return endpoint is not None and endpoint.answers(timeout)


def start_detached(
    paths: DeskpilotPaths, env: Mapping[str, str], *, requested_by: str
) -> subprocess.Popen[bytes]:
    """Start ``deskpilotd`` in a session of its own, so it outlives whoever started it.

    Its output is appended to ``START_LOG`` in the log folder under a line
    saying who asked and when: a supervisor that exits at once (another one
    holds the lock, a broken database) says why there, before its own log
    exists.  It runs from '/', so ``env`` must hold absolute paths.  The
    caller owns the process: wait for ``/health`` or for an early exit.
    """
    paths.ensure()
    with open(paths.log_dir / START_LOG, "ab") as out:
        out.write(
            f"--- started by {requested_by} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode()
        )
        out.flush()
        return subprocess.Popen(
            [sys.executable, *module_args(DAEMON_MODULE)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            cwd="/",
            env=dict(env),
            start_new_session=True,
        )


def start_log_tail(paths: DeskpilotPaths, lines: int = 15) -> str:
    """The last lines a started supervisor printed: why it exited while starting."""
    try:
        text = (paths.log_dir / START_LOG).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
