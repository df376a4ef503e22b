"""Which nodes an emission makes ready: the values waiting on pins, per loop turn.

Every value carries the loop turns it was made in (its context: one tag per
enclosing emission of a loop block).  A node runs when each linked pin holds a
value and those values come from the same turn, or from outside it: a setting
made before a loop is reused by every turn, while two branches inside one
turn are paired with each other, never with the previous turn's.  Arrivals at
a node that is not ready yet wait in a backlog and run once it is, in arrival
order, so the result does not depend on which feeder happened to run first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from automation.engine.frames import Activation, Context

#: A value on a pin, with the loop turn it was made in.
Arrival = tuple[Any, Context]


class Dataflow:
    """The pins' current values and the early arrivals of one run."""

    def __init__(self, linked_pins: Callable[[str], frozenset[str]]) -> None:
        #: The pins a node waits for (its linked input pins), by node id.
        self._linked_pins = linked_pins
        self.pending: dict[str, dict[str, Arrival]] = {}
        self.backlog: dict[str, list[tuple[dict[str, Any], Context]]] = {}

    def deliver(
        self, out: Mapping[str, list[tuple[str, str]]], pins: Mapping[str, Any], ctx: Context
    ) -> list[Activation]:
        """Hand one emission (``pins``, made in turn ``ctx``) along ``out``; return what is ready.

        The activations come in the order they should run.
        """
        updates: dict[str, dict[str, Any]] = {}
        for pin, value in pins.items():
            targets = out.get(pin)
            if not targets:
                continue
            for target, target_pin in targets:
                update = updates.get(target)
                if update is None:
                    update = updates[target] = {}
                update[target_pin] = value
        activations: list[Activation] = []
        for target, update in updates.items():
            slot = self.pending.get(target)
            if slot is None:
                slot = self.pending[target] = {}
            for pin, value in update.items():
                slot[pin] = (value, ctx)
            linked = self._linked_pins(target)
            if ready(slot, linked) is None:
                self.backlog.setdefault(target, []).append((update, ctx))
                continue
            waiting = self.backlog.pop(target, None)
            if not waiting:
                activations.append(_activation(target, slot, linked))
                continue
            for early, early_ctx in waiting:
                candidate = {**slot, **{pin: (value, early_ctx) for pin, value in early.items()}}
                if ready(candidate, linked) is not None:
                    activations.append(_activation(target, candidate, linked))
            # what did not fit belongs to a loop turn that has ended: turns run depth first
        return activations


def ready(slot: Mapping[str, Arrival], linked: frozenset[str]) -> Context | None:
    """The context to run in if every linked pin holds a value from one chain of turns."""
    longest: Context = ()
    for pin in linked:
        entry = slot.get(pin)
        if entry is None:
            return None
        if len(entry[1]) > len(longest):
            longest = entry[1]
    for pin in linked:
        turn = slot[pin][1]
        if turn != longest[: len(turn)]:
            return None
    return longest


def _activation(target: str, slot: Mapping[str, Arrival], linked: frozenset[str]) -> Activation:
    ctx = ready(slot, linked)
    assert ctx is not None
    return Activation(target, {pin: entry[0] for pin, entry in slot.items()}, ctx)
