"""Every example workflow validates and does what its comment says, against real things."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import psutil
import pytest

from automation.blocks.registry import BlockRegistry
from automation.clock import FakeClock
from automation.engine.engine import Engine
from automation.engine.events import Event, LogEmitted
from automation.engine.result import RunResult
from automation.loader import read_workflow_file
from automation.validation import load_valid, validate
from tests.helpers.common import eventually

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
#: the other modules that run an example (desktop ones, with their fixtures)
ALSO_RUN_IN = [Path(__file__).parent / "desktop" / "test_xterm_example.py"]


def run(
    name: str, inputs: dict[str, object], registry: BlockRegistry
) -> tuple[RunResult, list[Event]]:
    events: list[Event] = []
    engine = Engine(registry, sink=events.append, clock=FakeClock(), seed=1)
    return engine.run(load_valid(EXAMPLES / name, registry), inputs), events


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_example_validates(path: Path, registry: BlockRegistry) -> None:
    assert validate(read_workflow_file(path), registry) == []


def test_every_example_is_run_by_a_test() -> None:
    """Validating is not running: each shipped example must be run as shipped somewhere."""
    sources = "".join(p.read_text(encoding="utf-8") for p in [Path(__file__), *ALSO_RUN_IN])
    missing = [p.name for p in sorted(EXAMPLES.glob("*.yaml")) if f'"{p.name}"' not in sources]
    assert missing == []


def test_every_image_an_example_uses_is_shipped() -> None:
    for example in sorted(EXAMPLES.glob("*.yaml")):
        text = example.read_text(encoding="utf-8")
        for image in EXAMPLES.glob("images/*.png"):
            text = text.replace(f"images/{image.name}", "")
        assert "images/" not in text, f"{example.name} names an image that is not in images/"


@pytest.mark.skipif(
    shutil.which("xmessage") is None, reason="xmessage is not installed (apt-get install x11-utils)"
)
def test_desktop_click_image_runs_as_shipped(xvfb_display, tmp_path: Path) -> None:
    """Its dialog and its button images come with it: no inputs, a real click on a real button.

    Run twice, as a user does: the second dialog opens under the pointer the
    first click left on Save, which Xaw then draws hovered, its border thicker
    (the template was captured without the pointer on it)."""
    from automation.blocks import desktop

    registry = BlockRegistry.with_builtins(plugins=False)
    if "mouse.click" not in registry:
        registry.register_module(desktop)
    for attempt in ("first", "hovered"):
        engine = Engine(registry, artifacts_dir=tmp_path / attempt)
        try:
            result = engine.run(load_valid(EXAMPLES / "desktop_click_image.yaml", registry), {})
        finally:
            engine.close()
        assert result.ok, (attempt, result.error)
        assert result.outputs["anchor"] == "captured" and result.outputs["healed"] is False
        assert Path(str(result.outputs["screenshot"])).is_file()
        # the click landed on Save: xmessage exits when one of its buttons is pressed
        pid = result.nodes["dialog"].outputs["pid"]
        eventually(
            lambda pid=pid: (
                not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
            )
        )
    # the second time, the button was found as it looks under the pointer
    assert float(str(result.outputs["score"])) < 0.9, result.outputs


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
