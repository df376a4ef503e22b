"""The workflow model: one canonical shape for files, the API, the GUI and the engine.

A workflow file (YAML, or JSON) looks like this::

    deskpilot: 1
    name: fetch-report
    inputs:
      url: {type: string, default: "http://localhost:8000/report"}
    nodes:
      fetch:
        block: http.request
        with: {url: "{{ inputs.url }}"}
        retry: {max_attempts: 3, delay: 1s}
        timeout: 30s
      save:
        block: file.write
        with: {path: report.json}
    links:
      - fetch.body -> save.content
      - fetch.error -> alert.message

Links are strings so that each one is a line of its own in a diff.  A link
without a target pin (``fetch -> save``) only orders the two nodes; a link
without a source pin leaves from the implicit ``done`` pin.  Every node also
has an implicit ``error`` output pin and an implicit ``trigger`` input pin.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from automation.durations import Duration

FORMAT_VERSION = 1
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_NAME = re.compile(NAME_PATTERN)
_LINK = re.compile(
    r"^\s*(?P<src>[A-Za-z_][A-Za-z0-9_]*)(?:\.(?P<src_pin>[A-Za-z_][A-Za-z0-9_]*))?"
    r"\s*->\s*"
    r"(?P<dst>[A-Za-z_][A-Za-z0-9_]*)(?:\.(?P<dst_pin>[A-Za-z_][A-Za-z0-9_]*))?\s*$"
)

#: Output pin every node has: emitted once after each successful execution.
DONE_PIN = "done"
#: Output pin every node has: emitted when the node fails after its retries.
ERROR_PIN = "error"
#: Input pin every node has: receiving anything on it makes the node run.
TRIGGER_PIN = "trigger"

InputType = Literal["string", "integer", "number", "boolean", "object", "array", "any"]
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class RetryPolicy(_Frozen):
    """How often and how patiently a failing step is retried.

    ``retry: 3`` in a file is short for ``retry: {max_attempts: 3}``.
    The n-th retry waits ``delay * multiplier**(n-1)``, capped at
    ``max_delay``, then spread by ``jitter`` (a fraction: 0.1 means ±10%).
    """

    max_attempts: int = Field(3, ge=1, le=1000, description="attempts in all, the first included")
    delay: Duration = Field(1.0, description="wait before the first retry")
    multiplier: float = Field(2.0, description="growth of the wait from one retry to the next")
    max_delay: Duration = Field(300.0, description="the wait never grows past this")
    jitter: float = Field(0.1, ge=0, le=1, description="random spread of each wait, as a fraction")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"max_attempts": value}
        return value

    @field_validator("multiplier")
    @classmethod
    def _multiplier_at_least_one(cls, value: float) -> float:
        if value < 1:
            raise ValueError(f"backoff multiplier must be at least 1, got {value}")
        return value

    def backoff(self, retry_number: int, random_unit: float) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based).

        ``random_unit`` is a number in [0, 1) from the run's random source,
        passed in so that tests and replays are deterministic.
        """
        base = min(self.delay * self.multiplier ** (retry_number - 1), self.max_delay)
        spread = base * self.jitter * (2 * random_unit - 1)
        return max(0.0, base + spread)


NO_RETRY = RetryPolicy(max_attempts=1)


class InputSpec(_Frozen):
    """A workflow input: ``name: {type: string, default: ...}`` or just ``name: default``."""

    type: InputType = "any"
    default: Any = None
    required: bool = False
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict) and (
            "type" in value or "default" in value or "required" in value
        ):
            return value
        inferred = "any"
        for name, types in _PYTHON_TYPES.items():
            if isinstance(value, types) and not (isinstance(value, bool) and name != "boolean"):
                inferred = name
                break
        return {"type": inferred, "default": value}

    @model_validator(mode="after")
    def _default_fits(self) -> InputSpec:
        if self.default is not None and not value_fits(self.type, self.default):
            raise ValueError(f"default {self.default!r} is not of type {self.type}")
        return self


def value_fits(kind: str, value: Any) -> bool:
    """Whether ``value`` is acceptable for a workflow input of type ``kind``."""
    if kind == "any":
        return True
    if isinstance(value, bool) and kind != "boolean":
        return False
    return isinstance(value, _PYTHON_TYPES[kind])


