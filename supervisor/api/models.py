"""Request and response bodies of the local API.

Plain pydantic, no FastAPI: the server publishes them in its OpenAPI document
and the client parses answers into the same classes, so the GUI and the CLI
get typed values.  Responses ignore unknown fields (a newer supervisor may
add some); requests forbid them (a typo must not be silently dropped).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from automation.engine.events import RunStatus, StepStatus

#: Priorities are small integers; the bound keeps them inside a database integer.
PRIORITY_LIMIT = 1000
#: A run id a client may choose itself (so it can subscribe to the run's events first).
RUN_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- errors -------------------------------------------------------------------------


class IssueInfo(Answer):
    """One validation problem of a workflow, located as precisely as possible."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    node: str | None = None
    field: str | None = None
    hint: str | None = None
    severity: Literal["error", "warning"] = "error"


class RequestProblem(Answer):
    """One thing wrong with the request itself (a parameter or body field)."""

    loc: list[str | int]
    message: str
    type: str


class ErrorBody(Answer):
    """Every error answer: one sentence for people, details for programs."""

    error: str = Field(description="what went wrong and, where possible, what to do")
    issues: list[IssueInfo] | None = Field(None, description="workflow validation problems")
    detail: list[RequestProblem] | None = Field(None, description="request validation problems")


# -- workers, health ------------------------------------------------------------------


class WorkerInfo(Answer):
    id: int
    pid: int
    state: str = Field(description="starting, idle, busy, stopping or exited")
    run_id: str | None = None
    started_at: datetime
    last_heartbeat: datetime | None = None
    heartbeats: int = 0


class Health(Answer):
    status: str = Field(description="'ok', or 'degraded' when the database check failed")
    accepting: bool = Field(description="false while the supervisor shuts down")
    queue_depth: int
    running: int
    workers: list[WorkerInfo]
    database: str = Field(description="'ok' or the database check's report")
    breakers: dict[str, str] = Field(description="workflows whose breaker is not closed")
    pid: int
    uptime_seconds: float
    version: str
    triggers: bool = Field(description="whether schedules, file and webhook triggers run")


class BreakerInfo(Answer):
    workflow: str
    state: str = Field(description="closed, open or half_open")
    failures: int = Field(description="failures inside the breaker's sliding window")
    reopens_in: float | None = Field(None, description="seconds until a probe run may start")


class ShutdownAccepted(Answer):
    stopping: bool = True


# -- runs -------------------------------------------------------------------------------


class MachineInfo(Answer):
    """One supervisor sharing the database (``GET /machines``)."""

    id: str = Field(description="the supervisor's id, stable per Deskpilot home")
    host: str = Field(description="its machine's name (DESKPILOT_HOST, else the host name)")
    state: str = Field(
        description="'alive' (heard from within a lease), 'late', or 'gone' (silent long, "
        "or stopped)"
    )
    heartbeat_age_seconds: float
    heartbeat_at: datetime
    started_at: datetime
    stopped_at: datetime | None = None
    running: int = Field(description="runs it executes now")
    queued: int = Field(0, description="queued runs that wait for its machine (routed to its host)")
    version: str | None = None
    api_url: str | None = Field(None, description="where its API answers, if it said")
    pid: int | None = None
    resources: dict[str, Any] = Field(default_factory=dict)
    this: bool = Field(False, description="the supervisor that answered this request")


class TriggerName(Answer):
    workflow: str
    trigger: str = Field(description="the trigger's key in its workflow")


class MachineForgotten(Answer):
    """What ``DELETE /machines/{id}`` removed (``deskpilot machines forget``)."""

    machine: MachineInfo = Field(description="the supervisor as it was before it was forgotten")
    silent_seconds: float = Field(description="seconds since its last heartbeat")
    holds_released: list[TriggerName] = Field(
        description="triggers it was recorded as loading; it no longer holds them"
    )
    triggers_retired: list[TriggerName] = Field(
        description="those nobody else loads: marked removed, they fire no chained runs"
    )
    runs_taken_back: list[str] = Field(
        description="runs it still claimed: queued again to resume elsewhere (or cancelled "
        "if a cancel was asked)"
    )
    queued_for_host: int = Field(
        0,
        description="queued runs routed to its host, when no other supervisor of that host "
        "remains: they wait until one joins",
    )
    debug_requests_failed: int = Field(
        0,
        description="debugger requests it had not carried out: refused, their askers told "
        "it was forgotten",
    )


