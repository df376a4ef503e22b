"""One run, as every command prints it with ``--json``: the ``RunReport`` schema.

``deskpilot run --json``, ``deskpilot submit --wait --json``, ``deskpilot runs
show --json``, ``deskpilot runs wait --json`` and ``deskpilot runs rerun --json``
all print a ``RunReport``,
so a script written against one works against the others: the same keys,
and for the same run the same values.  Each is built from the run's history
(the store, or the supervisor's API reading the same store), never from what
one front end happened to hold in memory, which is what made ``run`` and
``submit`` differ before.  ``deskpilot schema run`` prints its JSON Schema.

Values are already masked of secrets: the history never holds them.  Step
and node outputs are the history's display copies (long strings cut to
2 KB); the run's ``outputs`` are whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from automation.engine.events import RunStatus, StepStatus
from supervisor.machine import restart_left, waiting_reason
from supervisor.machine import running_for as seconds_running

if TYPE_CHECKING:
    from supervisor.client import SupervisorClient
    from supervisor.store.store import HistoryStore

#: Changes only when a key is removed or changes meaning; new keys keep the number.
SCHEMA_VERSION: Literal[1] = 1


class _Report(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepReport(_Report):
    """One attempt of one node execution."""

    step: int = Field(description="execution number in the run, from 1")
    node_id: str
    block: str | None = None
    attempt: int = Field(description="1 for the first try, 2 for the first retry...")
    status: StepStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None
    outputs: dict[str, Any] | None = Field(None, description="the last emission, long values cut")
    error: str | None = None
    failure: str | None = Field(
        None, description="how a failed attempt ended: error, timeout, cancelled or interrupted"
    )


class NodeReport(_Report):
    """A node over the whole run: its last execution's outcome."""

    status: StepStatus = Field(description="status of its last attempt")
    executions: int = Field(description="how many times it ran (loops run a node again)")
    attempts: int = Field(description="attempts of its last execution")
    outputs: dict[str, Any] | None = Field(None, description="its last outputs, long values cut")
    error: str | None = None


class ArtifactReport(_Report):
    kind: str = Field(description="screenshot, file...")
    path: str
    node_id: str | None = None
    step: int | None = None
    description: str | None = None


class LogReport(_Report):
    at: datetime
    level: str | None = None
    node_id: str | None = None
    message: str | None = None


#: How a pause ended, by the command that ended it (``node_resumed``'s action).
_ENDINGS = {"continue": "continued", "step": "stepped", "abort": "aborted"}


class PauseReport(_Report):
    """A stop of the debugger before a node: when, why, how long and how it ended.

    Only the names of values edited during the pause, never the values (one of
    them might have been typed in place of a secret).
    """

    node_id: str
    step: int | None = Field(None, description="the execution the run paused before")
    reason: str | None = Field(None, description="breakpoint or step")
    paused_at: datetime
    resumed_at: datetime | None = None
    ended: Literal["continued", "stepped", "aborted", "timed_out"] | None = Field(
        None, description="null while still paused, or when the run stopped during the pause"
    )
    waited: float | None = Field(None, description="seconds the pause lasted")
    timeout: float | None = Field(None, description="seconds it would wait for a command")
    edited: list[str] = Field(
        default_factory=list, description="what was edited before going on: inputs.NAME, vars.NAME"
    )


