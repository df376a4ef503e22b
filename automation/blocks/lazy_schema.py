"""A block model's JSON Schema without building its validator and serializer.

Block models are declared with ``defer_build=True``: building the compiled
validators (pydantic-core) of every built-in block costs about 1.7 MiB of RSS
in each daemon and worker (42.4 against 40.7 MiB for a fresh interpreter that
builds the registry), and a daemon or worker uses few of them.  ``model_json_schema()`` on a deferred model completes the
class, building validator and serializer only to throw them away here, so the
registry's start-up check and the pin types go through the core schema alone.
The result is the same schema ``model_json_schema()`` gives (a unit test
compares them for every built-in block).

The core schema is generated through pydantic's internal modules, which a
later pydantic may move: then this falls back to ``model_json_schema()``,
which is right and only costs the memory again (the unit tests that count
built models say so in CI).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

try:
    from pydantic._internal._config import ConfigWrapper
    from pydantic._internal._generate_schema import GenerateSchema
    from pydantic._internal._mock_val_ser import MockCoreSchema
except ImportError:  # pragma: no cover - a pydantic that moved its internals
    _INTERNALS = False
else:
    _INTERNALS = True


def json_schema_of(
    model: type[BaseModel], mode: Literal["validation", "serialization"] = "validation"
) -> dict[str, Any]:
    """``model.model_json_schema(mode=mode)``, leaving a deferred model unbuilt."""
    if not _INTERNALS:  # pragma: no cover
        return model.model_json_schema(mode=mode)
    core = model.__dict__.get("__pydantic_core_schema__")
    if core is None or isinstance(core, MockCoreSchema):
        generator = GenerateSchema(ConfigWrapper(None))
        core = generator.clean_schema(generator.generate_schema(model))
    return GenerateJsonSchema(by_alias=None).generate(core, mode=mode)
