"""Input meant for a window behind a modal dialog fails loudly instead of landing elsewhere.

Mousepad (GTK, from Debian) under openbox, on a display of this module's own
(openbox would reparent the other desktop tests' windows).  Its Save As
dialog is modal and transient for the editor: openbox hands the focus to the
dialog when the editor is activated, so text meant for the document would
be typed into the dialog's file name field and the step would succeed.
Now ``window.focus`` on the editor, and ``keyboard.type``/``keyboard.hotkey``
naming the editor as their ``window``, fail and name both windows, with a
screenshot; once the dialog is closed the same steps type and save.  Held
keys, pointer moves naming the window and ``ui.click``'s mouse clicks are
checked the same way
(mousepad's session bus starts the accessibility bus for that).  The blocks
run in a child process (``block_probe.py``): pyautogui stays bound to the
display it was first imported on, and libatspi to the first accessibility bus.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from automation.blocks.desktop.display import Box
from automation.blocks.desktop.windows import WindowInfo, list_windows
from tests.helpers.common import eventually
from tests.helpers.openbox import openbox_desktop
from tests.helpers.xvfb import XDisplay
from tests.integration.desktop.conftest import ROOT

pytestmark = pytest.mark.timeout(120)


@dataclass
class Editor:
    display: XDisplay
    env: dict[str, str]
    window: WindowInfo
    document: Path
    folder: Path

    def xdotool(self, *args: str) -> None:
        subprocess.run(["xdotool", *args], env=self.env, check=True, timeout=10)

    def dialog(self) -> WindowInfo | None:
        return next((w for w in list_windows("^Save As$", include_hidden=False)), None)


@pytest.fixture(scope="module")
def editor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Editor]:
    folder = tmp_path_factory.mktemp("modal")
    with openbox_desktop(
        folder, ("mousepad", "xdotool"), LANG="C.UTF-8", LC_ALL="C.UTF-8"
    ) as desktop:
        document = folder / "letter.txt"
        document.write_text("", encoding="utf-8")
        desktop.start("mousepad", "--disable-server", str(document))
        window = eventually(
            lambda: next(iter(list_windows("letter.txt - Mousepad$", include_hidden=False)), None),
            timeout=30,
        )
        yield Editor(desktop.display, desktop.env, window, document, folder)


def _run(editor: Editor, *steps: tuple[str, dict[str, object]]) -> list[dict[str, object]]:
    """Run blocks in a child process on this module's display (``block_probe``)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.desktop.block_probe", str(editor.folder),
         json.dumps(steps)],
        cwd=ROOT, env={**editor.env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=90,
    )  # fmt: skip
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and len(lines) == len(steps), done.stderr[-3000:]
    return lines


def _error(line: dict[str, object]) -> str:
    assert "error" in line, f"the step succeeded: {line}"
    return str(line["error"])


def _open_save_as(editor: Editor) -> WindowInfo:
    # wider than the dialog, so that part of the editor stays uncovered to click on
    window = str(editor.window.id)
    editor.xdotool(
        "windowmove", "--sync", window, "0", "0", "windowsize", "--sync", window, "1900", "1040"
    )
    editor.xdotool("windowactivate", "--sync", window)
    editor.xdotool("key", "--clearmodifiers", "ctrl+shift+s")
    dialog: WindowInfo = eventually(editor.dialog, timeout=15, interval=0.05)
    return dialog


def _uncovered(window: Box, dialog: Box) -> tuple[int, int]:
    """A point of ``window`` that ``dialog`` does not cover."""
    for fx in (0.1, 0.5, 0.9):
        for fy in (0.3, 0.6, 0.9):
            x, y = window.x + int(window.width * fx), window.y + int(window.height * fy)
            inside = (
                dialog.x <= x < dialog.x + dialog.width and dialog.y <= y < dialog.y + dialog.height
            )
            if not inside:
                return x, y
    raise AssertionError(f"the dialog {dialog} covers the whole editor {window}")


