"""Capture helpers: pick a region as a template, pick a point, test a target on the screen.

Qt stays offscreen; the screen the helpers grab is a real X server: a private
Xvfb (module-scoped, not the session one, so DISPLAY does not leak into other
app tests) whose root window shows a known picture.  So the overlay's
selection can be checked pixel for pixel against what was painted, and the
target test searches a real mss grab with the blocks' own matcher.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest
from pydantic import Field
from PySide6.QtCore import QPoint, Qt
from pytestqt.qtbot import QtBot

from app import theme as themes
from app.editor.capture import capture_support
from app.editor.capture_overlay import CaptureOverlay
from app.editor.capture_tools import CaptureController, CaptureTools
from app.editor.commands import SetInputCommand
from app.editor.document import WorkflowDocument
from app.editor.fields import FieldEditor
from app.editor.target_test import TargetTestResult
from app.editor.widget import EditorWidget
from automation.blocks.base import BlockInput
from automation.blocks.context import BlockContext
from automation.blocks.desktop.common import DesktopBlock, Evidence
from automation.blocks.desktop.targets import Target
from automation.blocks.registry import BlockRegistry
from tests.helpers.xvfb import XDisplay, start_xvfb

SIZE = (1280, 800)
BUTTON = (300, 200, 120, 40)  # x, y, w, h of the painted "Save" button
NOISE = (700, 400, 200, 150)  # a patch of seeded noise: every pixel differs
FLAT = (40, 600, 80, 60)  # plain background

WORKFLOW = """\
deskpilot: 1
name: capture
nodes:
  click:
    block: image.click
    with:
      target:
        anchors:
          - {image: images/old.png, name: captured}
          - {text: Save}
  find:
    block: image.find
    with: {template: images/button.png}
  move:
    block: mouse.move
    with: {x: 1, y: 2, relative: true}
  watch:
    block: screen.wait_for_color
    with: {x: 5, y: 6, colour: "#000000"}
  write:
    block: file.write
    with: {path: out.txt, content: x}
