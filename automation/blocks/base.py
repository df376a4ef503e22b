"""What a block is: typed inputs and outputs, metadata, and ``run``.

A block is a class; a node in a workflow is one use of it.  ``run`` gets the
validated ``Input`` model and a ``BlockContext`` and either

* returns an ``Output`` instance (every output pin emits once), or
* returns an ``Emit`` (exactly the pins it names emit, e.g. ``Emit(yes=v)``), or
* is a generator yielding ``Output``/``Emit`` values, one emission each (a
  ``for_each`` yields once per item; what each emission feeds runs to the end
  before the generator is resumed), or
* returns None when the block has no outputs.

Blocks are stateless between executions: the engine may create one instance
per node and reuse it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from automation.blocks.context import BlockContext


class BlockInput(BaseModel):
    """Base of every block's ``Input``: unknown fields are an error, not ignored.

    Numbers given where text is wanted become text: ``args: [echo, "{{ inputs.n }}"]``
    renders an integer (a lone expression keeps its type), and a command line is
    text.  Booleans are not numbers here and stay an error.
    """

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, defer_build=True)


class BlockOutput(BaseModel):
    """Base of every block's ``Output``."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, defer_build=True)


class NoInput(BlockInput):
    pass


class NoOutput(BlockOutput):
    pass


class Emit:
    """An emission on the named pins only: ``Emit(yes=value)``."""

    __slots__ = ("pins",)

    def __init__(self, pins: Mapping[str, Any] | None = None, /, **named: Any) -> None:
        self.pins: dict[str, Any] = {**(pins or {}), **named}

    def __repr__(self) -> str:
        return f"Emit({self.pins!r})"


@dataclass(frozen=True)
class ResumeCheck:
    """Whether the step that was in flight when its worker died already took effect.

    ``held`` True: the step's postcondition holds, so a resumed run does not
    run it again and uses ``output`` (None: the block has nothing to emit, or
    cannot say what it would have emitted).  ``detail`` is recorded in the
    run's history either way.
    """

    held: bool
    detail: str
    output: BlockOutput | None = None


InT = TypeVar("InT", bound=BlockInput)
Emission = BlockOutput | Emit
RunResult = Emission | Iterator[Emission] | None


class Block(Generic[InT]):
    """Base class of every block.  Subclasses set the class attributes and ``run``."""

    #: Unique dotted id, ``family.name``: ``http.request``, ``file.write``.
    id: ClassVar[str]
    #: Short human title for palettes; defaults to the id.
    title: ClassVar[str] = ""
    #: Palette group: files, http, data, control, process, notify, desktop...
    category: ClassVar[str] = "other"
    #: One paragraph for users; defaults to the class docstring.
    description: ClassVar[str] = ""
    #: Shared resources the block needs, e.g. ``{"desktop"}`` for mouse and keyboard.
    resources: ClassVar[frozenset[str]] = frozenset()
    #: Whether running it twice has the same effect as once (the editor warns if not).
    idempotent: ClassVar[bool] = True
    #: Loop blocks may sit on a cycle in the graph.
    loop: ClassVar[bool] = False
    #: Inputs handed to ``run`` as unrendered template text (``control.while``'s condition).
    raw_inputs: ClassVar[frozenset[str]] = frozenset()
    #: Composite blocks run other nodes (subflows) and enforce their own deadline.
    composite: ClassVar[bool] = False
    #: Seconds one attempt may run when neither the node nor the workflow's
    #: ``defaults`` set a timeout; None is no limit.  Desktop blocks set one, so
    #: that no desktop step can hold the mouse and keyboard for ever.
    default_timeout: ClassVar[float | None] = None

    Input: ClassVar[type[BlockInput]] = NoInput
    Output: ClassVar[type[BlockOutput]] = NoOutput

    def run(self, inputs: InT, ctx: BlockContext) -> RunResult:
        raise NotImplementedError

    def check_resumed(self, inputs: InT, ctx: BlockContext) -> ResumeCheck | None:
        """Called on resume, instead of ``run``, for the step a dead worker left in flight.

        None (the default) means the block cannot tell whether that step took
        effect, and it runs again (at-least-once).  Blocks with a postcondition
        (the desktop actions' ``expect``) check it and say.
        """
        return None

    @classmethod
    def timeout_for(cls, literal: Mapping[str, Any]) -> float | None:
        """The timeout a node gets when it sets none, given its literal inputs.

        ``literal`` holds the node's ``with:`` values as written (templates not
        rendered), so a block can allow for a wait the user asked for.
        """
        return cls.default_timeout

    @classmethod
    def summary(cls) -> str:
        text = cls.description or (cls.__doc__ or "").strip()
        return text.split("\n\n")[0].replace("\n", " ").strip()

    @classmethod
    def logger(cls) -> logging.Logger:
        return logging.getLogger(cls.__module__)


def resolve_path(ctx: BlockContext, path: str | Path) -> Path:
    """Paths in workflows are relative to the workflow file's folder; ``~`` expands."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else ctx.workflow_dir / candidate