def _close(editor: Editor, dialog: WindowInfo) -> None:
    editor.xdotool("key", "--window", str(dialog.id), "Escape")
    if editor.dialog() is not None:
        editor.xdotool("windowactivate", "--sync", str(dialog.id), "key", "Escape")
    eventually(lambda: editor.dialog() is None, timeout=10, interval=0.05)


def test_input_meant_for_an_editor_behind_its_modal_dialog_fails_with_evidence(
    editor: Editor,
) -> None:
    dialog = _open_save_as(editor)
    me = {"window_id": editor.window.id}
    try:
        box = next(w.box for w in list_windows() if w.id == editor.window.id)
        x, y = _uncovered(box, dialog.box)
        focused, typed, saved, clicked, scrolled = _run(
            editor,
            # activating the editor puts the focus into the dialog: refused, naming both
            ("window.focus", me),
            ("keyboard.type", {"text": "Dear Ada", "window": me}),
            ("keyboard.hotkey", {"keys": ["ctrl", "s"], "window": me}),
            # a click or a scroll on the editor's text while the dialog is open is refused too
            ("mouse.click", {"x": x, "y": y}),
            ("mouse.scroll", {"clicks": -2, "x": x, "y": y}),
        )
    finally:
        _close(editor, dialog)
    message = _error(focused)
    assert "modal dialog 'Save As'" in message, message
    assert "letter.txt - Mousepad' (id" in message, message
    screenshot = Path(message.split("(screenshot: ")[1].rstrip(")"))
    assert screenshot.is_file() and screenshot.stat().st_size > 0
    assert re.search("modal dialog 'Save As'.*would get the input", _error(typed))
    assert "modal dialog 'Save As'" in _error(saved)
    assert re.search("is open over '.*letter.txt - Mousepad'", _error(clicked))
    assert re.search("scrolling at .* refused", _error(scrolled))

    # the dialog closed: the same steps type into the document and save it
    steps = _run(
        editor,
        ("window.focus", me),
        ("keyboard.type", {"text": "Dear Ada", "window": me}),
        ("keyboard.hotkey", {"keys": ["ctrl", "s"], "window": me}),
    )
    assert all("outputs" in step for step in steps), steps
    eventually(lambda: editor.document.read_text(encoding="utf-8") == "Dear Ada", timeout=10)


def test_another_window_with_the_focus_is_named(editor: Editor) -> None:
    other = subprocess.Popen(
        ["xmessage", "-name", "intruder", "-title", "Intruder", "I took the focus"],
        env=editor.env,
        stderr=subprocess.DEVNULL,
    )
    try:
        intruder = eventually(
            lambda: next(iter(list_windows("^Intruder$", include_hidden=False)), None), timeout=15
        )
        focused, typed = _run(
            editor,
            ("window.focus", {"window_id": intruder.id}),
            ("keyboard.type", {"text": "never", "window": {"window_id": editor.window.id}}),
        )
        assert "outputs" in focused, focused
        assert re.search("'Intruder' .* would get the input, not '.*letter", _error(typed))
    finally:
        other.kill()
        other.wait()


FILE_MENU = "app~=(?i)mousepad / ... / menu[name=File]"