"""


def painted_desktop() -> np.ndarray:
    picture = np.full((SIZE[1], SIZE[0], 3), (214, 206, 198), np.uint8)
    x, y, w, h = BUTTON
    cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), (180, 90, 20), -1)
    cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), (60, 30, 10), 2)
    cv2.putText(picture, "Save", (x + 28, y + 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255,) * 3, 2)
    x, y, w, h = NOISE
    picture[y : y + h, x : x + w] = np.random.default_rng(7).integers(0, 256, (h, w, 3))
    return picture


def paint_root(display: XDisplay, picture: np.ndarray) -> Any:
    """Make ``picture`` the root window's background: what any grab of the screen sees.

    Returns the X connection, which must stay open: Xvfb resets the screen
    (background included) when its last client disconnects.
    """
    from Xlib import X  # type: ignore[import-untyped]
    from Xlib import display as xdisplay

    connection = xdisplay.Display(display.name)
    screen = connection.screen()
    height, width = picture.shape[:2]
    pixmap = screen.root.create_pixmap(width, height, screen.root_depth)
    gc = pixmap.create_gc()
    data = cv2.cvtColor(picture, cv2.COLOR_BGR2BGRA).tobytes()
    rows = max(1, 200_000 // (width * 4))  # stay under the X request size limit
    for top in range(0, height, rows):
        count = min(rows, height - top)
        chunk = data[top * width * 4 : (top + count) * width * 4]
        pixmap.put_image(gc, 0, top, width, count, X.ZPixmap, 24, 0, chunk)
    screen.root.change_attributes(background_pixmap=pixmap)
    screen.root.clear_area()
    connection.sync()
    return connection


@dataclass(frozen=True)
class Desktop:
    display: XDisplay
    picture: np.ndarray

    def region(self, box: tuple[int, int, int, int]) -> np.ndarray:
        x, y, w, h = box
        return self.picture[y : y + h, x : x + w]


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    try:
        display = start_xvfb((SIZE,), xauthority_dir=tmp_path_factory.mktemp("capture-x"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISPLAY", display.name)
        patch.setenv("XAUTHORITY", str(display.xauthority))
        connection = None
        try:
            picture = painted_desktop()
            connection = paint_root(display, picture)
            yield Desktop(display, picture)
        finally:
            if connection is not None:
                connection.close()
            display.stop()


@pytest.fixture
def workflow(tmp_path: Path, desktop: Desktop) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(WORKFLOW, encoding="utf-8")
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "button.png"), desktop.region(BUTTON))
    return path


def make_editor(qtbot: QtBot, registry: BlockRegistry, document: WorkflowDocument) -> EditorWidget:
    editor = EditorWidget(document, registry, themes.LIGHT)
    qtbot.addWidget(editor)
    editor.resize(1200, 800)
    editor.show()
    qtbot.waitExposed(editor)
    editor.properties.capture.settle_ms = 0
    return editor


@pytest.fixture
def editor(qtbot: QtBot, registry: BlockRegistry, workflow: Path) -> EditorWidget:
    return make_editor(qtbot, registry, WorkflowDocument.open(workflow))


def tools(editor: EditorWidget, node_id: str) -> CaptureTools:
    editor.scene.select_nodes([node_id])
    found = editor.properties.findChild(CaptureTools)
    assert isinstance(found, CaptureTools)
    return found


def open_overlay(qtbot: QtBot, editor: EditorWidget, node_id: str, button: str) -> CaptureOverlay:
    controller = editor.properties.capture
    qtbot.mouseClick(tools(editor, node_id).buttons[button], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: controller.overlay is not None and controller.overlay.isVisible())
    assert controller.overlay is not None
    return controller.overlay


def drag(qtbot: QtBot, overlay: CaptureOverlay, box: tuple[int, int, int, int]) -> None:
    """Press on the first pixel of ``box``, move, release on its last pixel."""
    x, y, w, h = box
    qtbot.mousePress(overlay, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    qtbot.mouseMove(overlay, QPoint(x + w // 2, y + h // 2))
    qtbot.mouseRelease(overlay, Qt.MouseButton.LeftButton, pos=QPoint(x + w - 1, y + h - 1))


def test_region_becomes_a_template_with_the_exact_pixels(
    qtbot: QtBot, editor: EditorWidget, workflow: Path, desktop: Desktop
) -> None:
    images = workflow.parent / "images"
    (images / "click-1.png").write_bytes(b"an earlier capture")
    before = editor.document.node_inputs("click")["target"]
    overlay = open_overlay(qtbot, editor, "click", "capture_image")
    assert not editor.isVisible(), "the editor hides so that what is behind it can be captured"
    qtbot.mousePress(overlay, Qt.MouseButton.LeftButton, pos=QPoint(NOISE[0], NOISE[1]))
    qtbot.mouseMove(overlay, QPoint(NOISE[0] + 9, NOISE[1] + 4))
    assert overlay.readout().startswith(f"{NOISE[0] + 9}, {NOISE[1] + 4}")
    assert overlay.readout().endswith("10 × 5"), "the selection size shows while dragging"
    qtbot.mouseRelease(overlay, Qt.MouseButton.LeftButton, pos=QPoint(NOISE[0] + 59, NOISE[1] + 39))
    qtbot.waitUntil(lambda: editor.properties.capture.overlay is None)
    assert editor.isVisible()
    assert (images / "click-1.png").read_bytes() == b"an earlier capture", "never overwritten"
    saved = cv2.imread(str(images / "click-2.png"), cv2.IMREAD_UNCHANGED)
    expected = desktop.region((NOISE[0], NOISE[1], 60, 40))
    assert saved is not None and saved.shape == (40, 60, 3)
    assert np.array_equal(saved, expected)
    target = editor.document.node_inputs("click")["target"]
    assert target["anchors"][0] == {"image": "images/click-2.png", "name": "captured"}
    assert target["anchors"][1] == {"text": "Save"}
    assert target["captured_screen"] == list(SIZE)
    assert "images/click-2.png" in tools(editor, "click").message.text()
    editor.undo_stack.undo()
    assert editor.document.node_inputs("click")["target"] == before


def test_template_input_is_replaced_and_captured_screen_needs_a_target(
    qtbot: QtBot, editor: EditorWidget, workflow: Path, desktop: Desktop
) -> None:
    overlay = open_overlay(qtbot, editor, "find", "capture_image")
    drag(qtbot, overlay, BUTTON)
    qtbot.waitUntil(lambda: editor.properties.capture.overlay is None)
    inputs = editor.document.node_inputs("find")
    assert inputs["template"] == "images/find-1.png" and "target" not in inputs
    saved = cv2.imread(str(workflow.parent / "images" / "find-1.png"))
    assert saved is not None and np.array_equal(saved, desktop.region(BUTTON))


def test_near_uniform_region_is_refused_and_esc_cancels(
    qtbot: QtBot, editor: EditorWidget, workflow: Path
) -> None:
    before = editor.document.to_data()
    overlay = open_overlay(qtbot, editor, "click", "capture_image")
    drag(qtbot, overlay, FLAT)
    assert "almost one flat colour" in overlay.error
    assert overlay.isVisible(), "a refused selection leaves the overlay open to select again"
    assert sorted(p.name for p in (workflow.parent / "images").iterdir()) == ["button.png"]
    qtbot.keyClick(overlay, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: editor.properties.capture.overlay is None)
    assert editor.isVisible()
    assert editor.document.to_data() == before and not editor.is_dirty()
    assert "cancelled" in tools(editor, "click").message.text()


def test_point_pick_sets_fields_and_undo_restores_them(
    qtbot: QtBot, editor: EditorWidget, desktop: Desktop
) -> None:
    overlay = open_overlay(qtbot, editor, "move", "pick_x")
    qtbot.mouseMove(overlay, QPoint(250, 120))
    assert overlay.readout().startswith("250, 120")
    qtbot.mouseClick(overlay, Qt.MouseButton.LeftButton, pos=QPoint(321, 222))
    qtbot.waitUntil(lambda: editor.properties.capture.overlay is None)
    assert dict(editor.document.node_inputs("move")) == {"x": 321, "y": 222}, "now absolute"
    field = editor.properties.fields["x"]
    assert isinstance(field, FieldEditor) and field.value() == 321, "the form follows"
    editor.undo_stack.undo()
    assert dict(editor.document.node_inputs("move")) == {"x": 1, "y": 2, "relative": True}

    overlay = open_overlay(qtbot, editor, "watch", "pick_x")
    qtbot.mouseClick(overlay, Qt.MouseButton.LeftButton, pos=QPoint(BUTTON[0] + 5, BUTTON[1] + 5))
    qtbot.waitUntil(lambda: editor.properties.capture.overlay is None)
    b, g, r = (int(v) for v in desktop.picture[BUTTON[1] + 5, BUTTON[0] + 5])
    assert dict(editor.document.node_inputs("watch")) == {
        "x": BUTTON[0] + 5,
        "y": BUTTON[1] + 5,
        "colour": f"#{r:02x}{g:02x}{b:02x}",
    }

    overlay = open_overlay(qtbot, editor, "click", "pick_position")
    qtbot.keyClick(overlay, Qt.Key.Key_Right)  # from the centre, one pixel right
    qtbot.keyClick(overlay, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: editor.properties.capture.overlay is None)
    anchors = editor.document.node_inputs("click")["target"]["anchors"]
    assert anchors[-1] == {"position": [SIZE[0] // 2 + 1, SIZE[1] // 2]}
    editor.undo_stack.undo()
    assert len(editor.document.node_inputs("click")["target"]["anchors"]) == 2


def run_test(qtbot: QtBot, editor: EditorWidget, node_id: str) -> TargetTestResult:
    controller = editor.properties.capture
    with qtbot.waitSignal(controller.tested, timeout=10_000) as signal:
        qtbot.mouseClick(tools(editor, node_id).buttons["test_target"], Qt.MouseButton.LeftButton)
    result = signal.args[0]
    assert isinstance(result, TargetTestResult)
    assert editor.isVisible() and not controller.busy
    return result


def test_test_target_finds_what_is_on_screen_and_reports_what_is_not(
    qtbot: QtBot, editor: EditorWidget, workflow: Path
) -> None:
    found = run_test(qtbot, editor, "find")
    assert found.error is None and found.located is not None
    assert found.located.box.as_list() == list(BUTTON)
    assert found.located.score >= 0.95 and found.located.anchor == "image:images/button.png"
    assert 0 < found.search_seconds < 5
    dialog = editor.properties.capture.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.summary.text().startswith("Found by anchor 1 of 1 (image:images/button.png)")
    assert dialog.picture.pixmap() is not None and not dialog.picture.pixmap().isNull()
    dialog.close()

    absent = np.zeros((30, 50, 3), np.uint8)
    cv2.circle(absent, (25, 15), 10, (0, 255, 255), 2)
    cv2.imwrite(str(workflow.parent / "images" / "absent.png"), absent)
    editor.push(SetInputCommand(editor.document, "find", "template", "images/absent.png"))
    missing = run_test(qtbot, editor, "find")
    assert missing.error is None and missing.located is None
    assert missing.candidate is not None and missing.candidate_score is not None
    assert missing.candidate_score < 0.85
    assert editor.properties.capture.dialog is not None
    assert editor.properties.capture.dialog.summary.text().startswith(
        "Not found at confidence 0.85; the best candidate scored"
    )


def test_test_target_needs_literal_values(qtbot: QtBot, registry: BlockRegistry) -> None:
    document = WorkflowDocument.from_text(
        WORKFLOW.replace("- {text: Save}", "- {image: '{{ inputs.alt }}'}")
    )
    editor = make_editor(qtbot, registry, document)
    qtbot.mouseClick(tools(editor, "click").buttons["test_target"], Qt.MouseButton.LeftButton)
    assert "uses a template ({{ inputs.alt }})" in tools(editor, "click").message.text()
    qtbot.mouseClick(tools(editor, "click").buttons["capture_image"], Qt.MouseButton.LeftButton)
    assert editor.properties.capture.overlay is None
    assert "Save the workflow first" in tools(editor, "click").message.text()


class _HoverInput(BlockInput):
    target: Target = Field(description="what to hover")
    seconds: float = 1.0


class _Hover(DesktopBlock[_HoverInput]):
    """A third-party block that uses the built-in Target type."""

    id: ClassVar[str] = "acme.hover"
    Input = _HoverInput

    def perform(self, inputs: _HoverInput, ctx: BlockContext, evidence: Evidence) -> Any:
        return None


def test_buttons_only_on_blocks_with_targets_or_points(qtbot: QtBot) -> None:
    plugins = BlockRegistry.with_builtins(plugins=False)
    plugins.register(_Hover)
    editor = make_editor(qtbot, plugins, WorkflowDocument.from_text(WORKFLOW))
    controller: CaptureController = editor.properties.capture

    def buttons(block_id: str) -> set[str]:
        box = controller.tools_for("n", plugins[block_id])
        return set(box.buttons) if box is not None else set()

    image = {"capture_image", "pick_position", "test_target"}
    assert buttons("image.click") == buttons("image.find") == buttons("image.wait") == image
    assert buttons("acme.hover") == image, "decided from the schema, not from block ids"
    assert buttons("mouse.move") == {"pick_x"}
    assert buttons("mouse.drag") == {"pick_from_x", "pick_to_x"}
    assert capture_support(plugins["screen.wait_for_color"].Input).points[0].colour == "colour"
    with_tools = {block.id for block in plugins if controller.tools_for("n", block) is not None}
    assert {"file.write", "http.request", "keyboard.type", "screen.size"}.isdisjoint(with_tools)
    tools(editor, "click")
    assert editor.properties.findChild(CaptureTools) is not None
    editor.scene.select_nodes(["write"])
    assert editor.properties.findChild(CaptureTools) is None


def test_the_grab_waits_until_what_the_editor_covered_is_repainted(
    qtbot: QtBot, editor: EditorWidget, desktop: Desktop
) -> None:
    """Without a compositor, what a hidden window covered is black until the windows behind
    repaint it: the capture used to show that black.  Here the area is black when the
    capture starts and painted 400 ms later (the root window stands in for the windows
    behind; the grabs are real ones of a real X server)."""
    from PySide6.QtCore import QTimer

    from automation.blocks.desktop.display import Box

    frame = editor.window().frameGeometry()
    x, y = max(frame.x(), 0), max(frame.y(), 0)
    w, h = min(frame.width(), SIZE[0] - x), min(frame.height(), SIZE[1] - y)
    assert w > 0 and h > 0
    black = desktop.picture.copy()
    black[y : y + h, x : x + w] = 0
    connections = [paint_root(desktop.display, black)]
    QTimer.singleShot(400, lambda: connections.append(paint_root(desktop.display, desktop.picture)))
    try:
        overlay = open_overlay(qtbot, editor, "click", "capture_image")
        assert len(connections) == 2, "the overlay opened before the repaint"
        seen = overlay.shot.crop(Box(x, y, w, h))
        assert np.array_equal(seen, desktop.region((x, y, w, h))), "the repainted pixels"
        qtbot.keyClick(overlay, Qt.Key.Key_Escape)
        qtbot.waitUntil(lambda: editor.properties.capture.overlay is None)
    finally:
        if len(connections) == 1:
            connections.append(paint_root(desktop.display, desktop.picture))
        for connection in connections:
            connection.close()