class RunReport(_Report):
    """A run: what ran, how it ended, what each node did."""

    schema_version: Literal[1] = Field(SCHEMA_VERSION, description="this schema's version")
    run_id: str
    workflow: str
    status: RunStatus
    finished: bool = Field(description="false while the run is queued, running or interrupted")
    trigger: str = Field(description="manual, schedule, webhook, rerun, ...")
    priority: int
    parent_run_id: str | None = Field(None, description="the run that started this one")
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = Field(None, description="seconds, pauses in the debugger excluded")
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    failed_node: str | None = None
    stopped_reason: str | None = None
    step_count: int = Field(description="node executions the run made")
    resumes: int = Field(0, description="times the run was resumed after an interruption")
    nodes: dict[str, NodeReport] = Field(description="each node that ran, by id")
    steps: list[StepReport]
    artifacts: list[ArtifactReport]
    logs: list[LogReport]
    pauses: list[PauseReport] = Field(
        default_factory=list, description="each stop of the debugger, in order"
    )
    machine: str | None = Field(None, description="the machine that must run it; null: any")
    waiting: str | None = Field(
        None,
        description="while queued for a machine no live supervisor runs on: why it waits "
        "(as 'deskpilot runs show' prints it); null otherwise",
    )
    not_before: datetime | None = Field(
        None,
        description="while queued and waiting out its restart delay: the earliest time a "
        "supervisor may take it; null otherwise",
    )
    restart_in: float | None = Field(
        None,
        description="while queued and waiting out its restart delay: the seconds left of it "
        "(0: over), counted on the clock not_before is written on (a fleet's database); show "
        "this rather than not_before less this machine's clock, which may be minutes off; "
        "null otherwise",
    )
    running_for: float | None = Field(
        None,
        description="while running: the seconds since it first started, counted on the clock "
        "started_at is written on (as restart_in); null otherwise",
    )