def test_held_keys_pointer_moves_and_element_clicks_are_checked_too(editor: Editor) -> None:
    dialog = _open_save_as(editor)
    me = {"window_id": editor.window.id}
    try:
        box = next(w.box for w in list_windows() if w.id == editor.window.id)
        x, y = _uncovered(box, dialog.box)
        held, released, moved, hovered, clicked = _run(
            editor,
            ("keyboard.key_down", {"key": "shift", "window": me}),
            # a release is never refused: a key left held would spoil every later step
            ("keyboard.key_up", {"key": "shift"}),
            # a bare move changes nothing in the window under it: it goes ahead; a hover
            # meant for the editor (window: named) is refused
            ("mouse.move", {"x": x, "y": y}),
            ("mouse.move", {"x": x, "y": y, "window": me}),
            # the File menu is outside the dialog: a mouse click there reaches the editor
            ("ui.click", {"selector": FILE_MENU, "method": "mouse", "timeout": 10}),
        )
    finally:
        _close(editor, dialog)
    assert re.search("modal dialog 'Save As'.*would get the input.*holding shift", _error(held))
    assert "outputs" in released, released
    assert moved["outputs"] == {"x": x, "y": y}, moved
    assert re.search("is open over '.*letter.txt - Mousepad'.*moving the pointer", _error(hovered))
    message = _error(clicked)
    assert re.search(r"is open over '.*letter.txt - Mousepad'.*a click at .*File", message)
    assert Path(message.split("(screenshot: ")[1].rstrip(")")).is_file()

    # the dialog closed: the same steps go ahead
    steps = _run(
        editor,
        ("window.focus", me),
        ("keyboard.key_down", {"key": "shift", "window": me}),
        ("keyboard.key_up", {"key": "shift"}),
        ("mouse.move", {"x": x, "y": y, "window": me}),
        ("ui.click", {"selector": FILE_MENU, "method": "mouse", "window": me}),
    )
    editor.xdotool("key", "Escape")  # the File menu the click opened
    assert all("outputs" in step for step in steps), steps
    assert steps[-1]["outputs"]["clicked_by"] == "mouse", steps[-1]  # type: ignore[index]


def test_the_window_check_opens_one_x_connection(editor: Editor, tmp_path: Path) -> None:
    """Opening a connection costs more than the check itself: a step shares one."""
    from Xlib import display as xdisplay  # type: ignore[import-untyped]

    from automation.blocks.context import BlockContext
    from automation.blocks.desktop.common import Evidence
    from automation.blocks.desktop.focus import check_input_target
    from automation.blocks.desktop.windows import WindowSelector

    opened = 0
    original = xdisplay.Display.__init__

    def counting(self: object, *args: object, **kwargs: object) -> None:
        nonlocal opened
        opened += 1
        original(self, *args, **kwargs)

    ctx = BlockContext(run_id="test", node_id="node", workflow_dir=tmp_path)
    me = WindowSelector(window_id=editor.window.id)
    point = next(w.box for w in list_windows() if w.id == editor.window.id).center
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(xdisplay.Display, "__init__", counting)
        subject = check_input_target(ctx, me, Evidence(), doing="a click", point=point)
    assert opened == 1
    assert subject is not None and subject.id == editor.window.id


# -- keys without window: are held to the window the run last acted on ---------------------

SAVE_CHANGES = "^Save Changes$"


def _details(message: str) -> None:
    """A refusal names the focused window and the expected one with title, class and pid."""
    assert re.search(r"'Save Changes' \(id \d+, class mousepad/Mousepad, pid \d+", message), message
    assert re.search(r"letter.txt - Mousepad' \(id \d+, class mousepad/Mousepad, pid \d+", message)
    assert Path(message.split("(screenshot: ")[1].rstrip(")")).is_file(), message


