"""The main window: workflows list, editor tabs, file actions, saved window state."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app import theme as themes
from app.connection import SupervisorConnection
from app.editor.widget import EditorWidget
from app.main_window import SETTINGS_FILE, MainWindow
from app.prompts import Prompts
from app.workflow_list import PATH_ROLE
from automation.blocks.registry import BlockRegistry
from supervisor.paths import DeskpilotPaths
from tests.unit.app.appkit import EXAMPLES


class ScriptedPrompts(Prompts):
    """Answers decided by the test, so no modal dialog blocks it."""

    def __init__(self) -> None:
        super().__init__(None)
        self.texts: list[str | None] = []
        self.confirms: list[bool] = []
        self.choices: list[str] = []
        self.errors: list[str] = []
        self.files: list[Path | None] = []

    def ask_text(self, title: str, label: str, default: str = "") -> str | None:
        return self.texts.pop(0)

    def confirm(self, title: str, text: str) -> bool:
        return self.confirms.pop(0)

    def save_discard_cancel(self, title: str, text: str) -> str:
        return self.choices.pop(0)

    def open_file(self, title: str, directory: Path | None = None) -> Path | None:
        return self.files.pop(0)

    def save_file(self, title: str, suggested: Path) -> Path | None:
        return self.files.pop(0)

    def error(self, title: str, text: str) -> None:
        self.errors.append(text)


class RecordingConnection(SupervisorConnection):
    """The connection seam as the editor uses it; the real one wraps the supervisor client."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False
        self.runs: list[tuple[Path, dict[str, Any]]] = []

    @property
    def connected(self) -> bool:
        return self.up

    def start_run(self, workflow: Path, inputs: Mapping[str, Any]) -> str:
        self.runs.append((workflow, dict(inputs)))
        return f"run-{len(self.runs)}"


@pytest.fixture
def paths(deskpilot_home: Path) -> DeskpilotPaths:
    paths = DeskpilotPaths.from_env()
    paths.workflows_dir.mkdir(parents=True)
    for name in ("hello.yaml", "http_to_file.yaml"):
        shutil.copy(EXAMPLES / name, paths.workflows_dir)
    (paths.workflows_dir / "broken.yaml").write_text(
        "name: broken\nnodes:\n  a: {block: file.write}\n", encoding="utf-8"
    )
    return paths


def make_window(
    qtbot: QtBot, registry: BlockRegistry, paths: DeskpilotPaths, **kwargs: Any
) -> MainWindow:
    kwargs.setdefault("prompts", ScriptedPrompts())
    window = MainWindow(registry, paths, theme=themes.LIGHT, **kwargs)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def prompts_of(window: MainWindow) -> ScriptedPrompts:
    assert isinstance(window.prompts, ScriptedPrompts)
    return window.prompts


def row_texts(window: MainWindow, column: int) -> dict[str, str]:
    model = window.list_model
    return {
        Path(model.index(r, 0).data(PATH_ROLE)).name: model.index(r, column).data()
        for r in range(model.rowCount())
    }


def test_list_shows_each_workflow_with_its_state(
    qtbot: QtBot, registry: BlockRegistry, paths: DeskpilotPaths
) -> None:
    window = make_window(qtbot, registry, paths)
    assert row_texts(window, 0) == {
        "broken.yaml": "broken",
        "hello.yaml": "hello",
        "http_to_file.yaml": "http-to-file",
    }
    states = row_texts(window, 1)
    assert states["hello.yaml"] == "✓"
    assert states["broken.yaml"] == "✗ 2"
    broken_row = window.list_model.row_of(paths.workflows_dir / "broken.yaml")
    assert broken_row is not None
    tooltip = window.list_model.index(broken_row, 1).data(Qt.ItemDataRole.ToolTipRole)
    assert "required input 'path' of file.write has no value" in tooltip
    assert row_texts(window, 2)["hello.yaml"] == "manual"


def test_new_files_appear_without_a_refresh(
    qtbot: QtBot, registry: BlockRegistry, paths: DeskpilotPaths
) -> None:
    window = make_window(qtbot, registry, paths)
    shutil.copy(EXAMPLES / "tidy_folder.yaml", paths.workflows_dir)
    qtbot.waitUntil(lambda: "tidy_folder.yaml" in row_texts(window, 0), timeout=5000)


def test_activating_a_row_opens_one_editor_tab(
    qtbot: QtBot, registry: BlockRegistry, paths: DeskpilotPaths
) -> None:
    window = make_window(qtbot, registry, paths)
    window.workflows.select_path(paths.workflows_dir / "hello.yaml")
    window.workflows.setFocus()
    qtbot.keyClick(window.workflows, Qt.Key.Key_Return)
    assert window.tabs.count() == 1
    editor = window.current_editor()
    assert isinstance(editor, EditorWidget) and editor.document.name == "hello"
    window.open_workflow(paths.workflows_dir / "hello.yaml")
    assert window.tabs.count() == 1, "an open workflow is focused, not opened twice"