class RunInfo(Answer):
    id: str
    workflow_name: str
    status: RunStatus
    trigger: str
    priority: int
    queued_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    error: str | None = None
    failed_node: str | None = None
    stopped_reason: str | None = None
    steps: int | None = None
    resumes: int = 0
    parent_run_id: str | None = None
    target_host: str | None = Field(None, description="the machine that must run it; null: any")
    not_before: datetime | None = Field(
        None,
        description="while queued: the end of its restart delay, before which no supervisor "
        "takes it",
    )
    restart_in: float | None = Field(
        None,
        description="GET /runs/{run_id}: while queued, the seconds left of its restart delay "
        "(0: over), counted on the clock not_before is written on (the shared database's): "
        "show this, not not_before less the viewer's own clock, which may be minutes off",
    )
    running_for: float | None = Field(
        None,
        description="GET /runs/{run_id}: while running, the seconds since it first started, "
        "counted on the clock started_at is written on (as restart_in)",
    )
    waiting: str | None = Field(
        None,
        description="GET /runs/{run_id}: while queued for a machine no live supervisor runs "
        "on, why it waits",
    )


class StepInfo(Answer):
    step: int
    node_id: str
    attempt: int
    status: StepStatus
    block: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None
    outputs: dict[str, Any] | None = Field(None, description="the last emission, long values cut")
    error_type: str | None = None
    error: str | None = None
    failure: str | None = None


class ArtifactInfo(Answer):
    id: int
    path: str = Field(description="where the file was made, on the machine that ran the run")
    kind: str
    created_at: datetime
    step: int | None = None
    node_id: str | None = None
    description: str | None = None
    size: int | None = Field(None, description="bytes of the copy the history keeps")
    stored: bool = Field(
        False,
        description="the history keeps a copy: GET /runs/{run_id}/artifacts/{id} serves it "
        "from any machine",
    )


class RunDetail(Answer):
    run: RunInfo
    steps: list[StepInfo]
    artifacts: list[ArtifactInfo]


class RunPage(Answer):
    runs: list[RunInfo]
    next_before: str | None = Field(
        None, description="pass as ?before= for the next page; null on the last page"
    )


class EventInfo(Answer):
    """One entry of a run's stored log: log lines, retries, replays."""

    seq: int
    kind: str
    at: datetime
    node_id: str | None = None
    step: int | None = None
    level: str | None = None
    message: str | None = None
    data: dict[str, Any] | None = None


class SubmitRequest(Request):
    """Run a workflow: by the path of its file (absolute) or by its name in the catalog."""

    path: str | None = Field(None, description="absolute path of the workflow file")
    workflow: str | None = Field(None, description="name of a workflow in the catalog")
    inputs: dict[str, Any] = Field(default_factory=dict, description="the workflow's inputs")
    text_inputs: dict[str, str] = Field(
        default_factory=dict,
        description="inputs written as text (NAME=VALUE on a command line, a form field): each "
        "is read by its declared type, as 'deskpilot run --input' reads it; over 'inputs'",
    )
    priority: int = Field(0, ge=-PRIORITY_LIMIT, le=PRIORITY_LIMIT, description="higher runs first")
    deadline_seconds: float | None = Field(
        None, gt=0, le=7 * 24 * 3600, allow_inf_nan=False, description="time limit of the whole run"
    )
    run_id: str | None = Field(
        None,
        pattern=RUN_ID_PATTERN,
        description="choose the run's id, e.g. to subscribe to its events before it starts",
    )
    on: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="the machine that must run it (a supervisor's host, as 'deskpilot "
        "machines' lists them); by default this machine for a workflow that drives the "
        "desktop, any machine sharing the database otherwise",
    )
    breakpoints: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="nodes to pause before (the step debugger: GET/POST /runs/{id}/debug)",
    )
    pause_timeout: float | None = Field(
        None,
        gt=0,
        le=24 * 3600,
        allow_inf_nan=False,
        description="seconds a pause waits for a command before the run continues without "
        "breakpoints; default: the supervisor's setting (600)",
    )

    @model_validator(mode="after")
    def _one_source(self) -> SubmitRequest:
        if (self.path is None) == (self.workflow is None):
            raise ValueError("give exactly one of 'path' (a workflow file) or 'workflow' (a name)")
        return self


class Submitted(Answer):
    run_id: str
    workflow: str


