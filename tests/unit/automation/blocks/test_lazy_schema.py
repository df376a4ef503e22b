"""Block models are compiled on first use, not when the registry is built.

Every daemon and worker builds the whole registry, and the compiled
validators and serializers of the built-in block models are most of the
memory that costs.  The registry's start-up checks read the models' fields
and JSON Schema without compiling them; a block's model is compiled when it
first validates or dumps something.  The start-up check runs in a fresh
interpreter, because this test process has long since used every block.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from automation.blocks.desktop.expect import Expect
from automation.blocks.desktop.targets import Anchor, Target
from automation.blocks.lazy_schema import json_schema_of
from automation.blocks.registry import BlockRegistry
from tests.helpers.compiled_models import COMPILED_BLOCK_MODELS

EXAMPLES = Path(__file__).resolve().parents[4] / "resources" / "examples"


def _compiled_after(code: str) -> list[str]:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            COMPILED_BLOCK_MODELS + code + "\nimport json\nprint(json.dumps(compiled()))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_building_the_registry_compiles_no_block_model() -> None:
    compiled = _compiled_after(
        "from automation.blocks.registry import BlockRegistry\n"
        "registry = BlockRegistry.with_builtins()\n"
        "assert len(registry) > 50, len(registry)\n"
    )
    assert compiled == []


def test_validating_an_input_compiles_that_block_only() -> None:
    compiled = _compiled_after(
        "from automation.blocks.registry import BlockRegistry\n"
        "registry = BlockRegistry.with_builtins()\n"
        "registry['control.delay'].Input.model_validate({'seconds': 1})\n"
    )
    assert compiled == ["automation.blocks.control.DelayInput"]


def test_validating_workflows_compiles_none_of_their_block_models() -> None:
    """The daemon checks every workflow it holds; only the worker that runs one compiles."""
    compiled = _compiled_after(
        "from pathlib import Path\n"
        "from automation.blocks.registry import BlockRegistry\n"
        "from automation.loader import read_workflow_file\n"
        "from automation.validation import validate\n"
        "registry = BlockRegistry.with_builtins()\n"
        f"for path in sorted(Path({str(EXAMPLES)!r}).glob('*.yaml')):\n"
        "    issues = validate(read_workflow_file(path), registry, warnings=True)\n"
        "    assert not [i for i in issues if i.severity == 'error'], (path, issues)\n"
    )
    assert compiled == []


def _models(registry: BlockRegistry) -> list[tuple[str, type[BaseModel]]]:
    models: list[tuple[str, type[BaseModel]]] = []
    for block in registry:
        models += [(f"{block.id}.Input", block.Input), (f"{block.id}.Output", block.Output)]
    return models + [("Expect", Expect), ("Target", Target), ("Anchor", Anchor)]


@pytest.mark.parametrize("mode", ["validation", "serialization"])
def test_the_uncompiled_schema_is_the_models_own(mode: Any) -> None:
    registry = BlockRegistry.with_builtins(plugins=False)
    differ = [
        name
        for name, model in _models(registry)
        if json_schema_of(model, mode) != model.model_json_schema(mode=mode)
    ]
    assert differ == []
