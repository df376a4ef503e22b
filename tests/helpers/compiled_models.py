"""Code for a fresh interpreter: which block models have compiled validators.

Block models are compiled on first use (``defer_build``), and a test proves
that building the registry, checking workflows or starting the daemon leaves
them uncompiled.  It must look from a fresh interpreter, since the test process
has long since used every block; this snippet defines ``compiled()`` there.
"""

from __future__ import annotations

COMPILED_BLOCK_MODELS = """
from pydantic import BaseModel
from pydantic_core import SchemaSerializer, SchemaValidator

def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)

def compiled():
    return sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in set(_subclasses(BaseModel))
        if cls.__module__.startswith("automation.blocks")
        and (
            cls.__dict__.get("__pydantic_complete__")
            or isinstance(cls.__dict__.get("__pydantic_validator__"), SchemaValidator)
            or isinstance(cls.__dict__.get("__pydantic_serializer__"), SchemaSerializer)
        )
    )
"""