class RerunRequest(Request):
    mode: Literal["start", "failed_node", "from_node", "current"] = Field(
        "start",
        description="'start': the same version from the beginning; 'failed_node': the same "
        "version, reusing the steps that succeeded; 'from_node': the same version, reusing "
        "the outputs of the steps before 'node' (run from here); 'current': the workflow "
        "file as it is now",
    )
    node: str | None = Field(None, description="with mode 'from_node': the node to run from")
    breakpoints: list[str] = Field(
        default_factory=list, max_length=1000, description="nodes to pause before"
    )
    path: str | None = Field(
        None,
        description="with mode 'current': the file to use instead of the workflow's own; "
        "with 'from_node': run that file as it is now (edited since), reusing the earlier "
        "run's outputs before the node",
    )
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description="inputs to change: each replaces the earlier run's value of that input "
        "(the others are the earlier run's)",
    )
    text_inputs: dict[str, str] = Field(
        default_factory=dict,
        description="inputs to change, written as text (NAME=VALUE): each read by its "
        "declared type, as in a submit; over 'inputs'",
    )
    priority: int | None = Field(
        None,
        ge=-PRIORITY_LIMIT,
        le=PRIORITY_LIMIT,
        description="higher runs first; default: the earlier run's",
    )
    deadline_seconds: float | None = Field(
        None, gt=0, le=7 * 24 * 3600, allow_inf_nan=False, description="time limit of the run"
    )
    pause_timeout: float | None = Field(
        None,
        gt=0,
        le=24 * 3600,
        allow_inf_nan=False,
        description="seconds a pause waits for a command before the run continues without "
        "breakpoints; default: the supervisor's setting (600)",
    )
    on: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="the machine that must run it, as in a submit; by default as in a submit",
    )


class CancelResult(Answer):
    run_id: str
    cancelled: bool
    status: RunStatus


class WaitResult(Answer):
    run: RunInfo
    finished: bool = Field(description="false when the timeout passed first")


# -- workflows, triggers, webhooks --------------------------------------------------------


class WorkflowInfo(Answer):
    """A workflow file in the workflows folder, as the catalog sees it."""

    model_config = ConfigDict(extra="allow")

    name: str
    path: str | None = None
    valid: bool | None = None
    issues: list[str] = Field(default_factory=list, description="why the file is not valid")
    active: bool | None = Field(None, description="whether its triggers run from this file")
    triggers: int = Field(0, description="how many triggers it declares")
    last_run_status: str | None = Field(None, description="status of its newest run")


class TriggerInfo(Answer):
    """One trigger of one workflow."""

    model_config = ConfigDict(extra="allow")

    key: str = Field(description="'<workflow>:<index>'")
    workflow: str | None = None
    type: str | None = Field(None, description="schedule, file, webhook, after or hotkey")
    spec: str | None = Field(None, description="what it reacts to, in words")
    config: dict[str, Any] | None = None
    enabled: bool | None = None
    paused: bool | None = None
    paused_reason: str | None = None
    next_fire_at: datetime | None = None
    last_fire_at: datetime | None = None
    last_error: str | None = None


class TriggersChanged(Answer):
    triggers: list[TriggerInfo] = Field(description="the triggers the request applied to")


class WebhookAccepted(Answer):
    run_id: str | None = Field(description="null when the trigger is paused or disabled")
    message: str


# -- the step debugger ------------------------------------------------------------------


class DebugState(Answer):
    """A run's debugger state: its breakpoints and, when it is paused, where and with what."""

    run_id: str
    paused: bool
    breakpoints: list[str] = Field(default_factory=list)
    node_id: str | None = None
    step: int | None = None
    reason: str | None = Field(None, description="'breakpoint' or 'step'")
    pins: dict[str, Any] = Field(default_factory=dict, description="values on its input pins")
    inputs: dict[str, Any] = Field(default_factory=dict, description="its rendered inputs")
    vars: dict[str, Any] = Field(default_factory=dict, description="the run's variables")
    seconds_left: float | None = Field(
        None, description="until the pause ends by itself and the run continues"
    )


class DebugCommand(Request):
    """Answer a pause: continue, step (pause before the next node) or abort, with edits."""

    action: Literal["continue", "step", "abort"] = "continue"
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="inputs of the paused node to replace"
    )
    vars: dict[str, Any] = Field(default_factory=dict, description="run variables to set")


class BreakpointsRequest(Request):
    nodes: list[str] = Field(max_length=1000, description="the run's breakpoints from now on")
