"""The welcome page, the example gallery, templates for new workflows and the Help menu."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app import gallery, help_menu
from app.editor.widget import EditorWidget
from app.library import LibraryError
from app.resources import templates_dir
from app.welcome import WelcomePage
from automation.blocks.registry import BlockRegistry
from automation.loader import read_workflow_file
from automation.validation import validate
from supervisor.paths import DeskpilotPaths
from tests.unit.app.appkit import EXAMPLES
from tests.unit.app.test_main_window import ScriptedPrompts, make_window, paths  # noqa: F401


class ChoosingPrompts(ScriptedPrompts):
    def __init__(self) -> None:
        super().__init__()
        self.chosen: list[str] = []
        self.offered: list[list[str]] = []

    def choose(self, title: str, label: str, items: list[str]) -> str | None:
        self.offered.append(items)
        wanted = self.chosen.pop(0)
        return next(i for i in items if i.startswith(wanted))


def test_every_shipped_example_is_in_the_gallery_with_a_title_and_a_line(
    qtbot: QtBot,
    registry: BlockRegistry,
    paths: DeskpilotPaths,  # noqa: F811
) -> None:
    window = make_window(qtbot, registry, paths)
    page = window.empty
    assert isinstance(page, WelcomePage) and page.isVisible()
    shipped = sorted(EXAMPLES.glob("*.yaml"))
    assert [c.sample.path.name for c in page.cards] == [p.name for p in shipped]
    for card in page.cards:
        assert card.sample.title and card.sample.description, card.sample
        assert card.open_button.text() == "Open a copy"


def test_open_a_copy_brings_the_subflows_and_opens_a_valid_workflow(
    qtbot: QtBot,
    registry: BlockRegistry,
    paths: DeskpilotPaths,  # noqa: F811
) -> None:
    window = make_window(qtbot, registry, paths)
    qtbot.mouseClick(window.empty.card("greet-everyone").open_button, Qt.MouseButton.LeftButton)
    copy = paths.workflows_dir / "greet-everyone.yaml"
    assert copy.is_file()
    assert (paths.workflows_dir / "subflows" / "greet.yaml").read_bytes() == (
        EXAMPLES / "subflows" / "greet.yaml"
    ).read_bytes()
    editor = window.current_editor()
    assert isinstance(editor, EditorWidget) and editor.path == copy
    assert validate(read_workflow_file(copy), registry) == []
    # a second copy gets a free name; the identical subflow is shared, not duplicated
    second = window.open_example_copy(EXAMPLES / "subflow.yaml")
    assert second is not None and second.name == "greet-everyone-2.yaml"
    assert read_workflow_file(second).workflow.name == "greet-everyone-2"


def test_every_example_copies_with_what_it_refers_to(
    tmp_path: Path, registry: BlockRegistry
) -> None:
    for example in sorted(EXAMPLES.glob("*.yaml")):
        copy = gallery.open_copy(example, tmp_path)
        assert validate(read_workflow_file(copy), registry) == [], example.name
    for image in sorted(EXAMPLES.glob("images/*.png")):
        assert (tmp_path / "images" / image.name).read_bytes() == image.read_bytes()


def test_a_copy_never_overwrites_a_different_file_of_the_user(tmp_path: Path) -> None:
    (tmp_path / "subflows").mkdir()
    (tmp_path / "subflows" / "greet.yaml").write_text("mine\n", encoding="utf-8")
    with pytest.raises(LibraryError, match=r"greet.yaml already exists and differs"):
        gallery.open_copy(EXAMPLES / "subflow.yaml", tmp_path)
    assert (tmp_path / "subflows" / "greet.yaml").read_text() == "mine\n"


@pytest.mark.parametrize("template", sorted(templates_dir().glob("*.yaml")), ids=lambda p: p.name)
def test_every_template_validates(template: Path, registry: BlockRegistry) -> None:
    assert validate(read_workflow_file(template), registry) == []


@pytest.mark.parametrize("wanted", ["Blank", "desktop-task", "http-to-file", "file-watcher"])
def test_new_from_template_creates_and_opens_it(
    qtbot: QtBot,
    registry: BlockRegistry,
    paths: DeskpilotPaths,  # noqa: F811
    wanted: str,
) -> None:
    prompts = ChoosingPrompts()
    prompts.chosen.append(wanted)
    prompts.texts.append("my-task")
    window = make_window(qtbot, registry, paths, prompts=prompts)
    path = window.new_from_template()
    assert path == paths.workflows_dir / "my-task.yaml"
    loaded = read_workflow_file(path)
    assert loaded.workflow.name == "my-task"
    assert (len(loaded.workflow.nodes) == 0) == (wanted == "Blank")
    editor = window.current_editor()
    assert editor is not None and editor.path == path


def test_help_menu_documentation_shortcuts_and_about(
    qtbot: QtBot,
    registry: BlockRegistry,
    paths: DeskpilotPaths,  # noqa: F811
) -> None:
    window = make_window(qtbot, registry, paths)
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus[-1] == "Help"
    docs = help_menu.documentation_dialog(window)
    qtbot.addWidget(docs)
    assert "Deskpilot" in docs.findChild(help_menu.QTextBrowser, "documentation").toPlainText()
    rows = help_menu.shortcut_rows(window.menuBar())
    assert ("File", "New workflow…", "Ctrl+N") in rows
    assert ("Help", "Documentation", "F1") in rows
    about = help_menu.about_text(paths)
    assert str(paths.workflows_dir) in about and "Resources" in about


def test_about_hides_a_database_password(tmp_path: Path) -> None:
    postgres_paths = DeskpilotPaths.under(
        tmp_path, database_url="postgresql+psycopg://me:hunter2@db/dp"
    )
    assert "hunter2" not in help_menu.about_text(postgres_paths)


def test_help_welcome_opens_as_a_tab_and_closes(
    qtbot: QtBot,
    registry: BlockRegistry,
    paths: DeskpilotPaths,  # noqa: F811
) -> None:
    window = make_window(qtbot, registry, paths)
    window.open_workflow(paths.workflows_dir / "hello.yaml")
    assert not window.empty.isVisible()
    window.show_welcome()
    assert isinstance(window.tabs.currentWidget(), WelcomePage)
    assert window.close_tab(window.tabs.currentIndex())
    assert window.tabs.count() == 1
