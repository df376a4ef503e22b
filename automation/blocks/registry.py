"""The block registry: an instance passed in, never a module global tests must reset.

Blocks are checked when registered (id shape, duplicate ids, models that
produce a JSON Schema, defaults that validate, pins that clash with the
implicit ``trigger``/``done``/``error`` pins), so a broken block fails at
start-up rather than mid-run.  Third-party blocks arrive through the
``deskpilot.blocks`` entry-point group; an entry point may name a Block
subclass, a module with a ``BLOCKS`` tuple, or a callable returning blocks.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from pydantic import BaseModel, TypeAdapter

from automation.blocks.base import Block, BlockInput, BlockOutput
from automation.blocks.lazy_schema import json_schema_of
from automation.errors import RegistryError
from automation.model import DONE_PIN, ERROR_PIN, TRIGGER_PIN

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "deskpilot.blocks"
BUILTIN_MODULES = (
    "automation.blocks.control",
    "automation.blocks.data",
    "automation.blocks.files",
    "automation.blocks.http",
    "automation.blocks.process",
    "automation.blocks.notify",
    "automation.blocks.desktop",
)
_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_RESERVED_PINS = {TRIGGER_PIN, DONE_PIN, ERROR_PIN}


class BlockRegistry:
    """Blocks by id.

    ``check_schemas`` False skips the costly part of the checks made on
    registration (each model's JSON Schema, each input default validated:
    about 60 % of building the built-in registry).  A worker's registry is built
    that way: the supervisor that starts it built the same registry from the
    same code at its start, with every check, and refuses any workflow whose
    blocks it could not register, so a worker never runs a block it refused.
    The shape checks (ids, subclasses, reserved pins, ``run``) always run.
    """

    def __init__(self, *, check_schemas: bool = True) -> None:
        self.check_schemas = check_schemas
        self._blocks: dict[str, type[Block[Any]]] = {}
        #: Entry points that failed to load, with the reason, for `blocks list` to show.
        self.load_errors: list[str] = []

    # -- registration ----------------------------------------------------------
    def register(self, block: type[Block[Any]]) -> type[Block[Any]]:
        self._check(block)
        existing = self._blocks.get(block.id)
        if existing is not None and existing is not block:
            raise RegistryError(
                f"block id '{block.id}' is registered twice: by {_where(existing)} and "
                f"{_where(block)}; rename one of them"
            )
        self._blocks[block.id] = block
        return block

    def register_all(self, blocks: Iterable[type[Block[Any]]]) -> None:
        for block in blocks:
            self.register(block)

    def register_module(self, module: ModuleType) -> None:
        blocks = getattr(module, "BLOCKS", None)
        if blocks is None:
            blocks = [
                obj
                for obj in vars(module).values()
                if inspect.isclass(obj)
                and issubclass(obj, Block)
                and obj is not Block
                and obj.__module__ == module.__name__
                and "id" in vars(obj)
            ]
        self.register_all(blocks)

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Register third-party blocks; a broken plugin is reported, not fatal."""
        for ep in entry_points(group=group):
            try:
                target = ep.load()
                if inspect.ismodule(target):
                    self.register_module(target)
                elif inspect.isclass(target) and issubclass(target, Block):
                    self.register(target)
                elif callable(target):
                    self.register_all(target())
                else:
                    raise RegistryError(f"{ep.value} is not a block, module or callable")
            except Exception as exc:  # a plugin's bug must not stop Deskpilot
                message = f"plugin '{ep.name}' ({ep.value}): {exc}"
                logger.warning("could not load block %s", message)
                self.load_errors.append(message)

    @classmethod
    def with_builtins(cls, *, plugins: bool = True, check_schemas: bool = True) -> BlockRegistry:
        registry = cls(check_schemas=check_schemas)
        for name in BUILTIN_MODULES:
            registry.register_module(importlib.import_module(name))
        if plugins:
            registry.load_entry_points()
        return registry

    # -- lookup ----------------------------------------------------------------
    def get(self, block_id: str) -> type[Block[Any]] | None:
        return self._blocks.get(block_id)

    def __getitem__(self, block_id: str) -> type[Block[Any]]:
        return self._blocks[block_id]

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._blocks

    def __iter__(self) -> Iterator[type[Block[Any]]]:
        return iter(sorted(self._blocks.values(), key=lambda b: (b.category, b.id)))

    def __len__(self) -> int:
        return len(self._blocks)

    def ids(self) -> list[str]:
        return sorted(self._blocks)

    def similar(self, block_id: str) -> list[str]:
        import difflib

        return difflib.get_close_matches(block_id, self._blocks, n=3, cutoff=0.6)

    # -- checks ----------------------------------------------------------------
    def _check(self, block: type[Block[Any]]) -> None:
        if not inspect.isclass(block) or not issubclass(block, Block):
            raise RegistryError(f"{block!r} is not a Block subclass")
        block_id = vars(block).get("id") or getattr(block, "id", None)
        if not isinstance(block_id, str) or not _ID.match(block_id):
            raise RegistryError(
                f"{_where(block)} has id {block_id!r}; ids are dotted lowercase, like 'http.request'"
            )
        for kind, model, base in (
            ("Input", block.Input, BlockInput),
            ("Output", block.Output, BlockOutput),
        ):
            if not (inspect.isclass(model) and issubclass(model, BaseModel)):
                raise RegistryError(f"block '{block_id}': {kind} must be a pydantic model")
            if not issubclass(model, base):
                raise RegistryError(f"block '{block_id}': {kind} must subclass {base.__name__}")
            if self.check_schemas:
                try:
                    json_schema_of(model)
                except Exception as exc:
                    raise RegistryError(
                        f"block '{block_id}': {kind} has no JSON Schema: {exc}"
                    ) from None
            clash = _RESERVED_PINS & set(model.model_fields)
            if clash:
                raise RegistryError(
                    f"block '{block_id}': {kind} field(s) {sorted(clash)} clash with the implicit "
                    "pins every node has (trigger, done, error); rename them"
                )
            if not self.check_schemas:
                continue
            for name, info in model.model_fields.items():
                if info.is_required() or kind == "Output":
                    continue
                annotation = info.annotation
                try:
                    TypeAdapter(Any if annotation is None else annotation).validate_python(
                        info.get_default(call_default_factory=True)
                    )
                except Exception as exc:
                    raise RegistryError(
                        f"block '{block_id}': default of input '{name}' is invalid: {exc}"
                    ) from None
        missing = block.raw_inputs - set(block.Input.model_fields)
        if missing:
            raise RegistryError(f"block '{block_id}': raw_inputs {sorted(missing)} are not inputs")
        if block.run is Block.run:
            raise RegistryError(f"block '{block_id}' does not implement run()")


def _where(block: type[Any]) -> str:
    return f"{block.__module__}.{block.__qualname__}"
