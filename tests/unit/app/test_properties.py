"""Property forms generated from real blocks' JSON Schemas, with inline validation."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox
from pytestqt.qtbot import QtBot

from app import theme as themes
from app.editor.completer import TemplateLineEdit, template_candidates
from app.editor.document import UNSET, WorkflowDocument
from app.editor.fields import CommitTextEdit, FieldEditor, LinkedField
from app.editor.schema import field_specs, format_loose, parse_loose
from app.editor.widget import EditorWidget
from automation.blocks.registry import BlockRegistry

TEXT = """\
name: forms
inputs:
  site: {type: string, default: "http://127.0.0.1"}
vars:
  counter: 0
nodes:
  fetch:
    block: http.request
    with: {url: "{{ inputs.site }}"}
  save:
    block: file.write
    with: {path: out.txt, content: x}
  each:
    block: control.for_each
  compare:
    block: data.compare
links:
  - fetch.body -> save.content
"""


@pytest.fixture
def editor(qtbot: QtBot, registry: BlockRegistry) -> EditorWidget:
    widget = EditorWidget(WorkflowDocument.from_text(TEXT), registry, themes.LIGHT)
    qtbot.addWidget(widget)
    widget.resize(1300, 800)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def form(editor: EditorWidget, node_id: str) -> dict[str, FieldEditor | LinkedField]:
    editor.scene.select_nodes([node_id])
    assert editor.properties.node_id == node_id
    return editor.properties.fields


def field(editor: EditorWidget, node_id: str, name: str) -> FieldEditor:
    widget = form(editor, node_id)[name]
    assert isinstance(widget, FieldEditor)
    return widget


def type_and_enter(qtbot: QtBot, line: QLineEdit, text: str) -> None:
    line.selectAll()
    qtbot.keyClick(line, Qt.Key.Key_Delete)
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Return)


def test_http_request_form_follows_its_schema(
    editor: EditorWidget, registry: BlockRegistry
) -> None:
    fields = form(editor, "fetch")
    assert list(fields) == list(registry["http.request"].Input.model_fields)
    method = fields["method"]
    assert isinstance(method, FieldEditor) and isinstance(method.literal, QComboBox)
    options = [method.literal.itemText(i) for i in range(method.literal.count())]
    assert options == ["default (GET)", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    url = fields["url"]
    assert isinstance(url, FieldEditor) and isinstance(url.literal, TemplateLineEdit)
    assert "*" in url.label.text(), "required inputs are marked"
    assert url.literal.text() == "{{ inputs.site }}"
    assert isinstance(fields["headers"], FieldEditor)
    assert isinstance(fields["headers"].literal, CommitTextEdit), "objects get a JSON editor"
    assert isinstance(fields["follow_redirects"].literal, QCheckBox)  # type: ignore[union-attr]
    assert fields["follow_redirects"].literal.isChecked()  # type: ignore[union-attr]
    max_bytes = fields["max_bytes"]
    assert isinstance(max_bytes, FieldEditor) and isinstance(max_bytes.literal, QSpinBox)
    assert max_bytes.literal.minimum() == 1, "exclusiveMinimum 0 becomes a spin box minimum"
    assert max_bytes.literal.value() == 10_485_760, "the default is shown"
    timeout = fields["timeout"]
    assert isinstance(timeout, FieldEditor)
    assert "give up after this long" in timeout.literal.toolTip(), "descriptions are tooltips"


def test_file_write_form_and_linked_input(editor: EditorWidget) -> None:
    fields = form(editor, "save")
    assert isinstance(fields["content"], LinkedField), "a linked input shows its source"
    assert isinstance(fields["path"], FieldEditor)
    assert fields["path"].spec.required
    assert isinstance(fields["binary"].literal, QCheckBox)  # type: ignore[union-attr]


def test_emptying_a_required_field_shows_the_error_and_marks_the_node(
    qtbot: QtBot, editor: EditorWidget
) -> None:
    path = field(editor, "save", "path")
    assert isinstance(path.literal, QLineEdit)
    type_and_enter(qtbot, path.literal, "")
    assert "path" not in editor.document.node_inputs("save")
    assert path.error.isVisible() or not path.error.isHidden()
    assert "required" in path.error.text()
    editor.validate_now()
    assert any("required input 'path'" in i for i in editor.scene.node_items["save"].issues)


def test_a_bad_duration_is_shown_inline_and_not_saved(qtbot: QtBot, editor: EditorWidget) -> None:
    timeout = field(editor, "fetch", "timeout")
    assert isinstance(timeout.literal, QLineEdit)
    type_and_enter(qtbot, timeout.literal, "soon")
    assert "'soon' is not a duration" in timeout.error.text()
    assert not timeout.error.isHidden()
    assert "timeout" not in editor.document.node_inputs("fetch")
    type_and_enter(qtbot, timeout.literal, "5s")
    assert editor.document.node_inputs("fetch")["timeout"] == "5s"
    assert timeout.error.isHidden()


def test_json_field_for_each_items(qtbot: QtBot, editor: EditorWidget) -> None:
    items = field(editor, "each", "items")
    assert isinstance(items.literal, CommitTextEdit)
    items.literal.setPlainText("[1, 2")
    assert "not valid JSON" in items.error.text()
    items.literal.editing_finished.emit()
    assert "items" not in editor.document.node_inputs("each")
    items.literal.setPlainText("[1, 2]")
    assert items.error.isHidden()
    items.literal.editing_finished.emit()
    assert editor.document.node_inputs("each")["items"] == [1, 2]
    items.literal.setPlainText('{"a": 1}')
    assert "must be a list, not a mapping" in items.error.text(), (
        "the type is checked, not only JSON"
    )


def test_data_compare_any_enum_and_bool(qtbot: QtBot, editor: EditorWidget) -> None:
    left = field(editor, "compare", "left")
    assert isinstance(left.literal, QLineEdit)
    type_and_enter(qtbot, left.literal, "42")
    assert editor.document.node_inputs("compare")["left"] == 42
    type_and_enter(qtbot, left.literal, "forty-two")
    assert editor.document.node_inputs("compare")["left"] == "forty-two"
    op = field(editor, "compare", "op")
    assert isinstance(op.literal, QComboBox)
    index = op.literal.findData("contains")
    op.literal.setCurrentIndex(index)
    op.literal.activated.emit(index)
    assert editor.document.node_inputs("compare")["op"] == "contains"
    ignorecase = field(editor, "compare", "ignorecase")
    assert isinstance(ignorecase.literal, QCheckBox)
    ignorecase.literal.setChecked(True)
    assert editor.document.node_inputs("compare")["ignorecase"] is True


def test_a_template_in_a_number_field(qtbot: QtBot, editor: EditorWidget) -> None:
    max_bytes = field(editor, "fetch", "max_bytes")
    max_bytes.template_button.setChecked(True)
    assert max_bytes.stack.currentWidget() is max_bytes.template
    type_and_enter(qtbot, max_bytes.template, "{{ vars.counter * 1024 }}")
    assert editor.document.node_inputs("fetch")["max_bytes"] == "{{ vars.counter * 1024 }}"
    type_and_enter(qtbot, max_bytes.template, "{{ vars.counter ")
    assert "template syntax error" in max_bytes.error.text()
    assert editor.document.node_inputs("fetch")["max_bytes"] == "{{ vars.counter * 1024 }}"


def test_spin_edits_merge_and_undo_updates_the_form(qtbot: QtBot, editor: EditorWidget) -> None:
    max_bytes = field(editor, "fetch", "max_bytes")
    assert isinstance(max_bytes.literal, QSpinBox)
    before = editor.undo_stack.count()
    max_bytes.literal.setValue(100)
    max_bytes.literal.setValue(200)
    assert editor.undo_stack.count() == before + 1
    assert editor.document.node_inputs("fetch")["max_bytes"] == 200
    editor.undo_stack.undo()
    assert "max_bytes" not in editor.document.node_inputs("fetch")
    assert max_bytes.literal.value() == 10_485_760, "the form follows undo"


def test_reset_clears_the_value(editor: EditorWidget) -> None:
    url = field(editor, "fetch", "url")
    url.reset_button.click()
    assert "url" not in editor.document.node_inputs("fetch")


def test_retry_and_timeout_settings(qtbot: QtBot, editor: EditorWidget) -> None:
    form(editor, "fetch")
    panel = editor.properties
    panel.retry_box.setChecked(True)
    assert editor.document.nodes["fetch"]["retry"] == {
        "max_attempts": 3,
        "delay": "1s",
        "multiplier": 2,
    }
    panel.attempts.setValue(5)
    panel.multiplier.setValue(1.5)
    assert editor.document.nodes["fetch"]["retry"]["max_attempts"] == 5
    assert editor.document.nodes["fetch"]["retry"]["multiplier"] == 1.5
    type_and_enter(qtbot, panel.delay, "never")
    assert "not a duration" in panel.retry_error.text()
    assert editor.document.nodes["fetch"]["retry"]["delay"] == "1s"
    type_and_enter(qtbot, panel.timeout, "10s")
    assert editor.document.nodes["fetch"]["timeout"] == "10s"
    panel.retry_box.setChecked(False)
    assert "retry" not in editor.document.nodes["fetch"]


def test_rename_from_the_panel(qtbot: QtBot, editor: EditorWidget) -> None:
    form(editor, "fetch")
    type_and_enter(qtbot, editor.properties.id_edit, "save")
    assert "there is already a node 'save'" in editor.properties.id_error.text()
    type_and_enter(qtbot, editor.properties.id_edit, "download")
    assert "download" in editor.document.nodes
    assert editor.document.links[0].source == "download"


def test_template_completion_names(editor: EditorWidget, registry: BlockRegistry) -> None:
    names = template_candidates(editor.document, registry, "save", ["api_token"])
    assert "inputs.site" in names
    assert "vars.counter" in names
    assert "secrets.api_token" in names
    assert "nodes.fetch.body" in names, "upstream outputs"
    assert "nodes.fetch.error.message" in names
    assert not any(name.startswith("nodes.compare.") for name in names), "not upstream of save"


def test_completer_pops_up_inside_braces(qtbot: QtBot, editor: EditorWidget) -> None:
    path = field(editor, "save", "path")
    line = path.literal
    assert isinstance(line, TemplateLineEdit)
    line.setFocus()
    line.clear()
    qtbot.keyClicks(line, "{{ inputs.s")
    assert line.completer_.completionPrefix() == "inputs.s"
    assert line.completer_.currentCompletion() == "inputs.site"
    line.completer_.activated.emit("inputs.site")
    assert line.text() == "{{ inputs.site"


def test_schema_kinds_for_unions(registry: BlockRegistry) -> None:
    kinds = {s.name: s.kind for s in field_specs(registry["data.math"].Input)}
    assert kinds == {
        "operation": "enum",
        "a": "number",
        "b": "number",
        "values": "json",
        "digits": "integer",
    }
    expect = {s.name: s.kind for s in field_specs(registry["http.request"].Input)}["expect_status"]
    assert expect == "any", "int | str | list reads as loose text, so '2xx' stays typeable"


@pytest.mark.parametrize(
    "value", [42, 1.5, True, None, [1, "a"], {"k": 1}, "text", "42", "true", ""]
)
def test_loose_text_round_trip(value: object) -> None:
    assert parse_loose(format_loose(value)) == value


def test_unset_shows_the_default(editor: EditorWidget) -> None:
    method = field(editor, "fetch", "method")
    assert method.value() is UNSET
    assert isinstance(method.literal, QComboBox)
    assert method.literal.currentText() == "default (GET)"