def test_save_shortcut_and_undo_through_the_menu(
    qtbot: QtBot, registry: BlockRegistry, paths: DeskpilotPaths
) -> None:
    window = make_window(qtbot, registry, paths)
    editor = window.open_workflow(paths.workflows_dir / "hello.yaml")
    assert editor is not None
    path = paths.workflows_dir / "hello.yaml"
    original = path.read_bytes()
    window.save_action.trigger()
    assert path.read_bytes() == original, "saving without edits leaves the file as it was"
    editor.document.set_input("say", "message", "changed")  # not via the stack: exercise save
    editor.add_block("notify.log")
    assert window.tabs.tabText(0) == "hello *"
    window.undo_action.trigger()
    assert "log" not in editor.document.nodes
    window.redo_action.trigger()
    window.save_action.trigger()
    assert window.tabs.tabText(0) == "hello"
    saved = path.read_text(encoding="utf-8")
    assert "    block: notify.log\n" in saved and "changed" in saved
    assert saved.startswith("# The smallest useful workflow")


def test_new_workflow_opens_in_the_editor(
    qtbot: QtBot, registry: BlockRegistry, paths: DeskpilotPaths
) -> None:
    window = make_window(qtbot, registry, paths)
    prompts_of(window).texts.append("Nightly Backup")
    path = window.new_workflow()
    assert path == paths.workflows_dir / "nightly-backup.yaml"
    assert window.current_editor() is not None
    assert window.current_editor().document.name == "Nightly Backup"  # type: ignore[union-attr]
    assert "nightly-backup.yaml" in row_texts(window, 0)


def test_delete_moves_to_trash_and_closes_the_tab(
    qtbot: QtBot, registry: BlockRegistry, paths: DeskpilotPaths
) -> None:
    window = make_window(qtbot, registry, paths)
    window.open_workflow(paths.workflows_dir / "hello.yaml")
    window.workflows.select_path(paths.workflows_dir / "hello.yaml")
    prompts_of(window).confirms.append(True)
    trashed = window.delete_workflow()
    assert trashed is not None and trashed.parent.name == ".trash"
    assert window.tabs.count() == 0
    assert "hello.yaml" not in row_texts(window, 0)


def test_errors_are_shown_not_raised(
    qtbot: QtBot, registry: BlockRegistry, paths: DeskpilotPaths
) -> None:
    window = make_window(qtbot, registry, paths)
    (paths.workflows_dir / "junk.yaml").write_text("nodes: [1, 2\n", encoding="utf-8")
    assert window.open_workflow(paths.workflows_dir / "junk.yaml") is None
    assert "not valid YAML" in prompts_of(window).errors[-1]


def test_window_state_is_restored(
    qtbot: QtBot, registry: BlockRegistry, paths: DeskpilotPaths
) -> None:
    window = make_window(qtbot, registry, paths)
    window.open_workflow(paths.workflows_dir / "hello.yaml")
    window.open_workflow(paths.workflows_dir / "http_to_file.yaml")
    # the offscreen screen is 800x600 and restoring clamps to it: vary the height
    window.resize(window.width(), 530)
    # a width the editor side leaves room for at this size (its minimum grew with its panels)
    window.splitter.setSizes([200, window.width() - 200])
    window.close()
    assert (paths.config_dir / SETTINGS_FILE).is_file(), "settings live under DESKPILOT_HOME"
    again = make_window(qtbot, registry, paths)
    assert [e.document.name for e in again.editors()] == ["hello", "http-to-file"]
    assert again.tabs.currentIndex() == 1
    assert again.height() == 530
    assert again.splitter.sizes()[0] == 200


def test_closing_with_unsaved_changes_asks(
    qtbot: QtBot, registry: BlockRegistry, paths: DeskpilotPaths
) -> None:
    window = make_window(qtbot, registry, paths)
    editor = window.open_workflow(paths.workflows_dir / "hello.yaml")
    assert editor is not None
    editor.add_block("notify.log")
    prompts_of(window).choices += ["cancel", "save"]
    assert not window.close()
    assert window.isVisible()
    assert window.close()
    assert "log:" in (paths.workflows_dir / "hello.yaml").read_text(encoding="utf-8")


def test_run_needs_a_connection(
    qtbot: QtBot, registry: BlockRegistry, paths: DeskpilotPaths
) -> None:
    connection = RecordingConnection()
    window = make_window(qtbot, registry, paths, connection=connection)
    editor = window.open_workflow(paths.workflows_dir / "hello.yaml")
    assert editor is not None
    assert not editor.run_button.isEnabled() and not window.run_action.isEnabled()
    assert window.connection_label.text() == "Supervisor: not connected"
    connection.up = True
    connection.notify()
    assert editor.run_button.isEnabled() and window.run_action.isEnabled()
    window.run_action.trigger()
    assert connection.runs == [(paths.workflows_dir / "hello.yaml", {})]