def test_keys_without_window_refuse_a_dialog_that_took_the_focus(editor: Editor) -> None:
    """Mousepad's modal "Save Changes" comes up over the document the run was typing into:
    typing and Enter without ``window:`` fail with evidence, the dialog gets nothing; a step
    that says ``window: any`` goes ahead, and once the dialog is gone the document is the
    run's window again."""
    before = editor.document.read_text(encoding="utf-8")
    me = {"window_id": editor.window.id}
    try:
        focused, typed, closing, dialog, enter, more, still, escape, after = _run(
            editor,
            ("window.focus", me),
            ("keyboard.type", {"text": " P.S."}),
            ("keyboard.hotkey", {"keys": ["ctrl", "w"]}),  # unsaved: mousepad asks
            ("probe.window", {"title": SAVE_CHANGES}),
            ("keyboard.press", {"key": "enter"}),  # would answer the dialog: "Save"
            ("keyboard.type", {"text": "oops"}),
            ("probe.window", {"title": SAVE_CHANGES}),
            # cancels the close; the dialog goes and the document has the focus again
            # (a while after the key: said by the postcondition, as a run would)
            (
                "keyboard.press",
                {
                    "key": "escape",
                    "window": "any",
                    "expect": {"window": {"title": "letter", "state": "active"}},
                },
            ),
            ("keyboard.type", {"text": "!"}),  # the dialog went: back to the document
        )
    finally:
        if editor.dialog() is not None or list_windows(SAVE_CHANGES, include_hidden=False):
            editor.xdotool("key", "Escape")
    assert all("outputs" in line for line in (focused, typed, closing, dialog)), (typed, closing)
    message = _error(enter)
    assert re.search(r"modal dialog 'Save Changes' .* has the focus, not '.*letter", message)
    assert "pressing enter refused" in message and "window: any" in message, message
    _details(message)
    _details(_error(more))
    assert still["outputs"]["ids"] == dialog["outputs"]["ids"], still  # type: ignore[index]
    assert "outputs" in escape, escape
    assert "outputs" in after, after
    assert editor.document.read_text(encoding="utf-8") == before  # nothing was saved


def test_keys_follow_a_dialog_the_run_waited_for(editor: Editor) -> None:
    """Typing into the Save As dialog the run opened is fine once the run says it expects it:
    through the postcondition of the step that opens it, or a window.wait."""
    try:
        by_expect = _run(
            editor,
            ("window.focus", {"window_id": editor.window.id}),
            ("keyboard.hotkey", {"keys": ["ctrl", "shift", "s"],
                                 "expect": {"window": {"title": "^Save As$"}}}),
            ("keyboard.type", {"text": "copy.txt"}),
            ("keyboard.press", {"key": "escape"}),
        )  # fmt: skip
        eventually(lambda: editor.dialog() is None, timeout=10, interval=0.05)
        by_wait = _run(
            editor,
            ("window.focus", {"window_id": editor.window.id}),
            ("keyboard.hotkey", {"keys": ["ctrl", "shift", "s"]}),
            ("window.wait", {"title": "^Save As$"}),
            ("keyboard.type", {"text": "copy.txt"}),
            ("keyboard.press", {"key": "escape"}),
        )
        unannounced = _run(
            editor,
            ("window.focus", {"window_id": editor.window.id}),
            ("keyboard.hotkey", {"keys": ["ctrl", "shift", "s"]}),
            ("probe.window", {"title": "^Save As$"}),
            ("keyboard.type", {"text": "copy.txt"}),
        )
    finally:
        if editor.dialog() is not None:
            _close(editor, editor.dialog())  # type: ignore[arg-type]
    assert all("outputs" in line for line in by_expect + by_wait), by_expect + by_wait
    assert re.search(r"modal dialog 'Save As' .* has the focus", _error(unannounced[-1]))


def test_keys_without_window_refuse_another_app_that_took_the_focus(editor: Editor) -> None:
    me = {"window_id": editor.window.id}
    intruder = ["xmessage", "-name", "intruder", "-title", "Intruder", "I took the focus"]
    spawned = None
    try:
        lines = _run(
            editor,
            ("window.focus", me),
            ("keyboard.type", {"text": "x"}),
            ("probe.spawn", {"argv": intruder, "title": "^Intruder$"}),
            ("keyboard.type", {"text": "never"}),
        )
        spawned = lines[2]["outputs"]["pid"]  # type: ignore[index]
    finally:
        if spawned is not None:
            subprocess.run(["kill", str(spawned)], check=False)
    assert "outputs" in lines[1], lines[1]
    message = _error(lines[3])
    assert re.search(
        r"'Intruder' \(id \d+, class intruder/Xmessage, pid \d+\) has the focus", message
    )
    assert "letter.txt - Mousepad' (id" in message, message