class Node(_Frozen):
    """One instance of a block in a workflow."""

    block: str = Field(description="block id, such as 'http.request'")
    with_: dict[str, Any] = Field(
        default_factory=dict,
        alias="with",
        description="input values: literals or templates such as '{{ inputs.url }}'",
    )
    retry: RetryPolicy | None = Field(None, description="overrides the workflow default")
    timeout: Duration | None = Field(None, description="deadline for one attempt")
    title: str | None = None
    notes: str | None = None
    disabled: bool = Field(
        False, description="a disabled node never runs; nor does what only it feeds"
    )
    break_: bool = Field(
        False,
        alias="break",
        description="a breakpoint: runs started by hand (deskpilot run, submit --wait, the "
        "window's Run) pause before this node; triggered runs ignore it",
    )
    position: tuple[float, float] | None = Field(None, description="where the editor draws it")


class Link(_Frozen):
    """``source.source_pin -> target.target_pin``, parsed from its one-line form."""

    source: str
    source_pin: str = DONE_PIN
    target: str
    target_pin: str = TRIGGER_PIN

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _LINK.match(value)
            if not match:
                raise ValueError(
                    f"'{value}' is not a link; write 'node.pin -> node.pin', for example "
                    "'fetch.body -> save.content'"
                )
            parsed = {k: v for k, v in match.groupdict().items() if v is not None}
            return {
                "source": parsed["src"],
                "source_pin": parsed.get("src_pin", DONE_PIN),
                "target": parsed["dst"],
                "target_pin": parsed.get("dst_pin", TRIGGER_PIN),
            }
        return value

    def __str__(self) -> str:
        left = self.source if self.source_pin == DONE_PIN else f"{self.source}.{self.source_pin}"
        right = (
            self.target if self.target_pin == TRIGGER_PIN else f"{self.target}.{self.target_pin}"
        )
        return f"{left} -> {right}"


MisfirePolicy = Literal["run_once", "skip", "catch_up"]


class _TriggerBase(_Frozen):
    enabled: bool = True
    inputs: dict[str, Any] = Field(default_factory=dict, description="inputs given to each run")
    on: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="the machine that runs its runs (a supervisor's host name); by default "
        "the machine the trigger fires on for a workflow that drives the desktop, any "
        "machine sharing the database otherwise",
    )


#: Shortest schedule interval, in seconds: ``interval: 1ms`` once made 11,000 runs in 11 s.
MIN_SCHEDULE_INTERVAL = 1.0


