"""A block model's JSON Schema without building its validator and serializer.

Block models are declared with ``defer_build=True``: their compiled validators
(pydantic-core) cost some 8 MiB for the built-in blocks, and a daemon or worker
uses few of them.  ``model_json_schema()`` on a deferred model completes the
class, building validator and serializer only to throw them away here, so the
registry's start-up check and the pin types go through the core schema alone.
The result is the same schema ``model_json_schema()`` gives (a unit test
compares them for every built-in block).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic._internal._config import ConfigWrapper
from pydantic._internal._generate_schema import GenerateSchema
from pydantic._internal._mock_val_ser import MockCoreSchema
from pydantic.json_schema import GenerateJsonSchema


def json_schema_of(
    model: type[BaseModel], mode: Literal["validation", "serialization"] = "validation"
) -> dict[str, Any]:
    """``model.model_json_schema(mode=mode)``, leaving a deferred model unbuilt."""
    core = model.__dict__.get("__pydantic_core_schema__")
    if core is None or isinstance(core, MockCoreSchema):
        generator = GenerateSchema(ConfigWrapper(None))
        core = generator.clean_schema(generator.generate_schema(model))
    return GenerateJsonSchema(by_alias=None).generate(core, mode=mode)
