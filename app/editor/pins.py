"""The pins a node shows, and whether two of them may be linked.

Types come from the same place validation takes them (``pin_types`` over the
block's pydantic models, ``types_compatible``), so the canvas refuses exactly
the links that validation would report, and says the same thing about them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from automation.blocks.base import Block
from automation.model import DONE_PIN, ERROR_PIN, TRIGGER_PIN
from automation.validation import pin_types, types_compatible

Direction = Literal["in", "out"]
#: Types of the implicit output pins (what validation assumes for them).
_IMPLICIT_OUTPUT_TYPES = {DONE_PIN: frozenset({"boolean"}), ERROR_PIN: frozenset({"object"})}


@dataclass(frozen=True)
class PinSpec:
    name: str
    direction: Direction
    #: JSON types carried; None means any.
    types: frozenset[str] | None
    required: bool = False
    description: str = ""
    #: trigger, done and error: every node has them.
    implicit: bool = False

    @property
    def type_label(self) -> str:
        return describe_types(self.types)


def describe_types(types: frozenset[str] | None) -> str:
    if types is None:
        return "any"
    return " or ".join(sorted(types))


@dataclass(frozen=True)
class BlockPins:
    inputs: tuple[PinSpec, ...]
    outputs: tuple[PinSpec, ...]

    def get(self, direction: Direction, name: str) -> PinSpec | None:
        for pin in self.inputs if direction == "in" else self.outputs:
            if pin.name == name:
                return pin
        return None


_TRIGGER = PinSpec(
    TRIGGER_PIN, "in", None, description="anything arriving here makes the node run", implicit=True
)
_DONE = PinSpec(
    DONE_PIN, "out", _IMPLICIT_OUTPUT_TYPES[DONE_PIN],
    description="emitted after each successful run of the node", implicit=True,
)  # fmt: skip
_ERROR = PinSpec(
    ERROR_PIN, "out", _IMPLICIT_OUTPUT_TYPES[ERROR_PIN],
    description="emitted when the node fails after its retries; linking it catches the failure",
    implicit=True,
)  # fmt: skip


_CACHE: dict[type[Any], BlockPins] = {}


def block_pins(block: type[Block[Any]]) -> BlockPins:
    """The pins of a block, computed once per block class (schemas are costly to read)."""
    pins = _CACHE.get(block)
    if pins is None:
        pins = _CACHE[block] = _compute_pins(block)
    return pins


def _compute_pins(block: type[Block[Any]]) -> BlockPins:
    inputs = [_TRIGGER]
    for name, info in block.Input.model_fields.items():
        inputs.append(
            PinSpec(
                name,
                "in",
                pin_types(block.Input, name),
                info.is_required(),
                info.description or "",
            )  # fmt: skip
        )
    outputs = [
        PinSpec(name, "out", pin_types(block.Output, name), False, info.description or "")
        for name, info in block.Output.model_fields.items()
    ]
    outputs += [_DONE, _ERROR]
    return BlockPins(tuple(inputs), tuple(outputs))


def unknown_block_pins(inputs: Iterable[str], outputs: Iterable[str]) -> BlockPins:
    """Pins for a node whose block is not installed: the implicit ones and those links name."""
    ins = [_TRIGGER] + [PinSpec(n, "in", None) for n in sorted(set(inputs) - {TRIGGER_PIN})]
    outs = [PinSpec(n, "out", None) for n in sorted(set(outputs) - {DONE_PIN, ERROR_PIN})]
    return BlockPins(tuple(ins), tuple(outs + [_DONE, _ERROR]))


def refusal(source: PinSpec, target: PinSpec) -> str | None:
    """Why ``source`` (an output) cannot feed ``target`` (an input), or None when it can."""
    if source.direction != "out" or target.direction != "in":
        return "links go from an output pin (right side) to an input pin (left side)"
    if target.name == TRIGGER_PIN:
        return None
    if not types_compatible(source.types, target.types):
        return (
            f"'{source.name}' gives {source.type_label} but '{target.name}' needs "
            f"{target.type_label}; convert it on the way (e.g. a data.template node)"
        )
    return None
