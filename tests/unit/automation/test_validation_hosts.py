"""A trigger's ``on:`` naming a machine that never joined the database: a warning, located."""

from __future__ import annotations

from automation.blocks.registry import BlockRegistry
from automation.loader import parse_workflow
from automation.validation import validate

PINNED = """\
name: pinned
nodes:
  only: {block: control.pass}
triggers:
  - {type: schedule, cron: '0 3 * * *', on: pc-b}
  - {type: schedule, cron: '0 4 * * *', on: pc-bb}
"""


def test_an_unknown_machine_is_a_warning_naming_the_field_and_the_known_ones() -> None:
    loaded = parse_workflow(PINNED)
    registry = BlockRegistry.with_builtins(plugins=False)
    [issue] = validate(loaded, registry, warnings=True, known_hosts={"pc-a", "pc-b"})
    assert issue.severity == "warning"
    assert issue.field == "triggers[1].on"
    assert issue.line == 6
    assert "'pc-bb'" in issue.message
    assert issue.hint is not None and "pc-a, pc-b" in issue.hint
    # without the database's machines (or without warnings) nothing is said
    assert validate(loaded, registry, warnings=True) == []
    assert validate(loaded, registry, known_hosts=set()) == []
