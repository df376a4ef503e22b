"""The editor's Record button: real XRecord input on Xvfb, inserted as one undoable edit.

Qt runs offscreen here (as every GUI unit test), while the recorder listens
to the shared Xvfb display, where xdotool types.  That the Deskpilot window
itself is never recorded is checked with a real window in
tests/integration/recording (events of an excluded process are dropped).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app import theme as themes
from app.editor.document import WorkflowDocument
from app.editor.widget import EditorWidget
from automation.blocks.registry import BlockRegistry
from tests.helpers.xvfb import XDisplay

TEXT = """\
deskpilot: 1
name: flow
nodes:
  start:
    block: control.pass
    position: [0, 0]
"""


@pytest.fixture
def editor(qtbot: QtBot, registry: BlockRegistry, tmp_path: Path) -> EditorWidget:
    path = tmp_path / "flow.yaml"
    path.write_text(TEXT, encoding="utf-8")
    widget = EditorWidget(WorkflowDocument.open(path), registry, themes.LIGHT)
    qtbot.addWidget(widget)
    return widget


def test_record_then_stop_inserts_the_typing_linked_after_the_selected_node(
    qtbot: QtBot, editor: EditorWidget, xvfb_display: XDisplay
) -> None:
    messages: list[str] = []
    editor.status_message.connect(messages.append)
    editor.scene.select_nodes(["start"])
    editor.record_button.click()
    assert editor.recording.active, messages
    assert editor.record_button.text() == "Stop"
    recorder = editor.recording._recorder
    assert recorder is not None
    subprocess.run(
        ["xdotool", "type", "--delay", "20", "hi there"], env=xvfb_display.env(), check=True
    )
    qtbot.waitUntil(lambda: recorder.input_count() >= 16, timeout=10_000)
    editor.record_button.click()
    qtbot.waitUntil(lambda: "type_1" in editor.document.nodes, timeout=30_000)
    assert editor.record_button.text() == "Record" and editor.record_button.isEnabled()
    node = editor.document.nodes["type_1"]
    assert node["block"] == "keyboard.type"
    assert node["with"] == {"text": "hi there"}
    assert [str(link) for link in editor.document.links] == ["start -> type_1"]
    assert editor.undo_stack.undoText() == "Record 1 step"
    editor.undo_stack.undo()
    assert list(editor.document.nodes) == ["start"]


def test_recording_needs_a_saved_file_and_a_display(
    qtbot: QtBot, registry: BlockRegistry, editor: EditorWidget, monkeypatch: pytest.MonkeyPatch
) -> None:
    unsaved = EditorWidget(WorkflowDocument.new("new"), registry, themes.LIGHT)
    qtbot.addWidget(unsaved)
    messages: list[str] = []
    unsaved.status_message.connect(messages.append)
    unsaved.record_button.click()
    assert not unsaved.recording.active
    assert messages == [
        "Save the workflow before recording: the recorded images go next to its file"
    ]

    monkeypatch.delenv("DISPLAY", raising=False)
    editor.status_message.connect(messages.append)
    editor.record_button.click()
    assert not editor.recording.active
    assert messages[-1].startswith("Cannot record: cannot connect to the X display")
    assert "X11" in messages[-1]