COUNT_CONNECTIONS = """
import json, sys
from pathlib import Path
from Xlib import display
from automation.blocks.desktop.input import KeyboardType
from automation.errors import DeskpilotError
from automation.testing import run_block

opened = closed = 0
init, close = display.Display.__init__, display.Display.close

def counting_init(self, *args, **kwargs):
    global opened
    opened += 1
    init(self, *args, **kwargs)

def counting_close(self):
    global closed
    closed += 1
    close(self)

display.Display.__init__, display.Display.close = counting_init, counting_close
counts = []
for inputs in json.loads(sys.argv[1]):
    opened = closed = 0
    try:
        run_block(KeyboardType, inputs, workflow_dir=Path(sys.argv[2]))
        outcome = "ok"
    except DeskpilotError as exc:
        outcome = str(exc)
    counts.append([opened, closed, outcome])
print(json.dumps(counts))
"""


def test_typing_uses_one_x_connection_and_closes_it_on_every_path(editor: Editor) -> None:
    me = {"window_id": editor.window.id}
    steps = [
        {"text": "", "window": me, "method": "keys"},  # warms the imports up
        {"text": "ok", "window": me, "method": "keys"},
        {"text": "no", "window": {"title": "^no such window$"}},  # refused before typing
    ]
    _run(editor, ("window.focus", me))
    done = subprocess.run(
        [sys.executable, "-c", COUNT_CONNECTIONS, json.dumps(steps), str(editor.folder)],
        cwd=ROOT, env={**editor.env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    _, typed, refused = json.loads(done.stdout.splitlines()[-1])
    assert typed == [1, 1, "ok"], typed
    assert refused[:2] == [1, 1] and "no window matches" in refused[2], refused


def test_a_window_postcondition_looks_through_one_x_connection(editor: Editor, tmp_path) -> None:
    """Each look of a polled ``expect: window`` opens one connection (it opened one per
    matching window more, and one for the active window)."""
    from Xlib import display as xdisplay  # type: ignore[import-untyped]

    from automation.blocks.context import BlockContext
    from automation.blocks.desktop.expect import Expect, check_expect

    opened = 0
    original = xdisplay.Display.__init__

    def counting(self: object, *args: object, **kwargs: object) -> None:
        nonlocal opened
        opened += 1
        original(self, *args, **kwargs)

    ctx = BlockContext(run_id="test", node_id="node", workflow_dir=tmp_path)
    expect = Expect.model_validate(
        {"window": {"title": "letter.txt - Mousepad$", "wm_class": "^mousepad$", "state": "active"}}
    )
    subprocess.run(
        ["xdotool", "windowactivate", "--sync", str(editor.window.id)], env=editor.env, check=True
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(xdisplay.Display, "__init__", counting)
        result = check_expect(ctx, expect)
    assert result.held, result.seen
    assert opened == 1


def test_keys_go_to_the_program_app_launch_started(editor: Editor) -> None:
    """``app.launch`` without ``window:`` makes any window of its program the expected one,
    even one without ``_NET_WM_PID`` (xmessage): the pid comes from the X server then."""
    me = {"window_id": editor.window.id}
    launched = None
    try:
        lines = _run(
            editor,
            ("window.focus", me),
            ("app.launch", {"command": ["xmessage", "-title", "Launched", "hello"]}),
            ("probe.window", {"title": "^Launched$"}),
            ("keyboard.press", {"key": "shift"}),
        )
        launched = lines[1].get("outputs", {}).get("pid")  # type: ignore[union-attr]
    finally:
        if launched is not None:
            subprocess.run(["kill", str(launched)], check=False)
    assert all("outputs" in line for line in lines), lines