class RunLike(Protocol):
    """What a run record offers (the store's ``RunRecord``, the API's ``RunInfo``)."""

    @property
    def id(self) -> str: ...
    @property
    def workflow_name(self) -> str: ...
    @property
    def status(self) -> Any: ...
    @property
    def trigger(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def parent_run_id(self) -> str | None: ...
    @property
    def queued_at(self) -> datetime | None: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def finished_at(self) -> datetime | None: ...
    @property
    def duration(self) -> float | None: ...
    @property
    def inputs(self) -> dict[str, Any] | None: ...
    @property
    def outputs(self) -> dict[str, Any] | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def failed_node(self) -> str | None: ...
    @property
    def stopped_reason(self) -> str | None: ...
    @property
    def steps(self) -> int | None: ...
    @property
    def resumes(self) -> int: ...
    @property
    def target_host(self) -> str | None: ...
    @property
    def not_before(self) -> datetime | None: ...


class LogLike(Protocol):
    """An entry of a run's stored log (the store's ``EventRecord``, the API's ``EventInfo``)."""

    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def level(self) -> str | None: ...
    @property
    def node_id(self) -> str | None: ...
    @property
    def step(self) -> int | None: ...
    @property
    def message(self) -> str | None: ...
    @property
    def data(self) -> dict[str, Any] | None: ...


def _text(value: Any) -> str:
    """An enum member or a string, as its plain value."""
    return str(getattr(value, "value", value))


def pauses_from_events(events: Iterable[LogLike]) -> list[PauseReport]:
    """The run's debugger pauses, each ``node_paused`` joined to the ``node_resumed`` ending it.

    The one place the history's pause events are read, so the CLI, the JSON and
    the window tell the same story.  A pause with no ending (the run is still
    paused, or stopped while paused) keeps ``ended`` null.
    """
    pauses: list[PauseReport] = []
    open_at: dict[tuple[str, int | None], int] = {}
    for event in sorted(events, key=lambda e: e.seq):
        data = event.data or {}
        if event.kind == "node_paused" and event.node_id:
            timeout = data.get("timeout")
            open_at[(event.node_id, event.step)] = len(pauses)
            pauses.append(
                PauseReport(
                    node_id=event.node_id,
                    step=event.step,
                    reason=str(data["reason"]) if data.get("reason") else None,
                    paused_at=event.at,
                    timeout=float(timeout) if isinstance(timeout, int | float) else None,
                )
            )
        elif event.kind == "node_resumed" and event.node_id:
            index = open_at.pop((event.node_id, event.step), None)
            if index is None:
                continue
            waited = data.get("waited")
            edited = data.get("edited")
            ended = "timed_out" if data.get("timed_out") else _ENDINGS.get(str(data.get("action")))
            pauses[index] = PauseReport.model_validate(
                {
                    **pauses[index].model_dump(),
                    "resumed_at": event.at,
                    "ended": ended,
                    "waited": float(waited) if isinstance(waited, int | float) else None,
                    "edited": [str(name) for name in edited] if isinstance(edited, list) else [],
                }
            )
    return pauses


def build_report(
    run: RunLike,
    steps: Iterable[Any],
    artifacts: Iterable[Any],
    events: Iterable[LogLike] = (),
    *,
    waiting: str | None = None,
    restart_in: float | None = None,
    running_for: float | None = None,
) -> RunReport:
    """The report of ``run`` from its history rows (store records or API answers alike).

    ``waiting`` is ``waiting_reason``'s answer, worked out by whoever reads the
    supervisors (the store or the API): the run's rows alone cannot say it.
    ``restart_in`` and ``running_for`` (``restart_left``, ``running_for``) are
    counted on the database's clock by whoever reads it: the rows' times less
    the clock of the machine printing the report could be minutes off.
    """
    events = list(events)
    step_reports = [
        StepReport.model_validate(
            {
                "step": s.step,
                "node_id": s.node_id,
                "block": s.block,
                "attempt": s.attempt,
                "status": _text(s.status),
                "started_at": s.started_at,
                "finished_at": s.finished_at,
                "duration": s.duration,
                "outputs": s.outputs,
                "error": s.error,
                "failure": s.failure,
            }
        )
        for s in sorted(steps, key=lambda s: (s.step, s.attempt))
    ]
    status = RunStatus(_text(run.status))
    return RunReport(
        run_id=run.id,
        workflow=run.workflow_name,
        status=status,
        finished=status.terminal,
        trigger=run.trigger,
        priority=run.priority,
        parent_run_id=run.parent_run_id,
        queued_at=run.queued_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration=run.duration,
        inputs=run.inputs or {},
        outputs=run.outputs or {},
        error=run.error,
        failed_node=run.failed_node,
        stopped_reason=run.stopped_reason,
        step_count=run.steps or 0,
        resumes=run.resumes,
        nodes=_nodes(step_reports),
        steps=step_reports,
        artifacts=[
            ArtifactReport(
                kind=a.kind, path=a.path, node_id=a.node_id, step=a.step, description=a.description
            )
            for a in artifacts
        ],
        logs=[
            LogReport(at=e.at, level=e.level, node_id=e.node_id, message=e.message)
            for e in events
            if e.kind == "log"
        ],
        pauses=pauses_from_events(events),
        machine=run.target_host,
        waiting=waiting if status is RunStatus.QUEUED else None,
        not_before=run.not_before if status is RunStatus.QUEUED else None,
        restart_in=restart_in if status is RunStatus.QUEUED else None,
        running_for=running_for if status is RunStatus.RUNNING else None,
    )


def _nodes(steps: list[StepReport]) -> dict[str, NodeReport]:
    """Each node's last execution, from its attempts in step order."""
    executions: dict[str, set[int]] = {}
    last: dict[str, StepReport] = {}
    for step in steps:
        executions.setdefault(step.node_id, set()).add(step.step)
        last[step.node_id] = step
    return {
        node_id: NodeReport(
            status=final.status,
            executions=len(executions[node_id]),
            attempts=final.attempt,
            outputs=final.outputs,
            error=final.error,
        )
        for node_id, final in last.items()
    }


def report_json(report: RunReport) -> dict[str, Any]:
    """The report as the JSON the commands print."""
    return report.model_dump(mode="json")


def run_report_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``RunReport`` (``deskpilot schema run``)."""
    schema = RunReport.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://deskpilot.dev/schema/run-report-v1.json"
    return schema


def report_from_store(store: HistoryStore, run_id: str) -> RunReport | None:
    """The report of a run read from the history; None when there is no such run."""
    record = store.get_run(run_id)
    if record is None:
        return None
    return build_report(
        record,
        store.steps(run_id),
        store.artifacts(run_id),
        store.events(run_id, limit=None),
        waiting=waiting_reason(store, record),
        restart_in=restart_left(store, record.status, record.not_before),
        running_for=seconds_running(store, record.status, record.started_at),
    )


def report_from_api(client: SupervisorClient, run_id: str) -> RunReport:
    """The report of a run, asked of the supervisor (which reads the same history)."""
    detail = client.get_run(run_id)
    events: list[Any] = []
    while True:
        page = client.run_events(run_id, after=events[-1].seq if events else 0)
        events.extend(page)
        if len(page) < 1000:
            break
    run = detail.run
    return build_report(
        run,
        detail.steps,
        detail.artifacts,
        events,
        waiting=run.waiting,
        restart_in=run.restart_in,
        running_for=run.running_for,
    )