class ScheduleTrigger(_TriggerBase):
    """Runs on a cron expression, a fixed interval, or once at a date."""

    type: Literal["schedule"] = "schedule"
    cron: str | None = None
    interval: Duration | None = None
    at: datetime | None = None
    timezone: str = Field(
        "local", description="'local' (this computer's zone) or an IANA name such as 'UTC'"
    )
    misfire: MisfirePolicy = "run_once"
    misfire_grace: Duration = Field(300.0, description="how late a missed fire may still run")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from automation.timezones import resolve

        resolve(value)  # ValueError with what to write instead
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ScheduleTrigger:
        given = [k for k in ("cron", "interval", "at") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a schedule needs exactly one of 'cron', 'interval' or 'at'")
        if self.interval is not None and self.interval < MIN_SCHEDULE_INTERVAL:
            raise ValueError(
                f"a schedule interval must be at least {MIN_SCHEDULE_INTERVAL:g}s, got "
                f"{self.interval:g}s; shorter ones flood the history (use a loop inside "
                "the workflow for faster work)"
            )
        if self.cron is not None:
            check_cron(self.cron, self.timezone)
        return self


def check_cron(expression: str, timezone: str = "local") -> None:
    """Raise ``ValueError`` naming what is wrong with a five-field cron string."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron '{expression}' has {len(fields)} fields; write five: "
            "minute hour day-of-month month day-of-week, e.g. '0 9 * * mon-fri'"
        )
    from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

    try:
        from automation.timezones import resolve

        trigger = CronTrigger.from_crontab(expression, timezone=resolve(timezone))
    except (ValueError, KeyError, LookupError) as exc:
        raise ValueError(f"cron '{expression}' is invalid: {exc}") from None
    # Well-formed is not enough: '0 0 31 2 *' parses and would silently never run.
    from datetime import UTC, datetime

    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise ValueError(
            f"cron '{expression}' never fires: no date matches it (like the 31st of "
            "February); check its day-of-month, month and day-of-week fields"
        )


FileEvent = Literal["created", "modified", "deleted", "moved"]


class FileTrigger(_TriggerBase):
    """Runs when files matching ``glob`` in ``path`` change."""

    type: Literal["file"] = "file"
    path: str
    glob: str = "*"
    events: list[FileEvent] = Field(default_factory=lambda: list[FileEvent](["created"]))
    recursive: bool = False
    debounce: Duration = 1.0


class WebhookTrigger(_TriggerBase):
    """Runs when the local API's webhook route for ``name`` is called with its secret."""

    type: Literal["webhook"] = "webhook"
    name: str = Field(pattern=NAME_PATTERN)
    secret: str = Field(description="name of the keyring secret callers must present")


FinishedStatus = Literal["succeeded", "failed", "cancelled"]


class WorkflowFinishedTrigger(_TriggerBase):
    """Runs after another workflow finishes with one of ``status``."""

    type: Literal["after"] = "after"
    workflow: str
    status: list[FinishedStatus] = Field(
        default_factory=lambda: list[FinishedStatus](["succeeded"])
    )


class HotkeyTrigger(_TriggerBase):
    """Runs when a global key chord is pressed on the X display the supervisor runs on."""

    type: Literal["hotkey"] = "hotkey"
    keys: str = Field(
        description="a chord such as 'ctrl+alt+r': modifiers (ctrl, alt, shift, super) and one key"
    )

    @field_validator("keys")
    @classmethod
    def _chord(cls, value: str) -> str:
        from automation.hotkeys import parse_hotkey

        return str(parse_hotkey(value))  # HotkeyError is a ValueError: pydantic reports it


Trigger = Annotated[
    ScheduleTrigger | FileTrigger | WebhookTrigger | WorkflowFinishedTrigger | HotkeyTrigger,
    Field(discriminator="type"),
]


class Defaults(_Frozen):
    """Per-node settings that apply where a node does not set its own."""

    retry: RetryPolicy = NO_RETRY
    timeout: Duration | None = None


class Limits(_Frozen):
    """Bounds on a whole run, so that no workflow runs away."""

    max_duration: Duration = Field(6 * 3600.0, description="the run fails past this")
    max_steps: int = Field(1_000_000, ge=1, description="node executions in one run, at most")


#: Unicode categories a workflow name may not contain: controls (newline, tab, NUL, ESC),
#: format characters (bidirectional overrides), line and paragraph separators.
_CONTROL = frozenset({"Cc", "Cf", "Zl", "Zp"})
MAX_NAME_LENGTH = 200


class Workflow(_Frozen):
    """A workflow: typed inputs, nodes, links, outputs and triggers."""

    deskpilot: Literal[1] = Field(1, description="file format version")
    name: str = Field(min_length=1)
    description: str = ""
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    vars: dict[str, Any] = Field(default_factory=dict, description="initial run variables")
    defaults: Defaults = Field(default_factory=Defaults)
    limits: Limits = Field(default_factory=Limits)
    nodes: dict[str, Node] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(
        default_factory=dict, description="values the run returns, usually templates"
    )
    triggers: list[Trigger] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        """The name groups history, labels runs and appears in logs and the tray: one line."""
        bad = next((c for c in value if unicodedata.category(c) in _CONTROL), None)
        if bad is not None:
            raise ValueError(
                f"the workflow name contains a control character ({bad!r}); "
                "write it on one line with printable characters"
            )
        if len(value) > MAX_NAME_LENGTH:
            raise ValueError(f"the workflow name is longer than {MAX_NAME_LENGTH} characters")
        return value

    @field_validator("inputs", "vars", "nodes", "outputs", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for name in value:
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise ValueError(
                    f"'{name}' is not a valid name; use letters, digits and '_', "
                    "starting with a letter"
                )
        return value

    def breakpoints(self) -> list[str]:
        """Nodes marked ``break: true`` in the file, in file order."""
        return [node_id for node_id, node in self.nodes.items() if node.break_]

    def node_retry(self, node_id: str) -> RetryPolicy:
        return self.nodes[node_id].retry or self.defaults.retry

    def node_timeout(self, node_id: str) -> float | None:
        node = self.nodes[node_id]
        return node.timeout if node.timeout is not None else self.defaults.timeout


def workflow_json_schema() -> dict[str, Any]:
    """The published JSON Schema of the file format."""
    schema = Workflow.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://deskpilot.dev/schema/workflow-v1.json"
    defs = schema["$defs"]
    defs["InputSpec"] = {
        "anyOf": [
            defs["InputSpec"],
            {"description": "shorthand: any other value is the input's default, its type inferred"},
        ]
    }
    defs["RetryPolicy"] = {
        "anyOf": [
            defs["RetryPolicy"],
            {"type": "integer", "minimum": 1, "description": "shorthand for max_attempts"},
        ]
    }
    link = schema["$defs"]["Link"]
    schema["$defs"]["Link"] = {
        "anyOf": [
            {"type": "string", "pattern": _LINK.pattern, "description": "'node.pin -> node.pin'"},
            link,
        ]
    }
    return schema
