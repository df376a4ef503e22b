"""Calling a block: shared by the engine and the single-block harness."""

from __future__ import annotations

import types
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from automation.blocks.base import Block, BlockInput, BlockOutput, Emission, Emit
from automation.errors import BlockError, BlockInputError
from automation.messages import describe_all


def describe_validation_error(exc: ValidationError) -> str:
    """Every error of ``exc`` after the field it is about, in Deskpilot's words."""
    return describe_all(exc)


def validate_inputs(block: type[Block[Any]], values: dict[str, Any], node_id: str) -> BlockInput:
    try:
        return block.Input.model_validate(values)
    except ValidationError as exc:
        raise BlockInputError(
            f"node '{node_id}' ({block.id}): {describe_validation_error(exc)}"
        ) from None


@lru_cache(maxsize=2048)
def _pin_adapter(output: type[BlockOutput], pin: str) -> TypeAdapter[Any]:
    annotation = output.model_fields[pin].annotation
    return TypeAdapter(Any if annotation is None else annotation)


def emission_pins(block: type[Block[Any]], emission: Emission, node_id: str) -> dict[str, Any]:
    """The pin -> value mapping of one emission, checked against the block's Output."""
    if isinstance(emission, BlockOutput):
        return dict(emission.__dict__)
    if isinstance(emission, Emit):
        fields = block.Output.model_fields
        checked: dict[str, Any] = {}
        for pin, value in emission.pins.items():
            if pin not in fields:
                raise BlockError(
                    f"block {block.id} emitted on unknown pin '{pin}' (node '{node_id}')",
                    retryable=False,
                )
            try:
                checked[pin] = _pin_adapter(block.Output, pin).validate_python(value)
            except ValidationError as exc:
                raise BlockError(
                    f"block {block.id} emitted a bad value on '{pin}': "
                    f"{describe_validation_error(exc)}",
                    retryable=False,
                ) from None
        return checked
    raise BlockError(
        f"block {block.id} returned {type(emission).__name__}; expected its Output or Emit",
        retryable=False,
    )


def is_generator(result: Any) -> bool:
    return isinstance(result, types.GeneratorType)


def all_emissions(block: type[Block[Any]], result: Any, node_id: str) -> Iterator[dict[str, Any]]:
    """Every emission of a finished call, generator or not."""
    if result is None:
        return
    if is_generator(result):
        for item in result:
            yield emission_pins(block, item, node_id)
    else:
        yield emission_pins(block, result, node_id)
