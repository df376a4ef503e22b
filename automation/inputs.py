"""Workflow inputs: one way to read them, whoever gives them.

``deskpilot run --input``, ``deskpilot submit --input``, the API's
``text_inputs`` and the GUI's text fields all hand over text; the input's
declared type decides what it means (``read_input_text``): ``n=5`` is the
integer 5 for an ``integer`` input and the text "5" for a ``string`` one,
``0.5`` is refused for an ``integer``.  Typed values (JSON through the API,
literals in a trigger) are checked against the same types by
``coerce_inputs``, which also fills defaults and names every problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from automation.errors import WorkflowError
from automation.model import InputSpec, Workflow, value_fits

_SHOWN = 40


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


def read_input_text(name: str, spec: InputSpec, text: str) -> Any:
    """``text`` read as the declared type of input ``name``; ValueError says what is wrong.

    A ``string`` takes the text as it is; other types read it as a YAML value
    (so ``3``, ``2.5``, ``true``, ``[a, b]`` and ``{k: v}`` work), with only
    ``true``/``false`` as booleans, and an ``integer`` given a whole-valued
    number (``3.0``) refused like ``0.5``: the value must be of the type.
    """
    if spec.type == "string":
        return text
    from automation.loader import _Loader  # the workflow files' YAML: 1.2 booleans

    try:
        value = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise ValueError(f"input '{name}' is nested too deeply") from None
    except ValueError:  # an integer past Python's digit limit
        raise ValueError(f"input '{name}': {_shown(text)} has too many digits") from None
    except yaml.YAMLError:
        raise ValueError(f"input '{name}': cannot read {_shown(text)} as {spec.type}") from None
    if spec.type == "number" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not value_fits(spec.type, value):
        raise ValueError(f"input '{name}' must be of type {spec.type}, got {_shown(text)}")
    return value


def read_text_inputs(workflow: Workflow, texts: Mapping[str, str]) -> dict[str, Any]:
    """Every declared input written as text, read by its type; WorkflowError lists problems.

    Names the workflow does not declare are passed on as they are, for
    ``coerce_inputs`` to report with the rest.
    """
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name, text in texts.items():
        spec = workflow.inputs.get(name)
        if spec is None:
            values[name] = text
            continue
        try:
            values[name] = read_input_text(name, spec, text)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise WorkflowError(f"workflow '{workflow.name}': " + "; ".join(problems))
    return values


def coerce_inputs(
    workflow: Workflow, given: Mapping[str, Any], *, from_text: bool = False
) -> dict[str, Any]:
    """Fill defaults and check the given inputs against the declared ones.

    ``from_text`` values (``--input count=3`` on the command line) are read
    by ``read_input_text`` first.
    """
    problems: list[str] = []
    result: dict[str, Any] = {}
    for name in given:
        if name not in workflow.inputs:
            declared = ", ".join(sorted(workflow.inputs)) or "(none)"
            problems.append(f"unknown input '{name}' (declared: {declared})")
    for name, spec in workflow.inputs.items():
        if name in given:
            value = given[name]
            if from_text and isinstance(value, str):
                try:
                    value = read_input_text(name, spec, value)
                except ValueError as exc:
                    problems.append(str(exc))
                    continue
            if spec.type == "number" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not value_fits(spec.type, value):
                problems.append(f"input '{name}' must be of type {spec.type}, got {value!r}")
                continue
            result[name] = value
        elif spec.required and spec.default is None:
            problems.append(f"input '{name}' is required; pass it with --input {name}=VALUE")
        else:
            result[name] = spec.default
    if problems:
        raise WorkflowError(f"workflow '{workflow.name}': " + "; ".join(problems))
    return result
