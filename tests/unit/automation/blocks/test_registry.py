"""The registry's checks on registration, and the lighter registry a worker builds."""

from __future__ import annotations

import pytest
from pydantic import Field

from automation.blocks.base import Block, BlockInput, NoOutput
from automation.blocks.context import BlockContext
from automation.blocks.registry import BlockRegistry
from automation.errors import RegistryError


class BadDefaultInput(BlockInput):
    count: int = Field("many", description="a default its own type refuses")  # type: ignore[assignment]


class BadDefault(Block[BadDefaultInput]):
    id = "test.bad_default"
    title = "Bad default"
    Input = BadDefaultInput
    Output = NoOutput

    def run(self, inputs: BadDefaultInput, ctx: BlockContext) -> None:
        return None


class ClashInput(BlockInput):
    error: str = Field("", description="named like the implicit error pin")


class Clash(Block[ClashInput]):
    id = "test.clash"
    title = "Clash"
    Input = ClashInput
    Output = NoOutput

    def run(self, inputs: ClashInput, ctx: BlockContext) -> None:
        return None


def test_a_default_its_type_refuses_fails_at_registration() -> None:
    with pytest.raises(RegistryError, match="default of input 'count' is invalid"):
        BlockRegistry().register(BadDefault)


def test_a_registry_without_schema_checks_skips_only_those() -> None:
    """A worker's registry: the supervisor checked the same blocks at its start."""
    unchecked = BlockRegistry(check_schemas=False)
    unchecked.register(BadDefault)
    assert unchecked.get("test.bad_default") is BadDefault
    with pytest.raises(RegistryError, match="clash with the implicit pins"):
        unchecked.register(Clash)
    with pytest.raises(RegistryError, match="clash with the implicit pins"):
        BlockRegistry().register(Clash)


def test_both_registries_hold_the_same_built_in_blocks() -> None:
    checked = BlockRegistry.with_builtins(plugins=False)
    unchecked = BlockRegistry.with_builtins(plugins=False, check_schemas=False)
    assert unchecked.ids() == checked.ids()
    assert all(unchecked[b] is checked[b] for b in checked.ids())
