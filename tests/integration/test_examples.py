"""Every example workflow validates and does what its comment says, against real things."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from automation.blocks.registry import BlockRegistry
from automation.clock import FakeClock
from automation.engine.engine import Engine, RunResult
from automation.engine.events import Event, LogEmitted
from automation.loader import read_workflow_file
from automation.validation import load_valid, validate

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def run(
    name: str, inputs: dict[str, object], registry: BlockRegistry
) -> tuple[RunResult, list[Event]]:
    events: list[Event] = []
    engine = Engine(registry, sink=events.append, clock=FakeClock(), seed=1)
    return engine.run(load_valid(EXAMPLES / name, registry), inputs), events


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_example_validates(path: Path, registry: BlockRegistry) -> None:
    assert validate(read_workflow_file(path), registry) == []


def test_hello(registry: BlockRegistry) -> None:
    result, events = run("hello.yaml", {"who": "Ada", "count": 4}, registry)
    assert result.ok
    assert result.outputs == {"greeting": "Hello, Ada!", "total": 10}
    logs = [e.message for e in events if isinstance(e, LogEmitted)]
    assert logs == ["Hello, Ada!", "counted to 4, total 10"]


def test_subflow_calls_another_file_per_item(registry: BlockRegistry) -> None:
    result, events = run("subflow.yaml", {"names": ["Ada", "Linus"]}, registry)
    assert result.ok, result.error
    assert result.outputs == {"greetings": ["Hello, Ada!", "Hello, Linus!"]}
    child_runs = {e.run_id for e in events} - {result.run_id}
    assert len(child_runs) == 2


def test_tidy_folder_sorts_files_by_extension(registry: BlockRegistry, tmp_path: Path) -> None:
    for name in ("report.PDF", "photo.jpg", "notes.txt", "more.txt"):
        (tmp_path / name).write_text(name)
    (tmp_path / "keep").mkdir()

    result, _ = run("tidy_folder.yaml", {"folder": str(tmp_path)}, registry)

    assert result.ok, result.error
    assert result.outputs == {"moved": 4}
    assert sorted(
        p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
    ) == [
        "jpg/photo.jpg",
        "pdf/report.PDF",
        "txt/more.txt",
        "txt/notes.txt",
    ]


def test_http_to_file_saves_json_after_retrying(
    registry: BlockRegistry, http_server, tmp_path: Path
) -> None:
    http_server.flaky("/report", failures=2, status=503, ok_json={"sales": 42, "region": "north"})
    target = tmp_path / "report.json"

    result, events = run(
        "http_to_file.yaml", {"url": f"{http_server.url}/report", "output": str(target)}, registry
    )

    assert result.ok, result.error
    assert json.loads(target.read_text()) == {"region": "north", "sales": 42}
    assert result.nodes["fetch"].attempts == 3
    assert result.outputs == {"status": 200}
    assert len(http_server.hits("/report")) == 3
    assert not (tmp_path / "report.json.error.txt").exists()


def test_http_to_file_takes_the_error_branch_when_the_api_is_down(
    registry: BlockRegistry, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = tmp_path / "report.json"

    result, _ = run(
        "http_to_file.yaml",
        {"url": f"http://127.0.0.1:{port}/report", "output": str(target)},
        registry,
    )

    assert result.ok, result.error  # the error pin handled it
    assert result.nodes["fetch"].status == "failed"
    assert result.nodes["fetch"].attempts == 3
    assert not target.exists()
    assert "could not connect" in (tmp_path / "report.json.error.txt").read_text()
    assert result.outputs == {"status": "unreachable"}
