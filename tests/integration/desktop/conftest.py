"""Fixtures for desktop tests: the Xvfb display and Qt test windows on it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from automation.blocks import desktop
from automation.blocks.registry import BlockRegistry
from automation.engine.engine import Engine
from automation.engine.events import Event
from automation.engine.result import RunResult
from automation.validation import load_valid
from tests.helpers.common import eventually
from tests.helpers.xvfb import XDisplay

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class TestWindow:
    process: subprocess.Popen[bytes]
    state_path: Path
    _seen: int = field(default=0)

    def state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_path.read_text(encoding="utf-8")))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def box(self, widget: str) -> list[int]:
        return list(self.state()["geometry"][widget])

    def center(self, widget: str) -> tuple[int, int]:
        x, y, w, h = self.box(widget)
        return x + w // 2, y + h // 2

    def wait_for(
        self, check: Callable[[dict[str, Any]], Any], timeout: float = 5.0
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any]:
            state = self.state()
            return state if state and check(state) else {}

        result: dict[str, Any] = eventually(probe, timeout=timeout)
        return result

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def open_window(
    xvfb_display: XDisplay,
    tmp_path: Path,
) -> Iterator[Callable[..., TestWindow]]:
    """Start the Qt test window as a real xcb client; returns it once it has drawn."""
    windows: list[TestWindow] = []

    def start(*args: str, scale: float = 1.0, name: str = "w") -> TestWindow:
        state = tmp_path / f"{name}-{len(windows)}.json"
        env = xvfb_display.env(QT_QPA_PLATFORM="xcb", QT_SCALE_FACTOR=str(scale))
        env["QT_SCALE_FACTOR_ROUNDING_POLICY"] = "PassThrough"
        log = tmp_path / f"{name}-{len(windows)}.log"
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.integration.desktop.testwindow",
                    "--state",
                    str(state),
                    *args,
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        window = TestWindow(process, state)
        windows.append(window)
        try:
            window.wait_for(lambda s: s.get("ready"), timeout=15)
        except AssertionError:
            window.close()
            err = log.read_text(errors="replace")
            raise AssertionError(f"the test window did not come up: {err[-2000:]}") from None
        return window

    yield start
    for window in windows:
        window.close()


@dataclass
class Flows:
    """Runs workflow YAML through the real engine, collecting its events."""

    registry: BlockRegistry
    folder: Path
    events: list[Event] = field(default_factory=list)

    def run(
        self, text: str, inputs: dict[str, Any] | None = None, name: str = "flow.yaml"
    ) -> RunResult:
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        loaded = load_valid(path, self.registry)
        engine = Engine(self.registry, sink=self.record, artifacts_dir=self.folder / "artifacts")
        try:
            return engine.run(loaded, inputs or {})
        finally:
            engine.close()

    def record(self, event: Event) -> None:
        self.events.append(event)

    def artifacts(self) -> list[Any]:
        return [e for e in self.events if type(e).__name__ == "ArtifactSaved"]


@pytest.fixture
def flows(desktop_registry: BlockRegistry, tmp_path: Path) -> Flows:
    return Flows(desktop_registry, tmp_path)


@pytest.fixture(scope="session")
def desktop_registry() -> BlockRegistry:
    registry = BlockRegistry.with_builtins(plugins=False)
    if "mouse.click" not in registry:
        registry.register_module(desktop)
    return registry
