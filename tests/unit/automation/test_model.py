"""The workflow model: links, retry policies, inputs, triggers, names and the JSON Schema."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from automation.model import (
    DONE_PIN,
    ERROR_PIN,
    NO_RETRY,
    TRIGGER_PIN,
    FileTrigger,
    InputSpec,
    Link,
    RetryPolicy,
    ScheduleTrigger,
    WebhookTrigger,
    Workflow,
    WorkflowFinishedTrigger,
    check_cron,
    value_fits,
    workflow_json_schema,
)

WORKFLOWS = Path(__file__).parent / "workflows"
EXAMPLES = Path(__file__).resolve().parents[3] / "resources" / "examples"


def messages(exc: ValidationError) -> str:
    return "\n".join(error["msg"] for error in exc.errors())


def minimal(**extra: Any) -> dict[str, Any]:
    return {"name": "w", "nodes": {"a": {"block": "kit.emit"}}, **extra}


# -- links ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fetch.body -> save.content", ("fetch", "body", "save", "content")),
        ("fetch -> save", ("fetch", DONE_PIN, "save", TRIGGER_PIN)),
        ("check.yes -> report", ("check", "yes", "report", TRIGGER_PIN)),
        ("fetch -> save.content", ("fetch", DONE_PIN, "save", "content")),
        ("  a.x->b.y  ", ("a", "x", "b", "y")),
        ("a.error -> handler.value", ("a", ERROR_PIN, "handler", "value")),
        ("_a1.p_2 -> B.Q", ("_a1", "p_2", "B", "Q")),
    ],
)
def test_link_strings_parse_in_all_four_forms(text: str, expected: tuple[str, ...]) -> None:
    link = Link.model_validate(text)
    assert (link.source, link.source_pin, link.target, link.target_pin) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a",
        "a ->",
        "-> b",
        "a - > b",
        "a => b",
        "a.b.c -> d",
        "a -> b -> c",
        "1a -> b",
        "a.1 -> b",
        "fetch-data -> save",
        "a.x -> b.",
    ],
)
def test_bad_link_strings_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Link.model_validate(text)
    message = messages(caught.value)
    assert f"'{text}' is not a link" in message
    assert "'fetch.body -> save.content'" in message


@pytest.mark.parametrize(
    "text", ["a.x -> b.y", "a -> b", "a.yes -> b", "a -> b.y", "a.error -> b.value"]
)
def test_link_str_is_the_canonical_short_form(text: str) -> None:
    assert str(Link.model_validate(text)) == text


def test_explicit_implicit_pins_print_in_short_form() -> None:
    assert str(Link.model_validate("a.done -> b.trigger")) == "a -> b"


def test_links_may_also_be_mappings() -> None:
    link = Link.model_validate({"source": "a", "target": "b", "target_pin": "value"})
    assert str(link) == "a -> b.value"
    with pytest.raises(ValidationError, match="extra"):
        Link.model_validate({"source": "a", "target": "b", "colour": "red"})


def test_links_are_frozen_values() -> None:
    link = Link.model_validate("a -> b")
    assert link == Link.model_validate("a.done -> b.trigger")
    with pytest.raises(ValidationError):
        link.source = "c"  # type: ignore[misc]


# -- retry policy --------------------------------------------------------------------


def test_retry_shorthand_is_the_number_of_attempts() -> None:
    policy = RetryPolicy.model_validate(3)
    assert policy.max_attempts == 3
    assert policy == RetryPolicy(max_attempts=3)
    workflow = Workflow.model_validate(
        {"name": "w", "nodes": {"a": {"block": "kit.emit", "retry": 5}}}
    )
    assert workflow.node_retry("a").max_attempts == 5


@pytest.mark.parametrize("value", [0, -1, 1001])
def test_retry_attempts_are_bounded(value: int) -> None:
    with pytest.raises(ValidationError, match="max_attempts"):
        RetryPolicy.model_validate(value)


def test_retry_true_is_not_a_shorthand() -> None:
    with pytest.raises(ValidationError):
        RetryPolicy.model_validate(True)


def test_multiplier_below_one_is_explained() -> None:
    with pytest.raises(ValidationError) as caught:
        RetryPolicy(multiplier=0.5)
    assert "backoff multiplier must be at least 1, got 0.5" in messages(caught.value)
    assert RetryPolicy(multiplier=1).multiplier == 1


def test_retry_durations_accept_units() -> None:
    policy = RetryPolicy.model_validate({"delay": "500ms", "max_delay": "1m"})
    assert (policy.delay, policy.max_delay) == (0.5, 60.0)


@pytest.mark.parametrize("jitter", [-0.1, 1.5])
def test_jitter_is_a_fraction(jitter: float) -> None:
    with pytest.raises(ValidationError, match="jitter"):
        RetryPolicy(jitter=jitter)


def test_backoff_grows_by_the_multiplier_and_stops_at_max_delay() -> None:
    policy = RetryPolicy(delay=1, multiplier=2, max_delay=5, jitter=0)
    assert [policy.backoff(n, 0.9) for n in range(1, 6)] == [1, 2, 4, 5, 5]


def test_jitter_spreads_each_wait_both_ways() -> None:
    policy = RetryPolicy(delay=10, multiplier=1, jitter=0.1)
    assert policy.backoff(1, 0.0) == pytest.approx(9.0)
    assert policy.backoff(1, 0.5) == pytest.approx(10.0)
    assert policy.backoff(1, 0.999999) == pytest.approx(11.0, abs=1e-4)


def test_default_policy_does_not_retry() -> None:
    workflow = Workflow.model_validate(minimal())
    assert workflow.node_retry("a") == NO_RETRY
    assert NO_RETRY.max_attempts == 1


def test_node_settings_override_workflow_defaults() -> None:
    workflow = Workflow.model_validate(
        {
            "name": "w",
            "defaults": {"retry": 4, "timeout": "10s"},
            "nodes": {
                "plain": {"block": "kit.emit"},
                "own": {"block": "kit.emit", "retry": 2, "timeout": "1s"},
            },
        }
    )
    assert workflow.node_retry("plain").max_attempts == 4
    assert workflow.node_retry("own").max_attempts == 2
    assert workflow.node_timeout("plain") == 10.0
    assert workflow.node_timeout("own") == 1.0


# -- inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("hello", "string"),
        (3, "integer"),
        (1.5, "number"),
        (True, "boolean"),
        (False, "boolean"),
        ([1, 2], "array"),
        ({"depth": 2}, "object"),
        (None, "any"),
    ],
)
def test_input_shorthand_infers_the_type_from_the_default(value: Any, kind: str) -> None:
    spec = InputSpec.model_validate(value)
    assert spec.type == kind
    assert spec.default == value
    assert spec.required is False


def test_input_full_form() -> None:
    spec = InputSpec.model_validate({"type": "integer", "default": 2, "description": "how many"})
    assert (spec.type, spec.default, spec.description) == ("integer", 2, "how many")
    assert InputSpec.model_validate({"required": True}).required is True


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"type": "integer", "default": "x"}, "default 'x' is not of type integer"),
        ({"type": "integer", "default": True}, "default True is not of type integer"),
        ({"type": "string", "default": 3}, "default 3 is not of type string"),
        ({"type": "array", "default": {"a": 1}}, "is not of type array"),
    ],
)
def test_input_default_must_fit_its_type(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        InputSpec.model_validate(spec)
    assert fragment in messages(caught.value)


def test_unknown_input_type_is_refused() -> None:
    with pytest.raises(ValidationError, match="type"):
        InputSpec.model_validate({"type": "datetime"})


@pytest.mark.parametrize(
    ("kind", "value", "fits"),
    [
        ("any", object(), True),
        ("number", 3, True),
        ("number", 3.5, True),
        ("integer", 3.5, False),
        ("integer", True, False),
        ("number", False, False),
        ("boolean", True, True),
        ("string", "", True),
        ("array", (1,), False),
        ("object", {}, True),
    ],
)
def test_value_fits(kind: str, value: Any, fits: bool) -> None:
    assert value_fits(kind, value) is fits


# -- triggers ------------------------------------------------------------------------


def test_cron_needs_five_fields() -> None:
    with pytest.raises(ValueError) as caught:
        check_cron("0 9 * * * *")
    assert "has 6 fields; write five" in str(caught.value)
    assert "minute hour day-of-month month day-of-week" in str(caught.value)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("61 * * * *", "higher than the maximum value (59)"),
        ("* 24 * * *", "higher than the maximum"),
        ("* * * * mon-xyz", "xyz"),
        ("* * * 13 *", "higher than the maximum"),
    ],
)
def test_bad_cron_values_name_the_problem(expression: str, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_cron(expression)
    assert f"cron '{expression}' is invalid" in str(caught.value)
    assert fragment in str(caught.value)


def test_cron_with_unknown_timezone_is_refused() -> None:
    with pytest.raises(ValueError, match="Mars/Base"):
        check_cron("0 9 * * *", "Mars/Base")


def test_good_cron_passes() -> None:
    check_cron("*/5 9-17 * * mon-fri", "Europe/Paris")
    trigger = ScheduleTrigger(cron="0 9 * * *")
    assert trigger.type == "schedule"


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"cron": "0 9 * * *", "interval": "5m"},
        {"interval": "5m", "at": "2026-01-01T00:00:00Z"},
        {"cron": "0 9 * * *", "interval": "5m", "at": "2026-01-01T00:00:00Z"},
    ],
)
def test_schedule_needs_exactly_one_of_cron_interval_at(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        ScheduleTrigger.model_validate(fields)
    assert "exactly one of 'cron', 'interval' or 'at'" in messages(caught.value)


@pytest.mark.parametrize("interval", [0, "1ms", "999ms", 0.5])
def test_schedule_interval_has_a_minimum(interval: object) -> None:
    """``interval: 1ms`` once made 11,000 runs in 11 s: below 1 s is a validation error."""
    with pytest.raises(ValidationError, match="at least 1s, got .*flood the history"):
        ScheduleTrigger.model_validate({"interval": interval})
    assert ScheduleTrigger.model_validate({"interval": "15m"}).interval == 900.0
    assert ScheduleTrigger.model_validate({"interval": "1s"}).interval == 1.0


def test_schedule_at_a_date() -> None:
    trigger = ScheduleTrigger.model_validate({"at": "2026-06-01T09:00:00+00:00"})
    assert trigger.at == datetime(2026, 6, 1, 9, tzinfo=UTC)


def test_schedule_timezone_is_checked_for_every_kind() -> None:
    with pytest.raises(ValidationError):
        ScheduleTrigger.model_validate({"interval": "5m", "timezone": "Mars/Base"})


def test_triggers_are_told_apart_by_type() -> None:
    workflow = Workflow.model_validate(
        minimal(
            triggers=[
                {"type": "schedule", "interval": "1h"},
                {"type": "file", "path": "/tmp/in", "events": ["created", "moved"]},
                {"type": "webhook", "name": "hook", "secret": "hook_secret"},
                {"type": "after", "workflow": "other"},
            ]
        )
    )
    kinds = [type(trigger) for trigger in workflow.triggers]
    assert kinds == [ScheduleTrigger, FileTrigger, WebhookTrigger, WorkflowFinishedTrigger]
    file_trigger = workflow.triggers[1]
    assert isinstance(file_trigger, FileTrigger)
    assert file_trigger.glob == "*" and file_trigger.debounce == 1.0
    after = workflow.triggers[3]
    assert isinstance(after, WorkflowFinishedTrigger)
    assert after.status == ["succeeded"]


@pytest.mark.parametrize(
    ("trigger", "fragment"),
    [
        ({"cron": "0 9 * * *"}, "Unable to extract tag using discriminator 'type'"),
        ({"type": "email"}, "does not match any of the expected tags"),
        ({"type": "file"}, "Field required"),
        ({"type": "file", "path": "x", "events": ["exploded"]}, "Input should be"),
        ({"type": "webhook", "name": "bad name", "secret": "s"}, "should match pattern"),
        ({"type": "after", "workflow": "w", "status": ["maybe"]}, "Input should be"),
        ({"type": "schedule", "cron": "0 9 * *"}, "has 4 fields"),
    ],
)
def test_bad_triggers_are_refused(trigger: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Workflow.model_validate(minimal(triggers=[trigger]))
    assert fragment in messages(caught.value)


# -- names and the whole workflow ----------------------------------------------------


@pytest.mark.parametrize("section", ["nodes", "inputs", "vars", "outputs"])
@pytest.mark.parametrize("name", ["fetch-data", "1st", "has space", "dot.ted", ""])
def test_names_must_be_identifiers(section: str, name: str) -> None:
    value: Any = {"block": "kit.emit"} if section == "nodes" else 1
    data = minimal()
    data[section] = {**data.get(section, {}), name: value}
    with pytest.raises(ValidationError) as caught:
        Workflow.model_validate(data)
    assert f"'{name}' is not a valid name" in messages(caught.value)


@pytest.mark.parametrize("name", ["fetch", "_private", "Step2", "a_b_c"])
def test_identifier_names_are_accepted(name: str) -> None:
    workflow = Workflow.model_validate({"name": "w", "nodes": {name: {"block": "kit.emit"}}})
    assert list(workflow.nodes) == [name]


def test_a_trailing_newline_is_not_part_of_a_valid_name() -> None:
    with pytest.raises(ValidationError):
        Workflow.model_validate({"name": "w", "nodes": {"fetch\n": {"block": "kit.emit"}}})


def test_workflow_needs_a_name_and_format_version_one() -> None:
    with pytest.raises(ValidationError, match="name"):
        Workflow.model_validate({"nodes": {}})
    with pytest.raises(ValidationError, match="at least 1 character"):
        Workflow.model_validate({"name": ""})
    with pytest.raises(ValidationError, match="Input should be 1"):
        Workflow.model_validate({"name": "w", "deskpilot": 2})


def test_unknown_fields_are_errors_everywhere() -> None:
    for data in (
        minimal(colour="red"),
        {"name": "w", "nodes": {"a": {"block": "kit.emit", "colour": "red"}}},
        minimal(limits={"max_steps": 5, "colour": "red"}),
        minimal(defaults={"colour": "red"}),
    ):
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            Workflow.model_validate(data)


def test_node_with_is_read_from_its_alias() -> None:
    workflow = Workflow.model_validate(
        {"name": "w", "nodes": {"a": {"block": "kit.emit", "with": {"value": 3}}}}
    )
    assert workflow.nodes["a"].with_ == {"value": 3}


def test_limits_are_bounded() -> None:
    with pytest.raises(ValidationError, match="max_steps"):
        Workflow.model_validate(minimal(limits={"max_steps": 0}))
    workflow = Workflow.model_validate(minimal(limits={"max_duration": "30m"}))
    assert workflow.limits.max_duration == 1800.0


def test_models_are_frozen() -> None:
    workflow = Workflow.model_validate(minimal())
    with pytest.raises(ValidationError):
        workflow.name = "other"  # type: ignore[misc]


def test_the_full_fixture_parses_every_section() -> None:
    data = yaml.safe_load((WORKFLOWS / "full.yaml").read_text())
    workflow = Workflow.model_validate(data)
    assert workflow.inputs["count"].type == "integer"
    assert workflow.inputs["token_name"].required
    assert workflow.defaults.timeout == 60.0
    assert workflow.nodes["body"].timeout == 90.0
    assert workflow.nodes["loop"].retry == RetryPolicy(max_attempts=3)
    assert workflow.nodes["start"].position == (10.0, 20.5)
    assert workflow.nodes["unused"].disabled
    assert [str(link) for link in workflow.links][:2] == ["start -> loop", "loop.item -> body"]
    assert len(workflow.triggers) == 6


# -- JSON Schema ---------------------------------------------------------------------


def test_schema_describes_the_file_format() -> None:
    schema = workflow_json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["required"]) == {"name"}
    node = schema["$defs"]["Node"]
    assert "with" in node["properties"] and "with_" not in node["properties"]
    assert node["additionalProperties"] is False
    link_forms = schema["$defs"]["Link"]["anyOf"]
    assert link_forms[0]["type"] == "string"
    pattern = re.compile(link_forms[0]["pattern"])
    assert pattern.match("fetch.body -> save.content")
    assert not pattern.match("fetch.body => save")
    trigger_schema = json.dumps(schema["properties"]["triggers"])
    for tag in ("schedule", "file", "webhook", "after"):
        assert tag in json.dumps(schema["$defs"]) and "discriminator" in trigger_schema


def _documents() -> list[Any]:
    found: list[Any] = [
        path for path in sorted(WORKFLOWS.glob("*.yaml")) + sorted(WORKFLOWS.glob("*.json"))
    ]
    found += sorted(EXAMPLES.rglob("*.yaml"))
    return found


@pytest.mark.parametrize("path", _documents(), ids=lambda p: p.name)
def test_schema_accepts_every_example_file(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = workflow_json_schema()
    text = path.read_text()
    data = yaml.safe_load(text) if path.suffix == ".yaml" else json.loads(text)
    # YAML reads unquoted dates as datetimes; the schema sees the text form
    data = json.loads(json.dumps(data, default=lambda v: v.isoformat()))
    jsonschema.validate(data, schema)
    Workflow.model_validate(data)  # and the model agrees


@pytest.mark.parametrize(
    "document",
    [
        {"nodes": {}},
        {"name": "w", "colour": "red"},
        {"name": "w", "nodes": {"a": {"block": "kit.emit", "retry": 0}}},
        {"name": "w", "links": ["a => b"]},
        {"name": "w", "triggers": [{"type": "email"}]},
        {"name": "w", "nodes": {"a": {"with": {}}}},
    ],
)
def test_schema_refuses_what_the_model_refuses(document: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, workflow_json_schema())
    with pytest.raises(ValidationError):
        Workflow.model_validate(document)


def test_schema_accepts_the_documented_shorthands() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    document = {
        "name": "w",
        "inputs": {"count": 3, "who": "world"},
        "nodes": {"a": {"block": "kit.emit", "retry": 3}},
    }
    Workflow.model_validate(document)
    jsonschema.validate(document, workflow_json_schema())


def test_cron_that_can_never_fire_is_refused() -> None:
    with pytest.raises(ValueError) as caught:
        check_cron("0 0 31 2 *")
    assert "never fires" in str(caught.value)
    check_cron("0 0 29 2 *")  # rare, but it does fire (leap years)


@pytest.mark.parametrize(
    "name", ["a\nb", "tab\there", "nul\x00", "esc\x1b[31m", "rtl\u202eevil", "ls\u2028"]
)
def test_a_workflow_name_with_a_control_character_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="control character"):
        Workflow.model_validate({"name": name, "nodes": {}})


def test_a_workflow_name_may_be_any_printable_text_of_reasonable_length() -> None:
    assert Workflow.model_validate({"name": "Rapport été – 2026 ✓", "nodes": {}}).name
    with pytest.raises(ValidationError, match="longer than 200"):
        Workflow.model_validate({"name": "x" * 201, "nodes": {}})
